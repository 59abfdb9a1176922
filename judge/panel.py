"""Combine several judges' verdicts and measure how much they agree.

The final score is the lower median of the judges' scores, and the category
is the majority. A tie goes to the rules judge's category when it is among
the tied ones. Judges that failed on a record (their verdict is the rules
fallback) do not vote on it.
"""

from __future__ import annotations

import statistics
from collections import Counter
from itertools import combinations

from judge.judge_config import AgreementInfo, Disagreement, PanelReport
from judge.llm_judge import JudgeRun
from judge.verdict import CATEGORIES, Verdict


def _lower_median(values: list[int]) -> int | None:
    return statistics.median_low(values) if values else None


def combine(index: int, runs: list[JudgeRun], rules: Verdict) -> Verdict:
    """Return the panel verdict for one record."""
    if len(runs) == 1:
        return runs[0].verdicts.get(index, rules)
    votes = [
        run.verdicts[index]
        for run in runs
        if index in run.verdicts and run.verdicts[index].judge_error is None
    ]
    if not votes:
        errors = "; ".join(
            f"{run.name}: {run.verdicts[index].judge_error}"
            for run in runs
            if index in run.verdicts
        )
        return rules.model_copy(update={"judge_error": errors or "no judge answered"})

    score = statistics.median_low(v.score for v in votes)
    tally = Counter(v.category for v in votes)
    top = max(tally.values())
    tied = [category for category in CATEGORIES if tally.get(category) == top]
    category = rules.category if rules.category in tied else tied[0]

    speaker = next(
        (v for v in votes if v.score == score and v.category == category),
        next((v for v in votes if v.score == score), votes[0]),
    )
    flags = list(dict.fromkeys(flag for v in votes for flag in v.flags))
    return speaker.model_copy(
        update={
            "score": score,
            "category": category,
            "coherence": _lower_median([v.coherence for v in votes if v.coherence]),
            "relevance": _lower_median([v.relevance for v in votes if v.relevance]),
            "flags": flags,
            "bounded_by": list(dict.fromkeys(b for v in votes for b in v.bounded_by)),
            "judge": "panel(" + ", ".join(v.judge for v in votes) + ")",
        }
    )


def cohen_kappa(first: list[str], second: list[str]) -> float | None:
    """Return Cohen's kappa for two raters' labels, None when undefined."""
    total = len(first)
    if total == 0:
        return None
    observed = sum(a == b for a, b in zip(first, second)) / total
    first_counts = Counter(first)
    second_counts = Counter(second)
    expected = sum(
        first_counts[label] * second_counts[label] for label in first_counts
    ) / (total * total)
    if expected == 1:
        return 1.0 if observed == 1 else None
    return round((observed - expected) / (1 - expected), 3)


def agreement(runs: list[JudgeRun]) -> PanelReport:
    """Compare every pair of judges over the records both answered."""
    report = PanelReport()
    if len(runs) < 2:
        return report
    disagreeing: dict[int, Disagreement] = {}
    for first, second in combinations(runs, 2):
        shared = sorted(
            index
            for index in first.verdicts.keys() & second.verdicts.keys()
            if first.verdicts[index].judge_error is None
            and second.verdicts[index].judge_error is None
        )
        if not shared:
            report.agreement.append(
                AgreementInfo(
                    judges=(first.name, second.name),
                    records=0,
                    exact=0.0,
                    within_one=0.0,
                    category_kappa=None,
                )
            )
            continue
        pairs = [(first.verdicts[i], second.verdicts[i]) for i in shared]
        exact = sum(a.score == b.score for a, b in pairs) / len(pairs)
        close = sum(abs(a.score - b.score) <= 1 for a, b in pairs) / len(pairs)
        kappa = cohen_kappa(
            [a.category for a, _ in pairs], [b.category for _, b in pairs]
        )
        report.agreement.append(
            AgreementInfo(
                judges=(first.name, second.name),
                records=len(pairs),
                exact=round(exact, 3),
                within_one=round(close, 3),
                category_kappa=kappa,
            )
        )
        for index, (a, b) in zip(shared, pairs):
            if abs(a.score - b.score) >= 2 or a.category != b.category:
                entry = disagreeing.setdefault(
                    index, Disagreement(index=index, scores={}, categories={})
                )
                for run, verdict in ((first, a), (second, b)):
                    entry.scores[run.name] = verdict.score
                    entry.categories[run.name] = verdict.category
    report.disagreements = [disagreeing[i] for i in sorted(disagreeing)]
    return report
