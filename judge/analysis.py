"""Run every check over a run: per-record findings plus cross-record results."""

from __future__ import annotations

from dataclasses import dataclass, field

from judge.checks import RecordContext, check_record
from judge.crosschecks import (
    PairGroup,
    ReasoningArtifact,
    find_baselines,
    find_pair_groups,
    find_reasoning_artifacts,
    pair_findings,
    throughput_findings,
)
from judge.records import RunRecord
from judge.verdict import Finding


@dataclass
class RunFindings:
    """Everything the checks found in a run."""

    by_index: dict[int, list[Finding]]
    baselines: set[int] = field(default_factory=set)
    artifacts: list[ReasoningArtifact] = field(default_factory=list)
    pair_groups: list[PairGroup] = field(default_factory=list)


def analyse_records(records: list[RunRecord]) -> RunFindings:
    """Compute the findings of every record, flags before facts."""
    baselines = find_baselines(records)
    artifacts = find_reasoning_artifacts(records)
    groups = find_pair_groups(records)
    paired = pair_findings(groups)
    throughput = throughput_findings(records)

    artifact_by_index: dict[int, ReasoningArtifact] = {}
    for artifact in artifacts:
        for index in artifact.indices:
            artifact_by_index[index] = artifact

    by_index: dict[int, list[Finding]] = {}
    for record in records:
        context = RecordContext(is_baseline=record.index in baselines)
        findings = check_record(record, context)
        artifact = artifact_by_index.get(record.index)
        if artifact is not None:
            # Reported once per model in the report, so it does not lower the
            # verdict of every record it touches.
            findings.append(
                Finding(
                    name="reasoning_artifact",
                    kind="fact",
                    evidence=f"reasoning ends in {artifact.suffix!r}: "
                    f"…{record.reasoning_content[-60:]}",
                    detail={
                        "suffix": artifact.suffix,
                        "model_count": artifact.count,
                        "model_traces": artifact.traces,
                    },
                )
            )
        findings.extend(paired.get(record.index, []))
        findings.extend(throughput.get(record.index, []))
        findings.sort(key=lambda finding: finding.kind != "flag")
        by_index[record.index] = findings
    return RunFindings(by_index, baselines, artifacts, groups)
