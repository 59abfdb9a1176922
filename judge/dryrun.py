"""Dry-run output: the planned requests as readable text or as JSON lines."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from judge.plan import PlannedRequest, Variant

# Maximum length of a prompt or parameter value in the text listing, in characters.
# The JSON lines always carry the full values.
_SHOWN_TEXT_LENGTH = 100


def planned_request_to_dict(request: PlannedRequest) -> dict[str, Any]:
    """Describe one planned request with the fields of the JSON-lines listing."""
    variant = request.variant
    return {
        "index": request.index,
        "record_id": request.record_id,
        "model": variant.model,
        "label": variant.label,
        "prompt": request.prompt,
        "is_baseline": request.is_baseline,
        "params": variant.params.model_dump(exclude_none=True),
        "afm_args": variant.afm_args,
        "intent": variant.intent,
        "source": variant.source,
    }


def render_plan_json_lines(planned: Sequence[PlannedRequest]) -> str:
    """Render one JSON object per planned request, one per line."""
    lines = [orjson.dumps(planned_request_to_dict(r)).decode() for r in planned]
    return "".join(line + "\n" for line in lines)


def _shorten(text: str) -> str:
    if len(text) <= _SHOWN_TEXT_LENGTH:
        return text
    return text[: _SHOWN_TEXT_LENGTH - 1] + "…"


def _format_params(variant: Variant) -> str:
    # JSON-encode each value so that strings show their quotes and a "\n"
    # stop sequence shows as an escape instead of breaking the line.
    values = variant.params.model_dump(exclude_none=True)
    pairs = [f"{key}={orjson.dumps(value).decode()}" for key, value in values.items()]
    return _shorten(" ".join(pairs)) if pairs else "(server defaults)"


def render_plan_text(
    planned: Sequence[PlannedRequest], skipped: Sequence[str] = ()
) -> str:
    """Render the planned requests grouped by variant, for a person to read.

    `skipped` lists the titles of sections marked skip, shown at the end.
    """
    variants = list(dict.fromkeys(id(r.variant) for r in planned))
    lines = [f"{len(planned)} requests in {len(variants)} variants", ""]

    current: Variant | None = None
    for request in planned:
        variant = request.variant
        if variant is not current:
            if current is not None:
                lines.append("")
            current = variant
            lines.append(f"{variant.record_model}  ({variant.source})")
            if variant.intent:
                lines.append(f"  intent: {_shorten(variant.intent)}")
            lines.append(f"  params: {_format_params(variant)}")
            if variant.afm_args:
                lines.append(f"  server flags: {_shorten(variant.afm_args)}")
        marker = "baseline" if request.is_baseline else "        "
        lines.append(f"  #{request.index:<4} {marker} {_shorten(request.prompt)}")

    if skipped:
        lines.append("")
        lines.append("skipped: " + ", ".join(skipped))
    return "\n".join(lines) + "\n"
