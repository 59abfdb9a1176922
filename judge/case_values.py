"""Parsers for the values of `key: value` lines in a case file.

Each parser takes the text after the colon and returns the Python value for
`RequestParams`, or raises `ValueError` with the reason (for example "expected a
number"). The case-file parser adds the file, line and value to that reason.

Values are checked for type and syntax only, not for range: a case may send an
out-of-range value on purpose to test how the server rejects it.

JSON values (stop, tools, response_format) follow JSON escapes, so `"\\n"` in a
stop list becomes a newline. Plain-text values (system, developer, prompts,
server flags) are taken as written: AFM's harness sends a `\\n` written in a
`system:` line as a backslash and an "n", and its run files record it that way.
"""

from __future__ import annotations

import json
import math
import re
import shlex
from pathlib import Path
from typing import Any

_INTEGER = re.compile(r"[+-]?\d+")
_TRUE_WORDS = ("true", "yes", "on", "1")
_FALSE_WORDS = ("false", "no", "off", "0")
RESPONSE_FORMAT_TYPES = ("text", "json_object", "json_schema")
# Media given as a URL is sent as is instead of being read from disk.
_URL_PREFIXES = ("http://", "https://", "data:")


def parse_int(value: str) -> int:
    if not _INTEGER.fullmatch(value):
        raise ValueError("expected a whole number such as 256")
    return int(value)


def parse_float(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ValueError("expected a number such as 0.7") from None
    if not math.isfinite(number):
        raise ValueError("expected a finite number such as 0.7")
    return number


def parse_bool(value: str) -> bool:
    lowered = value.lower()
    if lowered in _TRUE_WORDS:
        return True
    if lowered in _FALSE_WORDS:
        return False
    raise ValueError("expected true or false")


def _load_json(value: str, example: str) -> Any:
    try:
        return json.loads(value)
    except json.JSONDecodeError as error:
        raise ValueError(
            f"not valid JSON ({error.msg} at column {error.colno}). "
            f"Write it like {example}"
        ) from None


def parse_stop(value: str) -> list[str]:
    """Parse stop sequences: a JSON list, quoted JSON strings, or plain text.

    `["3.", "\\n"]` and `"\\u2022"` are JSON and decode their escapes.
    `END, DONE` is split on commas and each item is stripped, so a stop that
    contains a comma or starts or ends with a space must use the JSON form.
    """
    if value.startswith("["):
        items = _load_json(value, '["3.", "\\n"]')
    elif value.startswith('"'):
        # One or more quoted strings without brackets: "a" or "a", "b".
        items = _load_json(f"[{value}]", '"\\u2022" or ["3.", "\\n"]')
    else:
        items = [item.strip() for item in value.split(",")]
        if any(not item for item in items):
            raise ValueError(
                'empty stop sequence between commas. Use a JSON list such as [""] '
                "to send an empty string on purpose"
            )
        return items

    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise ValueError('expected a list of strings such as ["3.", "\\n"]')
    return items


def parse_response_format(value: str) -> dict[str, Any]:
    """Parse `text`, `json_object` or a JSON response_format object."""
    if not value.startswith("{"):
        word = value.lower()
        if word in ("text", "json_object"):
            return {"type": word}
        if word == "json_schema":
            raise ValueError(
                "json_schema needs a schema. Write the whole object, such as "
                '{"type": "json_schema", "json_schema": {"name": "x", "schema": {}}}'
            )
        raise ValueError("expected text, json_object or a JSON object")

    response_format = _load_json(value, '{"type": "json_object"}')
    if not isinstance(response_format, dict):
        raise ValueError('expected a JSON object such as {"type": "json_object"}')
    kind = response_format.get("type")
    if kind not in RESPONSE_FORMAT_TYPES:
        raise ValueError(
            f"unknown type {kind!r}: expected one of "
            + ", ".join(RESPONSE_FORMAT_TYPES)
        )
    if kind == "json_schema" and not isinstance(
        response_format.get("json_schema"), dict
    ):
        raise ValueError(
            'type json_schema needs a "json_schema" object with "name" and "schema"'
        )
    return response_format


def parse_tools(value: str) -> list[dict[str, Any]]:
    tools = _load_json(value, '[{"type": "function", "function": {...}}]')
    if not isinstance(tools, list) or not all(isinstance(t, dict) for t in tools):
        raise ValueError(
            "expected a JSON list of tool objects. Wrap a single tool in [ ]"
        )
    return tools


def parse_media(value: str, base_dir: Path) -> list[str]:
    """Split comma-separated media paths and resolve them against `base_dir`.

    The files are not opened here, so a dry run works without them.
    """
    items = [item.strip() for item in value.split(",")]
    if any(not item for item in items):
        raise ValueError("empty path between commas")

    resolved: list[str] = []
    for item in items:
        if item.startswith(_URL_PREFIXES):
            resolved.append(item)
        else:
            resolved.append(str((base_dir / item).resolve()))
    return resolved


def check_server_flags(value: str) -> str:
    """Check that server flags split like a shell command line, and return them."""
    try:
        shlex.split(value)
    except ValueError as error:
        raise ValueError(
            f"cannot split into arguments ({error}). Close the quote"
        ) from None
    return value
