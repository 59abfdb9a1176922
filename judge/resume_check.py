"""Check that `collect --resume` continues a file with the plan it was started with.

A record id hashes only the model, label, prompt and position of a request,
so ids alone would let a resumed run append the records of another case file,
or keep records made with other parameters. collect therefore writes a hash
of the whole plan into the `_meta` line and resumes only when it is equal.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from judge.collect_record import OPTIONAL_PARAMS, RecordContext, fail_record
from judge.plan import PlannedRequest
from judge.run_writer import ExistingRun, OutputFileError

# Record fields that a request's settings decide, compared to explain a
# mismatch. The hash covers the same settings.
_COMPARED_FIELDS = (
    "model",
    "label",
    "prompt",
    "temperature",
    "max_tokens",
    "system_prompt",
    "afm_args",
    "stream",
    *OPTIONAL_PARAMS,
)
# Differences named in the error, at most.
_MAX_DIFFERENCES = 3
# Characters of a value shown in the error.
_VALUE_CHARS = 60


def plan_sha256(planned: Sequence[PlannedRequest]) -> str:
    """Return the SHA-256 of every planned request's settings, in sending order.

    Each request contributes its model, label, prompt, merged parameters,
    server flags and whether it is streamed. A section that leaves `stream`
    unset and one that sets it to false hash the same, because neither is
    streamed.
    """
    requests = []
    for request in planned:
        variant = request.variant
        requests.append(
            {
                "model": variant.model,
                "label": variant.label,
                "prompt": request.prompt,
                "params": variant.params.model_dump(
                    exclude_none=True, exclude={"stream"}
                ),
                "afm_args": variant.afm_args,
                "stream": bool(variant.params.stream),
            }
        )
    encoded = orjson.dumps(requests, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(encoded).hexdigest()


def plan_meta(cases: Path, planned: Sequence[PlannedRequest]) -> dict[str, Any]:
    """Return the `_meta` fields that identify the plan of a run."""
    return {
        "cases_file": str(cases),
        "planned_requests": len(planned),
        "plan_sha256": plan_sha256(planned),
    }


def check_same_plan(
    path: Path,
    existing: ExistingRun,
    expected_meta: dict[str, Any],
    planned: Sequence[PlannedRequest],
) -> None:
    """Raise OutputFileError unless `existing` was collected with this plan.

    `expected_meta` contains the fields of plan_meta for this run. The error
    names what differs, as far as the file's `_meta` line and records show it.
    """
    fix = "pass --force to start the file over, or -o another file to keep it"
    stored = (existing.meta or {}).get("plan_sha256")
    if not stored:
        where = (
            "has no _meta line"
            if existing.meta is None
            else ("has no plan_sha256 in its _meta line")
        )
        raise OutputFileError(
            f"cannot resume {path}: it {where}, so collect cannot check that it "
            f"was collected with the same case file and settings; {fix}"
        )
    if stored == expected_meta["plan_sha256"]:
        return
    differences = describe_differences(existing, expected_meta, planned)
    raise OutputFileError(
        f"cannot resume {path}: it was collected with another plan "
        f"({'; '.join(differences)}); {fix}"
    )


def describe_differences(
    existing: ExistingRun,
    expected_meta: dict[str, Any],
    planned: Sequence[PlannedRequest],
) -> list[str]:
    """Name how the file's plan differs from this run's, at most a few ways."""
    meta = existing.meta or {}
    differences: list[str] = []
    stored_cases = meta.get("cases_file")
    if stored_cases and stored_cases != expected_meta["cases_file"]:
        differences.append(
            f"it was collected from {stored_cases}, this run reads "
            f"{expected_meta['cases_file']}"
        )
    stored_count = meta.get("planned_requests")
    if isinstance(stored_count, int) and stored_count != len(planned):
        differences.append(f"it plans {stored_count} requests, this run {len(planned)}")

    by_id = {request.record_id: request for request in planned}
    foreign = [
        record for record in existing.records if record["record_id"] not in by_id
    ]
    if foreign:
        first = foreign[0]
        differences.append(
            f"{len(foreign)} of its {len(existing.records)} records are not in this "
            f"run's plan, the first being {_show(first.get('model'))} "
            f"with the prompt {_show(first.get('prompt'))}"
        )
    for record in existing.records:
        if len(differences) >= _MAX_DIFFERENCES:
            break
        request = by_id.get(record["record_id"])
        if request is not None:
            differences.extend(_field_differences(record, request)[:1])

    if not differences:
        differences.append(
            "a request that the file does not hold yet has other settings"
        )
    return differences[:_MAX_DIFFERENCES]


def _field_differences(record: dict[str, Any], request: PlannedRequest) -> list[str]:
    stream = bool(request.variant.params.stream)
    expected = orjson.loads(
        orjson.dumps(fail_record(request, "", RecordContext(0.0, stream=stream)))
    )
    found = []
    for name in _COMPARED_FIELDS:
        if record.get(name) != expected.get(name):
            found.append(
                f"request #{request.index} ({request.variant.record_model}) has "
                f"{name} {_show(record.get(name))} in the file and "
                f"{_show(expected.get(name))} now"
            )
    return found


def _show(value: Any) -> str:
    if value is None:
        return "unset"
    text = orjson.dumps(value).decode()
    if len(text) > _VALUE_CHARS:
        text = text[: _VALUE_CHARS - 1] + "…"
    return text
