"""Compact per-record rows and aggregates that the report sections read.

compose reads grades.jsonl once to build this, keeping a few hundred bytes per
record instead of whole grades, then streams the per-test blocks in a second
pass. Memory therefore grows with the number of records, not with the size of
their text.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from judge.verdict import Grade

PERFORMANCE_FACTS = ("throughput_outlier", "overhead_dominated")


@dataclass(slots=True)
class RecordRow:
    """The fields of one graded record that the summary sections need."""

    index: int
    variant: str
    base_model: str
    prompt: str
    prompt_key: str
    is_baseline: bool
    status: str
    error_type: str | None
    error_detail: str
    error: str
    tokens_per_sec: float | None
    completion_tokens: int | None
    score: int
    category: str
    coherence: int | None
    relevance: int | None
    flags: tuple[str, ...]
    performance_flags: tuple[str, ...]
    artifact_suffix: str | None


@dataclass(slots=True)
class FlagExamples:
    """Records carrying one flag: count, variants and the first example."""

    indices: list[int] = field(default_factory=list)
    variants: dict[str, None] = field(default_factory=dict)
    first_evidence: str = ""


@dataclass
class ReportData:
    """Rows and aggregates built from one pass over the grades."""

    rows: list[RecordRow] = field(default_factory=list)
    flags: dict[str, FlagExamples] = field(default_factory=dict)
    scores_by_variant: dict[str, list[int]] = field(
        default_factory=lambda: defaultdict(list)
    )
    flags_by_variant: dict[str, Counter] = field(
        default_factory=lambda: defaultdict(Counter)
    )
    categories_by_variant: dict[str, set[str]] = field(
        default_factory=lambda: defaultdict(set)
    )
    judges: Counter = field(default_factory=Counter)

    def add(self, grade: Grade) -> None:
        record = grade.record
        verdict = grade.verdict
        variant = record.label or record.display_name or f"record {grade.index}"
        error_detail = ""
        artifact_suffix = None
        performance = []
        for finding in grade.findings:
            if finding.name == "request_failed":
                error_detail = str(finding.detail.get("error_detail", ""))
            elif finding.name == "reasoning_artifact":
                artifact_suffix = str(finding.detail.get("suffix"))
            elif finding.name in PERFORMANCE_FACTS:
                performance.append(finding.name)

        self.rows.append(
            RecordRow(
                index=grade.index,
                variant=variant,
                base_model=record.base_model or record.model,
                prompt=record.prompt,
                prompt_key=record.prompt_key,
                is_baseline=record.is_baseline,
                status=record.status,
                error_type=record.error_type,
                error_detail=error_detail,
                error=record.error,
                tokens_per_sec=record.tokens_per_sec,
                completion_tokens=record.completion_tokens,
                score=verdict.score,
                category=verdict.category,
                coherence=verdict.coherence,
                relevance=verdict.relevance,
                flags=tuple(verdict.flags),
                performance_flags=tuple(performance),
                artifact_suffix=artifact_suffix,
            )
        )

        for flag in verdict.flags:
            examples = self.flags.get(flag)
            if examples is None:
                examples = self.flags[flag] = FlagExamples()
                examples.first_evidence = next(
                    (f.evidence for f in grade.findings if f.name == flag),
                    verdict.evidence,
                )
            examples.indices.append(grade.index)
            examples.variants.setdefault(variant, None)

        self.scores_by_variant[variant].append(verdict.score)
        self.flags_by_variant[variant].update(verdict.flags)
        self.categories_by_variant[variant].add(verdict.category)
        self.judges[verdict.judge] += 1

    def row(self, index: int) -> RecordRow:
        """Return the row of a record; rows are stored in index order."""
        row = self.rows[index] if index < len(self.rows) else None
        if row is not None and row.index == index:
            return row
        return next(r for r in self.rows if r.index == index)
