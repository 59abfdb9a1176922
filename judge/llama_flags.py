"""Translate AFM server flags (`afm:` lines) for llama-cpp-python's server.

llama-cpp-python's server takes no per-variant flags that match AFM's, so the
flags with a request-level equivalent become request defaults, and every other
flag is reported as not applied. The mapping, checked against AFM's case files
and llama-cpp-python 0.3 (`llama_cpp/server/types.py`):

| AFM flag               | sent as                                            |
|------------------------|----------------------------------------------------|
| --stop "a,b"           | added to the request's `stop` (duplicates dropped) |
| --seed N               | `seed`, unless the request sets it                 |
| --temperature X        | `temperature`, unless the request sets it          |
| --top-p X              | `top_p`, unless the request sets it                |
| --top-k N              | `top_k`, unless the request sets it                |
| --min-p X              | `min_p`, unless the request sets it                |
| --repetition-penalty X | `repetition_penalty`, unless the request sets it   |
| --presence-penalty X   | `presence_penalty`, unless the request sets it     |
| --guided-json SCHEMA   | `response_format` {"type": "json_object",          |
|                        | "schema": SCHEMA}, unless the request sets one     |

Everything else (--no-streaming, --verbose, --raw, --kv-bits, --max-kv-size,
--prefill-step-size, --enable-prefix-caching, --max-logprobs,
--tool-call-parser, --vlm, ...) changes AFM's server, not the request, and has
no llama-cpp-python equivalent that can be set per variant.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from typing import Any

# AFM flags with a request-level equivalent, and how their value is read.
_REQUEST_FLAGS: dict[str, tuple[str, type]] = {
    "--seed": ("seed", int),
    "--temperature": ("temperature", float),
    "--top-p": ("top_p", float),
    "--top-k": ("top_k", int),
    "--min-p": ("min_p", float),
    "--repetition-penalty": ("repetition_penalty", float),
    "--presence-penalty": ("presence_penalty", float),
}
# AFM flags known to take no value, so the next token is not read as one.
_SWITCHES = {
    "--no-streaming",
    "--verbose",
    "--very-verbose",
    "--raw",
    "--enable-prefix-caching",
    "--vlm",
}


@dataclass
class FlagTranslation:
    """Request defaults taken from server flags, and the flags left out."""

    # Request parameter name -> value, used when the request does not set it.
    defaults: dict[str, Any] = field(default_factory=dict)
    # Stop strings added to the request's own.
    stop: list[str] = field(default_factory=list)
    # Flags (with their values) that were not applied, as written.
    not_applied: list[str] = field(default_factory=list)


def split_flags(afm_args: str) -> list[tuple[str, str | None]]:
    """Split a flag string into (flag, value) pairs; value None for switches.

    `--flag=value` and `--flag value` both work. A token that does not start
    with "-" after a switch is kept as its own pair with flag "".
    """
    tokens = shlex.split(afm_args)
    pairs: list[tuple[str, str | None]] = []
    position = 0
    while position < len(tokens):
        token = tokens[position]
        if not token.startswith("-"):
            pairs.append(("", token))
            position += 1
            continue
        if "=" in token:
            name, value = token.split("=", 1)
            pairs.append((name, value))
            position += 1
            continue
        following = tokens[position + 1] if position + 1 < len(tokens) else None
        takes_value = token not in _SWITCHES and following is not None
        if takes_value and following.startswith("--"):
            takes_value = False
        if takes_value:
            pairs.append((token, following))
            position += 2
        else:
            pairs.append((token, None))
            position += 1
    return pairs


def translate_for_llama_cpp(afm_args: str) -> FlagTranslation:
    """Map AFM server flags to llama-cpp-python request parameters."""
    translation = FlagTranslation()
    for name, value in split_flags(afm_args):
        written = name if value is None else f"{name} {shlex.quote(value)}".strip()
        if name == "--stop" and value is not None:
            translation.stop.extend(part for part in value.split(",") if part)
        elif name == "--guided-json" and value is not None:
            schema = _parse_json(value)
            if schema is None:
                translation.not_applied.append(written)
                continue
            translation.defaults["response_format"] = {
                "type": "json_object",
                "schema": schema,
            }
        elif name in _REQUEST_FLAGS and value is not None:
            param, convert = _REQUEST_FLAGS[name]
            try:
                translation.defaults[param] = convert(value)
            except ValueError:
                translation.not_applied.append(written)
        else:
            translation.not_applied.append(written)
    return translation


def _parse_json(value: str) -> Any:
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return None
