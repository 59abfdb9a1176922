"""Deterministic checks on one record: named flags with evidence.

Each check reads only the record and one run-level fact: whether the prompt
is a baseline. Checks that compare records live in crosschecks.py.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from judge.afm_args import flag_values, has_flag, server_stop_strings
from judge.errors import classify_error
from judge.jsoncheck import (
    is_json_prefix,
    json_type_of_prefix,
    parse_json,
    schema_errors,
    strip_markdown_fence,
)
from judge.reasoning import read_tail
from judge.records import RunRecord
from judge.textstats import find_special_tokens, measure_garbling, measure_repetition
from judge.verdict import EVIDENCE_MAX_CHARS, Finding

# A response that used at least this share of its token budget ran out of
# budget, even when the server reported finish_reason "stop".
BUDGET_EXHAUSTED_SHARE = 0.95


@dataclass(frozen=True)
class RecordContext:
    """Run-level facts that per-record checks need."""

    is_baseline: bool = False


@dataclass(frozen=True)
class RequestedFormat:
    """A structured-output constraint of the request."""

    kind: str  # "json_object", "json_schema" or "guided_json"
    schema: dict[str, Any] | None


def stop_strings(record: RunRecord) -> list[str]:
    """Return the stop strings in force: the request's plus `--stop` values."""
    stops = list(record.stop or [])
    for stop in server_stop_strings(record.afm_args):
        if stop not in stops:
            stops.append(stop)
    return [stop for stop in stops if stop]


def encoded_stop_values(record: RunRecord) -> list[str]:
    """Return request stop values that look like a JSON list sent as text.

    AFM's harness once sent `stop: ["3."]` as the single string '["3."]', so
    the server waited for the literal text and the test measured nothing.
    """
    suspicious = []
    for stop in record.stop or []:
        text = stop.strip()
        if (text.startswith("[") or text.endswith("]")) and '"' in text:
            suspicious.append(stop)
        elif len(text) >= 2 and text.startswith('"') and text.endswith('"'):
            suspicious.append(stop)
    return suspicious


def requested_format(record: RunRecord) -> RequestedFormat | None:
    """Return the JSON constraint of the request, if it asked for one."""
    guided = flag_values(record.afm_args, "--guided-json")
    if guided:
        schema, _ = parse_json(guided[-1])
        return RequestedFormat(
            "guided_json", schema if isinstance(schema, dict) else None
        )

    value: Any = record.response_format
    if isinstance(value, str):
        text = value.strip()
        if text in ("json_object", "json_schema"):
            return RequestedFormat(text, None)
        parsed, _ = parse_json(text) if text.startswith("{") else (None, None)
        value = parsed
    if not isinstance(value, dict):
        return None
    kind = value.get("type")
    if kind == "json_object":
        return RequestedFormat("json_object", {"type": "object"})
    if kind == "json_schema":
        wrapper = value.get("json_schema") or {}
        schema = wrapper.get("schema") if isinstance(wrapper, dict) else None
        return RequestedFormat(
            "json_schema", schema if isinstance(schema, dict) else None
        )
    return None


def _failure(record: RunRecord) -> Finding:
    error_type, detail = classify_error(record.error)
    return Finding(
        name="request_failed",
        evidence=record.error or "status FAIL with no error text",
        detail={"error_type": error_type.name, "error_detail": detail},
    )


def _stop_leak(record: RunRecord, stops: list[str]) -> Finding | None:
    for stop in stops:
        position = record.content.find(stop)
        if position < 0:
            continue
        source = "request" if stop in (record.stop or []) else "--stop"
        start = max(0, position - 40)
        return Finding(
            name="stop_leak",
            evidence=record.content[start : position + len(stop) + 40],
            detail={"stop": stop, "source": source, "position": position},
        )
    return None


def _format_violation(
    constraint: RequestedFormat, problem: str, content: str
) -> Finding:
    return Finding(
        name="format_violation",
        evidence=f"{problem}: {content}",
        detail={"format": constraint.kind, "problem": problem},
    )


def _format_findings(record: RunRecord, stops: list[str]) -> list[Finding]:
    constraint = requested_format(record)
    if constraint is None or not record.content.strip():
        return []

    content = record.content.strip()
    value, error = parse_json(content)
    if error is None:
        problems = schema_errors(value, constraint.schema) if constraint.schema else []
        if not problems:
            return []
        return [_format_violation(constraint, problems[0], content)]

    # Output cut by a stop string may be an unfinished but well-formed document.
    stopped = record.finish_reason == "stop" and bool(stops)
    expected_type = (constraint.schema or {}).get("type")
    if stopped and is_json_prefix(content):
        started_as = json_type_of_prefix(content)
        if not expected_type or started_as in (None, expected_type):
            return []
        problem = (
            f"output starts a JSON {started_as}, the schema asks for {expected_type}"
        )
        return [_format_violation(constraint, problem, content)]

    fenced = strip_markdown_fence(content)
    if fenced is not None and parse_json(fenced)[1] is None:
        problem = "valid JSON inside a markdown code fence"
    else:
        problem = f"not valid JSON ({error})"
    return [_format_violation(constraint, problem, content)]


def _empty_answer_findings(record: RunRecord, stops: list[str]) -> list[Finding]:
    """Explain an OK record whose content is empty."""
    if record.finish_reason == "tool_calls" or record.tool_calls:
        count = len(record.tool_calls or [])
        return [
            Finding(
                name="tool_call_response",
                kind="fact",
                evidence=f"answered with tool calls ({count or 'not recorded'}) "
                "instead of text",
            )
        ]
    reasoning = record.reasoning_content
    if not reasoning.strip():
        return [
            Finding(
                name="empty_output",
                evidence=f"status OK, finish_reason {record.finish_reason!r}, "
                f"{record.completion_tokens} completion tokens, no content",
            )
        ]

    findings: list[Finding] = []
    budget = record.token_budget
    used = record.completion_tokens
    exhausted = record.finish_reason == "length" or (
        budget is not None
        and used is not None
        and used >= BUDGET_EXHAUSTED_SHARE * budget
    )
    if exhausted:
        findings.append(
            Finding(
                name="thinking_budget_exhausted",
                evidence=f"reasoning used {used} of {budget} tokens and no answer "
                f"followed: …{reasoning[-60:]}",
                detail={"completion_tokens": used, "max_tokens": budget},
            )
        )
        return findings

    if record.finish_reason == "stop" and stops:
        reading = read_tail(reasoning, stops)
        name = "stop_at_answer_start" if reading.finished else "stop_in_reasoning"
        findings.append(
            Finding(
                name=name,
                evidence=tail_quote(reasoning),
                detail={
                    "explanation": reading.explanation,
                    "confidence": reading.confidence,
                    "stops": json.dumps(stops, ensure_ascii=False),
                },
            )
        )
        return findings

    findings.append(
        Finding(
            name="reasoning_only",
            evidence=f"no content; reasoning ({len(reasoning)} chars) ends "
            f"…{reasoning[-60:]}",
            detail={"finish_reason": record.finish_reason},
        )
    )
    return findings


def tail_quote(text: str, length: int = EVIDENCE_MAX_CHARS - 1) -> str:
    """Return the end of `text` as a quote that fits a verdict's evidence."""
    flat = " ".join(text.split())
    return flat if len(flat) <= length else "…" + flat[-(length - 1) :]


def _token_accounting(record: RunRecord) -> list[Finding]:
    budget = record.token_budget
    used = record.completion_tokens
    if budget is None or used is None or used < budget:
        return []
    findings = []
    if record.finish_reason == "stop":
        findings.append(
            Finding(
                name="finish_reason_wrong",
                evidence=f"completion_tokens {used} reached max_tokens {budget} but "
                "finish_reason is 'stop' (expected 'length')",
                detail={"completion_tokens": used, "max_tokens": budget},
            )
        )
    return findings


def check_record(record: RunRecord, context: RecordContext) -> list[Finding]:
    """Run every per-record check and return the findings, flags first."""
    if record.failed:
        return [_failure(record)]

    findings: list[Finding] = []
    stops = stop_strings(record)
    content = record.content

    encoded = encoded_stop_values(record)
    if encoded:
        findings.append(
            Finding(
                name="stop_value_encoded",
                evidence=f"stop sent as the literal text {encoded[0]!r}",
                detail={"values": json.dumps(encoded, ensure_ascii=False)},
            )
        )

    findings.extend(_token_accounting(record))

    if not content.strip():
        findings.extend(_empty_answer_findings(record, stops))
    else:
        leak = _stop_leak(record, stops)
        if leak:
            findings.append(leak)
        if context.is_baseline:
            if requested_format(record):
                findings.append(
                    Finding(
                        name="baseline_free_text",
                        kind="fact",
                        evidence="baseline prompt: format constraint not checked",
                    )
                )
        else:
            findings.extend(_format_findings(record, stops))

        budget = record.token_budget
        used = record.completion_tokens
        if record.finish_reason == "length" or (
            budget is not None and used is not None and used >= budget
        ):
            findings.append(
                Finding(
                    name="length_cutoff",
                    evidence=f"answer cut at {used} of {budget} tokens: …{content[-60:]}",
                    detail={"completion_tokens": used, "max_tokens": budget},
                )
            )

        if has_flag(record.afm_args, "--raw"):
            tokens = []
        else:
            tokens = find_special_tokens(content)
        if tokens:
            position = content.find(tokens[0])
            findings.append(
                Finding(
                    name="special_token_leak",
                    evidence=content[max(0, position - 20) : position + 80],
                    detail={"tokens": " ".join(tokens[:5])},
                )
            )

        garbling = measure_garbling(content)
        if garbling:
            findings.append(
                Finding(
                    name="garbled_output",
                    evidence=content,
                    detail={
                        "mixed_script_words": garbling.mixed_share,
                        "scripts": garbling.scripts,
                    },
                )
            )

    for field_name in ("content", "reasoning_content"):
        repetition = measure_repetition(getattr(record, field_name))
        if repetition:
            findings.append(
                Finding(
                    name="repetition_loop",
                    evidence=f"{field_name}: …{repetition.sample}",
                    detail={"field": field_name, "compression_ratio": repetition.ratio},
                )
            )
            break

    return findings
