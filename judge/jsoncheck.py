"""JSON output checks: parse, validate against a schema subset, recognise prefixes.

The validator covers the JSON Schema keywords that AFM's tests use (type,
properties, required, items, enum, additionalProperties: false). Other
keywords are ignored rather than guessed at.
"""

from __future__ import annotations

import json
from typing import Any

_TYPE_CHECKS = {
    "object": lambda value: isinstance(value, dict),
    "array": lambda value: isinstance(value, list),
    "string": lambda value: isinstance(value, str),
    "integer": lambda value: isinstance(value, int) and not isinstance(value, bool),
    "number": lambda value: (
        isinstance(value, (int, float)) and not isinstance(value, bool)
    ),
    "boolean": lambda value: isinstance(value, bool),
    "null": lambda value: value is None,
}


def schema_errors(value: Any, schema: dict[str, Any], path: str = "$") -> list[str]:
    """Return the ways `value` breaks `schema`, each naming the JSON path."""
    errors: list[str] = []
    expected = schema.get("type")
    if isinstance(expected, str):
        expected = [expected]
    if expected:
        if not any(_TYPE_CHECKS.get(name, lambda _: True)(value) for name in expected):
            found = type(value).__name__
            return [f"{path} is {found}, expected {' or '.join(expected)}"]

    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path} is {value!r}, not one of {schema['enum']!r}")

    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        for name in schema.get("required") or []:
            if name not in value:
                errors.append(f"{path} is missing required key {name!r}")
        for name, item in value.items():
            if name in properties and isinstance(properties[name], dict):
                errors.extend(schema_errors(item, properties[name], f"{path}.{name}"))
            elif schema.get("additionalProperties") is False:
                errors.append(f"{path} has unexpected key {name!r}")

    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for position, item in enumerate(value):
            errors.extend(schema_errors(item, schema["items"], f"{path}[{position}]"))
    return errors


def is_json_prefix(text: str) -> bool:
    """Return True if `text` is the start of some valid JSON document.

    A scan of brackets, strings and literals: it accepts output that a stop
    string cut short, such as '{"name": "Ca', and rejects prose or a markdown
    fence. It does not check numbers or literals character by character.
    """
    stripped = text.strip()
    if not stripped or stripped[0] not in '{["-0123456789tfn':
        return False
    stack: list[str] = []
    in_string = False
    escaped = False
    last = len(stripped) - 1
    for position, char in enumerate(stripped):
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
            continue
        if char == '"':
            in_string = True
        elif char in "{[":
            stack.append("}" if char == "{" else "]")
        elif char in "}]":
            if not stack or stack.pop() != char:
                return False
            if not stack:
                # A complete document is a prefix only if nothing follows it.
                return position == last
        elif not (char.isspace() or char in ",:" or char.isalnum() or char in "+-."):
            return False
    return True


def json_type_of_prefix(text: str) -> str | None:
    """Return the JSON type that a (possibly partial) document starts with."""
    stripped = text.lstrip()
    if not stripped:
        return None
    first = stripped[0]
    if first == "{":
        return "object"
    if first == "[":
        return "array"
    if first == '"':
        return "string"
    return None


def parse_json(text: str) -> tuple[Any, str | None]:
    """Parse `text` as JSON; return (value, None) or (None, error message)."""
    try:
        return json.loads(text), None
    except json.JSONDecodeError as exc:
        return None, f"{exc.msg} at line {exc.lineno} column {exc.colno}"


def strip_markdown_fence(text: str) -> str | None:
    """Return the body of a ```json fenced block when `text` is only that block."""
    stripped = text.strip()
    if not stripped.startswith("```"):
        return None
    first_newline = stripped.find("\n")
    if first_newline < 0 or not stripped.endswith("```"):
        return None
    return stripped[first_newline + 1 : -3].strip()
