"""Machine summary of a graded run: counts per category, flag and error type."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from judge.verdict import CATEGORIES, Grade

if TYPE_CHECKING:
    from judge.grade import RunInfo


class RunSummary(BaseModel):
    """Counts that grade prints with --json and writes to summary.json."""

    run_name: str
    records: int
    failed: int
    skipped_lines: int
    judges: list[str]
    mean_score: float | None
    scores: dict[str, int] = Field(default_factory=dict)
    categories: dict[str, int] = Field(default_factory=dict)
    flags: dict[str, int] = Field(default_factory=dict)
    error_types: dict[str, int] = Field(default_factory=dict)
    # Records whose judge model failed, so they keep the rules verdict.
    judge_fallbacks: int = 0
    judge_calls: int = 0
    judge_cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    estimated_cost_usd: float | None = None


class SummaryBuilder:
    """Count verdicts one grade at a time."""

    def __init__(self) -> None:
        self.records = 0
        self.failed = 0
        self.total_score = 0
        self.categories = Counter({category: 0 for category in CATEGORIES})
        self.scores: Counter[str] = Counter()
        self.flags: Counter[str] = Counter()
        self.error_types: Counter[str] = Counter()
        self.judge_fallbacks = 0

    def add(self, grade: Grade) -> None:
        self.records += 1
        self.total_score += grade.verdict.score
        self.categories[grade.verdict.category] += 1
        self.scores[str(grade.verdict.score)] += 1
        self.flags.update(grade.verdict.flags)
        if grade.record.status == "FAIL":
            self.failed += 1
        if grade.record.error_type:
            self.error_types[grade.record.error_type] += 1
        if grade.verdict.judge_error is not None:
            self.judge_fallbacks += 1

    def build(self, info: RunInfo) -> RunSummary:
        mean = round(self.total_score / self.records, 2) if self.records else None
        costs = [s.estimated_cost_usd for s in info.judge_stats]
        known = [cost for cost in costs if cost is not None]
        return RunSummary(
            run_name=info.run_name,
            records=self.records,
            failed=self.failed,
            skipped_lines=len(info.skipped_lines),
            judges=info.judges,
            mean_score=mean,
            scores=dict(sorted(self.scores.items())),
            categories=dict(self.categories),
            flags=dict(sorted(self.flags.items())),
            error_types=dict(sorted(self.error_types.items())),
            judge_fallbacks=self.judge_fallbacks,
            judge_calls=sum(s.calls for s in info.judge_stats),
            judge_cache_hits=sum(s.cache_hits for s in info.judge_stats),
            prompt_tokens=sum(s.prompt_tokens for s in info.judge_stats),
            completion_tokens=sum(s.completion_tokens for s in info.judge_stats),
            estimated_cost_usd=round(sum(known), 4) if known else None,
        )


def summarise(grades: Iterable[Grade], info: RunInfo) -> RunSummary:
    """Count verdicts by score, category, flag and error type."""
    builder = SummaryBuilder()
    for grade in grades:
        builder.add(grade)
    return builder.build(info)
