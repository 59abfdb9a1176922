"""Machine summary of a graded run: counts per category, flag and error type."""

from __future__ import annotations

from collections import Counter
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


def summarise(grades: list[Grade], info: RunInfo) -> RunSummary:
    """Count verdicts by score, category, flag and error type."""
    categories = Counter({category: 0 for category in CATEGORIES})
    scores: Counter[str] = Counter()
    flags: Counter[str] = Counter()
    error_types: Counter[str] = Counter()
    for grade in grades:
        categories[grade.verdict.category] += 1
        scores[str(grade.verdict.score)] += 1
        flags.update(grade.verdict.flags)
        if grade.record.error_type:
            error_types[grade.record.error_type] += 1

    total = sum(grade.verdict.score for grade in grades)
    return RunSummary(
        run_name=info.run_name,
        records=len(grades),
        failed=sum(1 for grade in grades if grade.record.status == "FAIL"),
        skipped_lines=len(info.skipped_lines),
        judges=info.judges,
        mean_score=round(total / len(grades), 2) if grades else None,
        scores=dict(sorted(scores.items())),
        categories=dict(categories),
        flags=dict(sorted(flags.items())),
        error_types=dict(sorted(error_types.items())),
    )
