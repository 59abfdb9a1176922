"""Turn a planned request and its outcome into a results line in AFM's format.

Keys come in the order AFM's harness writes them, followed by the fields that
afm-judge adds. As in AFM's files, an OK record has no `error` key and a FAIL
record has no response fields.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from judge.chat_response import ChatOutcome
from judge.plan import PlannedRequest, RequestParams

# AFM's content_preview: the first 300 characters of the content (or of the
# reasoning when the content is empty) with newlines turned into spaces.
PREVIEW_CHARS = 300

# Optional request parameters, written only when the case file sets them.
OPTIONAL_PARAMS = (
    "stop",
    "seed",
    "top_p",
    "top_k",
    "min_p",
    "presence_penalty",
    "frequency_penalty",
    "repetition_penalty",
    "max_completion_tokens",
    "logprobs",
    "top_logprobs",
    "response_format",
    "media",
    "developer",
    "tools",
)


@dataclass
class RecordContext:
    """Facts about how a request was run that are the same for its variant."""

    load_time_s: float
    stream: bool
    server_log: str | None = None
    not_applied: list[str] = field(default_factory=list)


def _identity_fields(planned: PlannedRequest) -> dict[str, Any]:
    return {
        "model": planned.variant.record_model,
        "label": planned.variant.label,
        "prompt": planned.prompt,
    }


def _setting_fields(planned: PlannedRequest) -> dict[str, Any]:
    params = planned.variant.params
    return {
        "temperature": params.temperature,
        "max_tokens": params.max_tokens,
        "system_prompt": params.system or "",
        "afm_args": planned.variant.afm_args,
    }


def _optional_params(params: RequestParams) -> dict[str, Any]:
    written: dict[str, Any] = {}
    for name in OPTIONAL_PARAMS:
        value = getattr(params, name)
        if value is None:
            continue
        if name == "response_format" and set(value) == {"type"}:
            # AFM writes the case file's short form, e.g. "json_object".
            value = value["type"]
        written[name] = value
    return written


def json_requested(planned: PlannedRequest) -> bool:
    """Return True when the request or the server flags ask for JSON output."""
    response_format = planned.variant.params.response_format or {}
    if response_format.get("type") in ("json_object", "json_schema"):
        return True
    return "--guided-json" in planned.variant.afm_args


def _added_fields(planned: PlannedRequest, context: RecordContext) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "is_baseline": planned.is_baseline,
        "record_id": planned.record_id,
        "variant_intent": planned.variant.intent,
        "stream": context.stream,
        "server_log": context.server_log,
    }
    if context.not_applied:
        fields["afm_args_not_applied"] = context.not_applied
    return fields


def ok_record(
    planned: PlannedRequest, outcome: ChatOutcome, context: RecordContext
) -> dict[str, Any]:
    """Return the record of a request that got a response."""
    tokens_per_sec = None
    if outcome.completion_tokens and outcome.gen_time_s > 0:
        tokens_per_sec = round(outcome.completion_tokens / outcome.gen_time_s, 2)
    preview_source = outcome.content or outcome.reasoning_content
    record: dict[str, Any] = {
        **_identity_fields(planned),
        "status": "OK",
        "load_time_s": round(context.load_time_s, 2),
        "gen_time_s": round(outcome.gen_time_s, 3),
        "prompt_tokens": outcome.prompt_tokens,
        "completion_tokens": outcome.completion_tokens,
        "total_tokens": outcome.total_tokens,
        "tokens_per_sec": tokens_per_sec,
        **_setting_fields(planned),
        "content_preview": preview_source.replace("\n", " ")[:PREVIEW_CHARS],
        "content": outcome.content,
        "reasoning_content": outcome.reasoning_content,
        "finish_reason": outcome.finish_reason,
        "logprobs_count": outcome.logprobs_count,
        "system_fingerprint": outcome.system_fingerprint,
        **_optional_params(planned.variant.params),
    }
    if json_requested(planned):
        record["is_valid_json"] = is_valid_json(outcome.content)
    record.update(_added_fields(planned, context))
    record["ttft_s"] = None if outcome.ttft_s is None else round(outcome.ttft_s, 3)
    record["usage_source"] = outcome.usage_source
    if outcome.tool_calls:
        record["tool_calls"] = outcome.tool_calls
    return record


def fail_record(
    planned: PlannedRequest, error: str, context: RecordContext
) -> dict[str, Any]:
    """Return the record of a request that got no usable response."""
    record: dict[str, Any] = {
        **_identity_fields(planned),
        "status": "FAIL",
        "error": error,
        "load_time_s": round(context.load_time_s, 2),
        **_setting_fields(planned),
        **_optional_params(planned.variant.params),
    }
    record.update(_added_fields(planned, context))
    return record


def is_valid_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True
