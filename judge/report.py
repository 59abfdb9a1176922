"""The six sections of the compatibility report, each computed from the grades."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass

from judge.advice import FLAG_FIXES, flag_title
from judge.errors import ERROR_TYPES, describe_cause
from judge.grade import PairInfo, RunInfo
from judge.markdown import code, inline, names, plural, table
from judge.report_data import RecordRow, ReportData
from judge.rules import RULES_BY_FLAG
from judge.verdict import CATEGORY_TITLES

WARN_BELOW = 3
# Flags whose issue category follows the records' verdicts instead of the rule.
VERDICT_DECIDES = frozenset(
    {
        "thinking_budget_exhausted",
        "stop_at_answer_start",
        "stop_in_reasoning",
        "reasoning_only",
        "repetition_loop",
    }
)


def _failure_groups(data: ReportData) -> dict[tuple[str, str], list[RecordRow]]:
    groups: dict[tuple[str, str], list[RecordRow]] = defaultdict(list)
    for row in data.rows:
        if row.status == "FAIL":
            groups[(row.error_type or "other", row.error_detail)].append(row)
    return groups


def section_broken(data: ReportData) -> str:
    """Section 1: failed requests grouped by error type, and models that never ran."""
    lines = ["### 1) Broken Models", ""]
    groups = _failure_groups(data)
    failed = sum(len(members) for members in groups.values())
    if not failed:
        lines.append(f"No request failed ({len(data.rows)} records).")
        return "\n".join(lines)

    rows = []
    ordered = sorted(groups.items(), key=lambda item: (-len(item[1]), item[0]))
    for (type_name, detail), members in ordered:
        error_type = ERROR_TYPES[type_name]
        rows.append(
            [
                f"{error_type.title}: {code(detail or members[0].error, 80)}",
                names(row.variant for row in members),
                len(members),
                inline(describe_cause(error_type, detail)),
                f"**{CATEGORY_TITLES[error_type.category]}**",
            ]
        )
    lines.append(
        f"{failed} of {len(data.rows)} requests failed, in {len(groups)} "
        "error group(s)."
    )
    lines.append("")
    lines.append(
        table(
            [
                "Error type",
                "Variants",
                "Count",
                "Likely cause",
                "AFM bug vs model incompat",
            ],
            rows,
            "llrll",
        )
    )

    by_model: dict[str, list[RecordRow]] = defaultdict(list)
    for row in data.rows:
        by_model[row.base_model].append(row)
    dead = [
        (model, members)
        for model, members in sorted(by_model.items())
        if all(row.status == "FAIL" for row in members)
    ]
    if dead:
        lines.append("")
        for model, members in dead:
            types = Counter(row.error_type or "other" for row in members)
            kinds = ", ".join(ERROR_TYPES[t].title for t, _ in types.most_common())
            lines.append(
                f"- {code(model)}: {'the only request' if len(members) == 1 else 'all ' + plural(len(members), 'request')} failed ({kinds})."
            )
    return "\n".join(lines)


def _severity(flag: str) -> int:
    rule = RULES_BY_FLAG.get(flag)
    return rule.max_score if rule else 5


def section_anomalies(data: ReportData, info: RunInfo) -> str:
    """Section 2: every flag but failures, most severe first, with an example."""
    lines = ["### 2) Anomalies & Red Flags", ""]
    flags = {name: ex for name, ex in data.flags.items() if name != "request_failed"}
    ordered = sorted(
        flags.items(),
        key=lambda item: (_severity(item[0]), -len(item[1].indices), item[0]),
    )
    rows = [
        [
            f"{flag_title(flag)} ({code(flag)})",
            len(examples.indices),
            names(examples.variants),
            f'#{examples.indices[0]}: "{inline(examples.first_evidence, 100)}"',
        ]
        for flag, examples in ordered
    ]
    if rows:
        lines.append(table(["Flag", "Records", "Variants", "Example"], rows, "lrll"))
    else:
        lines.append("No anomaly flagged.")

    for artifact in info.artifacts:
        lines.append("")
        lines.append(
            f"- Reasoning artifact: {artifact.count} of {artifact.traces} reasoning "
            f"traces of {code(artifact.model)} end in the glued suffix "
            f"{code(artifact.suffix)}; a likely reasoning-parser bug."
        )

    checked = [
        "stop_leak",
        "stop_in_reasoning",
        "special_token_leak",
        "format_violation",
        "repetition_loop",
        "garbled_output",
        "thinking_budget_exhausted",
        "finish_reason_wrong",
    ]
    clear = [flag for flag in checked if flag not in flags]
    if clear:
        lines.append("")
        lines.append(
            "Checked and not found: " + ", ".join(code(f) for f in clear) + "."
        )
    return "\n".join(lines)


@dataclass
class _Comparison:
    variants: list[str]
    relation: str
    better: str
    worse: str
    notes: str
    first_index: int


def _rank(means: dict[str, float]) -> tuple[str, str]:
    if not means or len(set(means.values())) == 1:
        return "Tie", "Tie"
    best = max(means.values())
    worst = min(means.values())
    better = ", ".join(code(k) for k, v in means.items() if v == best)
    worse = ", ".join(code(k) for k, v in means.items() if v == worst)
    return better, worse


def _flag_note(data: ReportData, variant: str) -> str:
    flags = data.flags_by_variant.get(variant)
    if not flags:
        return f"{variant}: no flag"
    top = ", ".join(flag for flag, _ in flags.most_common(2))
    return f"{variant}: {top}"


def _pair_comparison(groups: list[PairInfo], data: ReportData) -> _Comparison:
    """Compare variants over the pair groups they share (one row per variant set)."""
    first = groups[0]
    variants = list(dict.fromkeys(first.labels))
    relation = (
        "streaming vs non-streaming" if first.kind == "stream" else "same request"
    )
    relation += f" ({first.basis})"
    indices = sorted(index for group in groups for index in group.indices)
    records = "#" + ", #".join(map(str, indices))
    differences = sorted({d for group in groups for d in group.differences})
    differ_note = (
        f"; settings that differ: {', '.join(differences)}" if differences else ""
    )
    if first.consistent:
        return _Comparison(
            variants,
            relation,
            "Tie",
            "Tie",
            f"identical output in {len(indices)} records ({records}){differ_note}",
            indices[0],
        )

    scores: dict[str, list[int]] = defaultdict(list)
    for index in indices:
        row = data.row(index)
        scores[row.variant].append(row.score)
    better, worse = _rank({k: statistics.fmean(v) for k, v in scores.items()})
    if better == "Tie":
        # Equal scores mean nothing here: the outputs differ, and the checks
        # cannot tell which one is right.
        better = worse = "—"
    starts = ", ".join(str(group.first_difference) for group in groups)
    return _Comparison(
        variants,
        relation,
        better,
        worse,
        f"outputs differ from character {starts} (records {records}){differ_note}",
        indices[0],
    )


def _prompt_families(data: ReportData) -> list[tuple[list[str], int]]:
    """Return variants of one model that share a non-baseline prompt."""
    variants_by_prompt: dict[tuple[str, str], dict[str, None]] = defaultdict(dict)
    first_index: dict[tuple[str, str], int] = {}
    for row in data.rows:
        if row.is_baseline or not row.prompt:
            continue
        key = (row.base_model, row.prompt_key)
        first_index.setdefault(key, row.index)
        variants_by_prompt[key].setdefault(row.variant, None)
    families: dict[tuple[str, ...], int] = {}
    for key, variants in variants_by_prompt.items():
        if len(variants) >= 2:
            families.setdefault(tuple(variants), first_index[key])
    return [(list(variants), index) for variants, index in families.items()]


def section_comparison(data: ReportData, info: RunInfo) -> str:
    """Section 3: detected pairs and groups of variants, with better and worse."""
    lines = ["### 3) Variant Comparison", ""]
    merged: dict[tuple, list[PairInfo]] = {}
    for group in info.pair_groups:
        key = (
            group.kind,
            tuple(dict.fromkeys(group.labels)),
            group.consistent,
            group.basis,
        )
        merged.setdefault(key, []).append(group)
    comparisons = [_pair_comparison(groups, data) for groups in merged.values()]
    covered = {tuple(sorted(c.variants)) for c in comparisons}

    for variants, first_index in _prompt_families(data):
        key = tuple(sorted(variants))
        if key in covered:
            continue
        covered.add(key)
        means = {
            variant: statistics.fmean(data.scores_by_variant[variant])
            for variant in variants
        }
        better, worse = _rank(means)
        score_note = ", ".join(
            f"{variant} {means[variant]:.1f}" for variant in variants
        )
        flag_notes = "; ".join(_flag_note(data, variant) for variant in variants[:4])
        comparisons.append(
            _Comparison(
                variants,
                "same prompt, different settings",
                better,
                worse,
                f"mean score {score_note}. {flag_notes}",
                first_index,
            )
        )

    if not comparisons:
        lines.append(
            "No variant pairs or groups detected (no shared prompts across variants)."
        )
        return "\n".join(lines)

    comparisons.sort(key=lambda c: c.first_index)
    rows = [
        [names(c.variants, 5), c.relation, c.better, c.worse, inline(c.notes, 300)]
        for c in comparisons
    ]
    lines.append(
        table(["Variant pair/group", "Relation", "Better", "Worse", "Notes"], rows)
    )
    return "\n".join(lines)


def _rating(value: int | None) -> str:
    if value is None:
        return "n/a"
    return f"{value} ⚠" if value < WARN_BELOW else str(value)


def section_quality(data: ReportData) -> str:
    """Section 4: coherence and relevance per record."""
    lines = [
        "### 4) Quality Assessment (Coherence/Relevance 1-5)",
        "",
        f"Ratings below {WARN_BELOW} are marked ⚠; n/a means the judge could not "
        "assess it.",
        "",
    ]
    rows = []
    for row in data.rows:
        note = CATEGORY_TITLES[row.category]
        if row.flags:
            note += ": " + ", ".join(row.flags[:2])
        rows.append(
            [
                row.index,
                code(row.variant, 60),
                inline(row.prompt, 48) or "—",
                _rating(row.coherence),
                _rating(row.relevance),
                row.score,
                inline(note, 80),
            ]
        )
    lines.append(
        table(
            ["#", "Variant", "Prompt", "Coh", "Rel", "Score", "Notes"], rows, "rllrrrl"
        )
    )
    return "\n".join(lines)


def section_performance(data: ReportData) -> str:
    """Section 5: throughput per record, fastest first, failures last."""
    lines = ["### 5) Performance Summary (sorted by tokens/sec)", ""]
    measured = [row for row in data.rows if row.tokens_per_sec is not None]
    unmeasured = [row for row in data.rows if row.tokens_per_sec is None]
    measured.sort(key=lambda row: (-row.tokens_per_sec, row.index))

    by_model: dict[str, list[float]] = defaultdict(list)
    for row in measured:
        if row.status != "FAIL":
            by_model[row.base_model].append(row.tokens_per_sec)
    # Per-model medians only where a model has several records; in a sweep of
    # one record per model the table below shows the same.
    medians = [
        (statistics.median(rates), model, rates)
        for model, rates in by_model.items()
        if len(rates) > 1
    ]
    for median, model, rates in sorted(medians, key=lambda item: (-item[0], item[1])):
        lines.append(
            f"- {code(model)}: median {median:.2f} tok/s over "
            f"{plural(len(rates), 'record')} (min {min(rates):.2f}, max {max(rates):.2f})."
        )
    if medians:
        lines.append("")

    rows = []
    for row in measured + unmeasured:
        flags = list(row.performance_flags)
        if row.status == "FAIL":
            flags.append(row.error_type or "failed")
        rate = row.tokens_per_sec
        rows.append(
            [
                row.index,
                code(row.variant, 60),
                f"{rate:.2f}" if rate is not None else "n/a",
                row.completion_tokens if row.completion_tokens is not None else "n/a",
                row.status,
                ", ".join(flags) or "—",
            ]
        )
    lines.append(
        table(["#", "Variant", "tok/s", "Tokens", "Status", "Flag"], rows, "rlrrll")
    )
    return "\n".join(lines)


@dataclass
class _Issue:
    key: str
    category: str
    severity: int
    variants: list[str]
    count: int
    text: str

    @property
    def weight(self) -> int:
        return self.severity * self.count


def _issues(data: ReportData, info: RunInfo) -> list[_Issue]:
    issues: list[_Issue] = []
    failed: dict[str, list[RecordRow]] = defaultdict(list)
    for row in data.rows:
        if row.status == "FAIL":
            failed[row.error_type or "other"].append(row)
    for type_name, members in failed.items():
        error_type = ERROR_TYPES[type_name]
        cause = describe_cause(error_type, members[0].error_detail)
        issues.append(
            _Issue(
                f"failed:{type_name}",
                error_type.category,
                5,
                [row.variant for row in members],
                len(members),
                f"{error_type.title}: {cause}.",
            )
        )

    for flag, examples in data.flags.items():
        rule = RULES_BY_FLAG.get(flag)
        if flag == "request_failed" or rule is None or rule.category == "ok":
            continue
        # For measured facts the rule's category applies whatever the verdict
        # says. For readings of the evidence the verdicts decide: a looping
        # model is model quality, and an early stop that the test expects is
        # no issue at all.
        by_category: dict[str, list[RecordRow]] = defaultdict(list)
        for index in examples.indices:
            row = data.row(index)
            if flag not in VERDICT_DECIDES:
                by_category[rule.category].append(row)
            elif row.category != "ok":
                by_category[row.category].append(row)
        fix = FLAG_FIXES.get(flag, "")
        for category, rows in by_category.items():
            issues.append(
                _Issue(
                    f"{flag}:{category}",
                    category,
                    6 - rule.max_score,
                    list(dict.fromkeys(row.variant for row in rows)),
                    len(rows),
                    f"{flag_title(flag)}. {fix}",
                )
            )

    for artifact in info.artifacts:
        issues.append(
            _Issue(
                f"reasoning_artifact:{artifact.model}:{artifact.suffix}",
                "afm_bug",
                2,
                [],
                artifact.count,
                f"{artifact.count} of {artifact.traces} reasoning traces of "
                f"{artifact.model} end in '{artifact.suffix}', a cosmetic suffix "
                "that does not change these records' verdicts. "
                + FLAG_FIXES["reasoning_artifact"],
            )
        )
    issues.sort(key=lambda issue: (-issue.weight, issue.key))
    return issues


def section_recommendations(data: ReportData, info: RunInfo) -> str:
    """Section 6: issues ordered by severity times records affected."""
    lines = ["### 6) Recommendations (Prioritized)", ""]
    issues = _issues(data, info)
    headings = [
        ("Likely AFM bug", {"afm_bug"}),
        ("Model quality issue", {"model_quality", "model_incompat"}),
        ("Test configuration and harness", {"test_config", "harness_bug"}),
    ]
    for heading, categories in headings:
        selected = [issue for issue in issues if issue.category in categories]
        if not selected and heading == "Test configuration and harness":
            continue
        lines.append(f"**{heading}**")
        if not selected:
            lines.append("- None found.")
        for position, issue in enumerate(selected, start=1):
            kind = (
                " (model incompatibility)" if issue.category == "model_incompat" else ""
            )
            affected = plural(issue.count, "record")
            if issue.variants:
                affected += f": {names(issue.variants, 4)}"
            lines.append(f"{position}. {inline(issue.text)}{kind} — {affected}.")
        lines.append("")

    lines.append("**Working well**")
    good = [
        variant
        for variant, categories in data.categories_by_variant.items()
        if categories == {"ok"} and not data.flags_by_variant.get(variant)
    ]
    mismatched = {
        label for g in info.pair_groups if not g.consistent for label in g.labels
    }
    consistent: dict[tuple, PairInfo] = {}
    for group in info.pair_groups:
        labels = tuple(dict.fromkeys(group.labels))
        if group.consistent and not mismatched & set(labels):
            consistent.setdefault((group.kind, labels, group.basis), group)
    if good:
        lines.append(
            f"- {plural(len(good), 'variant')} of {len(data.categories_by_variant)} "
            f"passed every check in every record: {names(good, 12)}."
        )
    for (kind, labels, basis), group in consistent.items():
        runs = "streaming and non-streaming" if kind == "stream" else "repeated"
        lines.append(f"- {runs} runs agree ({basis}): {names(labels, 4)}.")
    if not good and not consistent:
        lines.append("- Nothing in this run passed every check.")
    return "\n".join(lines).rstrip()


def section_agreement(data: ReportData, info: RunInfo) -> str | None:
    """Judge agreement for a panel: exact, within one point, Cohen's kappa."""
    if not info.agreement:
        return None
    lines = ["### Judge agreement", ""]
    rows = []
    for pair in info.agreement:
        kappa = "n/a" if pair.category_kappa is None else f"{pair.category_kappa:.2f}"
        rows.append(
            [
                code(pair.judges[0]),
                code(pair.judges[1]),
                pair.records,
                f"{pair.exact:.0%}",
                f"{pair.within_one:.0%}",
                kappa,
            ]
        )
    lines.append(
        table(
            ["Judge", "Judge", "Records", "Same score", "Within ±1", "Category κ"],
            rows,
            "llrrrr",
        )
    )
    if info.disagreements:
        lines.append("")
        lines.append(
            f"Records the judges disagree on (2+ points or category), "
            f"{len(info.disagreements)}:"
        )
        for entry in info.disagreements[:50]:
            votes = ", ".join(
                f"{judge} {entry.scores[judge]} ({entry.categories[judge]})"
                for judge in entry.scores
            )
            lines.append(
                f"- #{entry.index} {code(data.row(entry.index).variant)}: {votes}"
            )
        if len(info.disagreements) > 50:
            lines.append(f"- +{len(info.disagreements) - 50} more")
    return "\n".join(lines)


def judge_usage_lines(info: RunInfo) -> list[str]:
    """Return footer lines with each judge's calls, retries, fallbacks and tokens."""
    lines = []
    for stats in info.judge_stats:
        cost = ""
        if stats.estimated_cost_usd is not None:
            cost = f"; estimated cost ${stats.estimated_cost_usd:.4f} at list prices"
        lines.append(
            f"Judge {code(stats.name)} ({stats.mode} mode): {stats.calls} calls, "
            f"{stats.cache_hits} cached, {stats.transport_retries} transport "
            f"retries, {stats.reasks} re-asks, {stats.fallbacks} records kept the "
            f"rules verdict; {stats.prompt_tokens:,} prompt + "
            f"{stats.completion_tokens:,} completion tokens{cost}."
        )
    if info.prompt_hash:
        lines.append(f"Judge prompts: {code(info.prompt_hash)}.")
    return lines
