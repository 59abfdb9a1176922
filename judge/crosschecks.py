"""Checks across records: baselines, reasoning artifacts, pairs, throughput."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from judge.afm_args import flag_values, partition_args
from judge.reasoning import glued_suffix
from judge.records import RunRecord
from judge.verdict import Finding


def find_baselines(records: list[RunRecord]) -> set[int]:
    """Return the indices of records whose prompt is a baseline (`[all]`) prompt.

    The `is_baseline` field decides when present. Older files lack it, so there
    a prompt that every variant of a model shares is a baseline. The model
    needs at least three variants, because two variants that share a prompt
    are more likely a pair test.
    """
    baselines = {r.index for r in records if r.is_baseline}
    if any(r.is_baseline is not None for r in records):
        return baselines

    labels_by_model: dict[str, set[str]] = defaultdict(set)
    labels_by_prompt: dict[tuple[str, str], set[str]] = defaultdict(set)
    for record in records:
        if record.prompt is None:
            continue
        labels_by_model[record.base_model].add(record.label)
        labels_by_prompt[(record.base_model, record.prompt)].add(record.label)
    for record in records:
        if record.prompt is None:
            continue
        all_labels = labels_by_model[record.base_model]
        shared = labels_by_prompt[(record.base_model, record.prompt)]
        if len(all_labels) >= 3 and shared == all_labels:
            baselines.add(record.index)
    return baselines


# Reasoning artifacts: a suffix counts when it ends at least this many traces
# of one model and this share of them. A glued lowercase run right after the
# final punctuation is rare in real text, so a handful of repeats is a signal.
ARTIFACT_MIN_COUNT = 3
ARTIFACT_MIN_SHARE = 0.02


@dataclass(frozen=True)
class ReasoningArtifact:
    """A junk suffix glued to many reasoning traces of one model."""

    model: str
    suffix: str
    count: int
    traces: int
    indices: tuple[int, ...]


def find_reasoning_artifacts(records: list[RunRecord]) -> list[ReasoningArtifact]:
    """Find suffixes that end many reasoning traces of the same model."""
    traces: dict[str, int] = Counter()
    by_suffix: dict[tuple[str, str], list[int]] = defaultdict(list)
    for record in records:
        if not record.reasoning_content.strip():
            continue
        traces[record.base_model] += 1
        suffix = glued_suffix(record.reasoning_content)
        if suffix:
            by_suffix[(record.base_model, suffix)].append(record.index)

    artifacts = []
    for (model, suffix), indices in sorted(by_suffix.items()):
        total = traces[model]
        if (
            len(indices) >= ARTIFACT_MIN_COUNT
            and len(indices) / total >= ARTIFACT_MIN_SHARE
        ):
            artifacts.append(
                ReasoningArtifact(model, suffix, len(indices), total, tuple(indices))
            )
    return artifacts


@dataclass
class PairGroup:
    """Records that should give identical output: same request, deterministic."""

    kind: str  # "stream" (differ only in streaming) or "seed"
    indices: list[int]
    labels: list[str]
    consistent: bool
    basis: str  # "seed 42" or "temperature 0"
    # Indices whose output differs from the group's most common output.
    outliers: list[int] = field(default_factory=list)
    first_difference: int | None = None
    # Output-neutral settings in which the members differ, such as
    # "--enable-prefix-caching" or "stream".
    differences: list[str] = field(default_factory=list)


def _seed(record: RunRecord) -> str | None:
    if record.seed is not None:
        return str(record.seed)
    values = flag_values(record.afm_args, "--seed")
    return values[-1] if values else None


def _streams(record: RunRecord) -> bool:
    if record.stream is not None:
        return record.stream
    return "--no-streaming" not in partition_args(record.afm_args)[1]


def _request_key(record: RunRecord) -> tuple:
    relevant, _ = partition_args(record.afm_args)
    return (
        record.base_model,
        record.prompt,
        record.system_prompt,
        record.temperature,
        record.token_budget,
        tuple(record.stop or ()),
        _seed(record),
        record.top_p,
        record.top_k,
        record.min_p,
        record.presence_penalty,
        record.frequency_penalty,
        record.repetition_penalty,
        str(record.response_format),
        str(record.media),
        relevant,
    )


def _differences(members: list[RunRecord]) -> list[str]:
    """Return the output-neutral settings that not every member shares."""
    settings = []
    for member in members:
        flags = set(partition_args(member.afm_args)[1]) - {"--no-streaming"}
        flags.add("streaming" if _streams(member) else "non-streaming")
        settings.append(flags)
    shared = set.intersection(*settings)
    return sorted(set.union(*settings) - shared)


def _first_difference(first: str, second: str) -> int:
    for position, (a, b) in enumerate(zip(first, second)):
        if a != b:
            return position
    return min(len(first), len(second))


def find_pair_groups(records: Iterable[RunRecord]) -> list[PairGroup]:
    """Group deterministic records with identical requests and compare outputs.

    A request is deterministic when temperature is 0 or a seed is set. Flags
    that cannot change the output (streaming, logging, prefix caching, prefill
    step) are left out of the comparison, so variants that differ only in them
    land in one group.
    NOTE: AFM's results do not record `tools`, so two variants that differ only
    in their tools look identical here.
    """
    groups: dict[tuple, list[RunRecord]] = defaultdict(list)
    for record in records:
        if record.failed or record.prompt is None:
            continue
        if not (record.temperature == 0 or _seed(record) is not None):
            continue
        groups[_request_key(record)].append(record)

    result = []
    for members in groups.values():
        if len({member.label for member in members}) < 2:
            continue
        outputs = [(m.content, m.reasoning_content) for m in members]
        common, common_count = Counter(outputs).most_common(1)[0]
        outliers = [m.index for m, out in zip(members, outputs) if out != common]
        if outliers and common_count == 1:
            # No output is shared by two records, so none is the reference.
            outliers = [m.index for m in members]
        stream_modes = {_streams(m) for m in members}
        neutral = {partition_args(m.afm_args)[1] for m in members}
        only_streaming = (
            len(stream_modes) == 2
            and len(members) == 2
            and all(set(n) <= {"--no-streaming"} for n in neutral)
        )
        seed = _seed(members[0])
        first_difference = None
        if outliers:
            odd = next(m for m, out in zip(members, outputs) if out != common)
            first_difference = _first_difference(
                common[0] + common[1], odd.content + odd.reasoning_content
            )
        result.append(
            PairGroup(
                kind="stream" if only_streaming else "seed",
                indices=[m.index for m in members],
                labels=[m.label for m in members],
                consistent=not outliers,
                basis=f"seed {seed}" if seed is not None else "temperature 0",
                outliers=outliers,
                first_difference=first_difference,
                differences=_differences(members),
            )
        )
    result.sort(key=lambda group: group.indices[0])
    return result


def pair_findings(groups: list[PairGroup]) -> dict[int, list[Finding]]:
    """Turn pair groups into per-record mismatch flags and consistency facts."""
    findings: dict[int, list[Finding]] = defaultdict(list)
    for group in groups:
        members = list(zip(group.indices, group.labels))

        def others(index: int) -> str:
            return ", ".join(f"#{i} {label}" for i, label in members if i != index)

        if group.consistent:
            for index in group.indices:
                findings[index].append(
                    Finding(
                        name=f"{group.kind}_consistent",
                        kind="fact",
                        evidence=f"same output as {others(index)} ({group.basis})",
                        detail={"group": ",".join(map(str, group.indices))},
                    )
                )
            continue
        for index in group.outliers:
            findings[index].append(
                Finding(
                    name=f"{group.kind}_mismatch",
                    evidence=f"output differs from {others(index)} from character "
                    f"{group.first_difference} on ({group.basis})",
                    detail={
                        "group": ",".join(map(str, group.indices)),
                        "first_difference": group.first_difference,
                    },
                )
            )
    return findings


# Throughput: a record is an outlier when its tok/s is under half or over twice
# the median of its model. Short generations carry the fixed per-request cost
# (prompt processing, first-token latency), so below SHORT_GENERATION_TOKENS
# a low rate is reported as overhead, not as a slow model.
THROUGHPUT_FACTOR = 2.0
SHORT_GENERATION_TOKENS = 64
THROUGHPUT_MIN_RECORDS = 5


def throughput_findings(records: list[RunRecord]) -> dict[int, list[Finding]]:
    """Flag records whose tok/s is far from their model's median."""
    by_model: dict[str, list[RunRecord]] = defaultdict(list)
    for record in records:
        if not record.failed and record.tokens_per_sec and record.completion_tokens:
            by_model[record.base_model].append(record)

    findings: dict[int, list[Finding]] = defaultdict(list)
    for model_records in by_model.values():
        long_runs = [
            r for r in model_records if r.completion_tokens >= SHORT_GENERATION_TOKENS
        ]
        if len(long_runs) < THROUGHPUT_MIN_RECORDS:
            continue
        median = statistics.median(r.tokens_per_sec for r in long_runs)
        for record in model_records:
            rate = record.tokens_per_sec
            slow = rate < median / THROUGHPUT_FACTOR
            fast = rate > median * THROUGHPUT_FACTOR
            if not (slow or fast):
                continue
            detail = {"tokens_per_sec": rate, "model_median": round(median, 2)}
            if record.completion_tokens < SHORT_GENERATION_TOKENS and slow:
                findings[record.index].append(
                    Finding(
                        name="overhead_dominated",
                        kind="fact",
                        evidence=f"{record.completion_tokens} tokens at {rate} tok/s "
                        f"(model median {median:.1f}): per-request overhead dominates",
                        detail=detail,
                    )
                )
                continue
            bound = "under half" if slow else "over twice"
            findings[record.index].append(
                Finding(
                    name="throughput_outlier",
                    evidence=f"{rate} tok/s is {bound} the model's median of "
                    f"{median:.1f} tok/s over {len(long_runs)} records",
                    detail=detail,
                )
            )
    return findings
