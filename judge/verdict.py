"""Verdicts: the structured grade of every record, from any judge."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, field_validator

Category = Literal[
    "afm_bug", "model_incompat", "model_quality", "harness_bug", "test_config", "ok"
]
CATEGORIES: tuple[Category, ...] = (
    "afm_bug",
    "model_incompat",
    "model_quality",
    "harness_bug",
    "test_config",
    "ok",
)
CATEGORY_TITLES: dict[str, str] = {
    "afm_bug": "AFM bug",
    "model_incompat": "model incompatibility",
    "model_quality": "model quality",
    "harness_bug": "harness bug",
    "test_config": "test configuration",
    "ok": "ok",
}

EVIDENCE_MAX_CHARS = 100


def clip(text: str, limit: int = EVIDENCE_MAX_CHARS) -> str:
    """Return `text` on one line, cut to `limit` characters with an ellipsis."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    return flat[: limit - 1].rstrip() + "…"


class Finding(BaseModel):
    """A named check result for one record, with the evidence behind it.

    A "flag" is a problem; a "fact" is a neutral or good observation, such as
    two seeded runs agreeing.
    """

    name: str
    kind: Literal["flag", "fact"] = "flag"
    evidence: str = ""
    detail: dict[str, str | int | float | bool | None] = Field(default_factory=dict)

    @field_validator("evidence")
    @classmethod
    def _clip(cls, value: str) -> str:
        return clip(value)


class Verdict(BaseModel):
    """The grade of one record."""

    score: int = Field(ge=1, le=5)
    coherence: int | None = Field(default=None, ge=1, le=5)
    relevance: int | None = Field(default=None, ge=1, le=5)
    category: Category
    flags: list[str] = Field(default_factory=list)
    evidence: str = ""
    reason: str = ""
    judge: str = "rules"
    # Judgment flags the judge overruled, and why.
    overruled: list[str] = Field(default_factory=list)
    overrule_reason: str = ""
    # Where a hard fact changed the judge's answer, e.g. "score 4→1 by request_failed".
    bounded_by: list[str] = Field(default_factory=list)
    # Set when the judge model failed and the rules judge's verdict replaced its verdict.
    judge_error: str | None = None
    prompt_hash: str | None = None

    @field_validator("evidence")
    @classmethod
    def _clip_evidence(cls, value: str) -> str:
        return clip(value)

    @field_validator("reason")
    @classmethod
    def _one_line(cls, value: str) -> str:
        # The per-test block format allows one line of reason.
        return " ".join(value.split())


class RecordSummary(BaseModel):
    """The fields of a record that the report needs, without its full text."""

    model: str = ""
    base_model: str = ""
    label: str = ""
    display_name: str = ""
    prompt: str = ""
    # Hash of the whole prompt: `prompt` is clipped, and two long prompts may
    # share their first characters.
    prompt_key: str = ""
    status: str = "OK"
    error: str = ""
    error_type: str | None = None
    completion_tokens: int | None = None
    max_tokens: int | None = None
    tokens_per_sec: float | None = None
    gen_time_s: float | None = None
    finish_reason: str | None = None
    is_baseline: bool = False
    content_chars: int = 0
    reasoning_chars: int = 0
    snippet: str = ""


class Grade(BaseModel):
    """One line of grades.jsonl: a record's verdict, findings and summary."""

    index: int
    record_id: str
    verdict: Verdict
    findings: list[Finding] = Field(default_factory=list)
    record: RecordSummary
    # Each judge's own verdict when a panel graded the run.
    panel: list[Verdict] = Field(default_factory=list)
