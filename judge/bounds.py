"""Hard facts bound a judge's verdict: one table, applied after the judge answers.

A judge may read a record generously; a measured fact (the request failed, a
stop string leaked) caps the score whatever the judge says. Flags that are the
code's reading of the evidence (JUDGMENT_FLAGS) bound the verdict too, unless
the judge overrules them and says why.
"""

from __future__ import annotations

from dataclasses import dataclass

from judge.errors import ERROR_TYPES
from judge.judge_prompt import JUDGMENT_FLAGS
from judge.verdict import Finding, Verdict


@dataclass(frozen=True)
class Bound:
    """The highest score a record with `flag` can get."""

    flag: str
    max_score: int


BOUNDS: tuple[Bound, ...] = (
    Bound("request_failed", 1),
    Bound("empty_output", 1),
    Bound("stop_in_reasoning", 1),
    Bound("garbled_output", 2),
    Bound("stop_leak", 2),
    Bound("format_violation", 2),
    Bound("special_token_leak", 2),
    Bound("reasoning_only", 2),
    Bound("repetition_loop", 3),
    Bound("thinking_budget_exhausted", 3),
    Bound("stop_at_answer_start", 4),
    Bound("stop_value_encoded", 3),
    Bound("seed_mismatch", 4),
    Bound("stream_mismatch", 4),
    Bound("length_cutoff", 4),
    Bound("finish_reason_wrong", 4),
)
BOUND_BY_FLAG = {bound.flag: bound for bound in BOUNDS}


def apply_bounds(
    verdict: Verdict, findings: list[Finding], overruled: list[str]
) -> Verdict:
    """Return `verdict` with its score and category bounded by the findings.

    Each change is recorded in `bounded_by`, so the report can show where the
    checks overrode the judge.
    """
    flags = [f for f in findings if f.kind == "flag"]
    flag_names = [f.name for f in flags]
    honoured = [
        name for name in overruled if name in JUDGMENT_FLAGS and name in flag_names
    ]
    changes: list[str] = []
    score = verdict.score
    category = verdict.category

    for finding in flags:
        if finding.name in honoured:
            continue
        bound = BOUND_BY_FLAG.get(finding.name)
        if bound is not None and score > bound.max_score:
            changes.append(f"score {score}→{bound.max_score} by {finding.name}")
            score = bound.max_score
        if finding.name == "request_failed":
            error_type = ERROR_TYPES[str(finding.detail.get("error_type", "other"))]
            if category != error_type.category:
                changes.append(
                    f"category {category}→{error_type.category} by request_failed"
                )
                category = error_type.category

    return verdict.model_copy(
        update={
            "score": score,
            "category": category,
            "flags": [name for name in flag_names if name not in honoured],
            "overruled": honoured,
            "bounded_by": changes,
        }
    )


_QUOTE_EDGES = " \t\n\"'“”‘’…."


def _normalise(text: str) -> str:
    return " ".join(text.replace("&lt;", "<").split()).casefold()


def evidence_found(evidence: str, sources: list[str]) -> bool:
    """Return True if the quote `evidence` occurs in one of `sources`.

    Whitespace, case, surrounding quotes and ellipses are ignored, so a quote
    the judge trimmed or re-spaced still counts.
    """
    core = _normalise(evidence).strip(_QUOTE_EDGES)
    if len(core) < 3:
        return True
    # A quote cut in the middle ("start … end") is checked piece by piece.
    pieces = [
        piece.strip(_QUOTE_EDGES) for piece in core.replace("...", "…").split("…")
    ]
    texts = [_normalise(source) for source in sources if source]
    return all(
        any(piece in text for text in texts) for piece in pieces if len(piece) >= 3
    )


def check_answer(verdict: Verdict, sources: list[str]) -> Verdict:
    """Make a judge's verdict self-consistent and its evidence a real quote.

    A verdict that names a problem cannot score 5, and evidence that occurs
    nowhere in the record (or in the findings shown to the judge) is dropped.
    Each change is recorded in `bounded_by`.
    """
    changes = list(verdict.bounded_by)
    score = verdict.score
    evidence = verdict.evidence
    if verdict.category != "ok" and score == 5:
        changes.append(f"score 5→4: a {verdict.category} verdict cannot be perfect")
        score = 4
    if evidence and not evidence_found(evidence, sources):
        changes.append("evidence not found in the record, dropped")
        evidence = ""
    return verdict.model_copy(
        update={"score": score, "evidence": evidence, "bounded_by": changes}
    )
