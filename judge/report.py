"""The six sections of the compatibility report, each computed from the grades."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from judge.advice import FLAG_FIXES, flag_title
from judge.errors import ERROR_TYPES, describe_cause
from judge.grade import PairInfo, RunInfo
from judge.markdown import code, inline, names, table
from judge.rules import RULES_BY_FLAG
from judge.verdict import CATEGORY_TITLES, Grade

WARN_BELOW = 3


def _variant(grade: Grade) -> str:
    return grade.record.label or grade.record.display_name or f"record {grade.index}"


def _tok_s(grade: Grade) -> str:
    rate = grade.record.tokens_per_sec
    return f"{rate:.2f}" if rate is not None else "n/a"


def section_broken(grades: list[Grade]) -> str:
    """Section 1: failed requests grouped by error type, and models that never ran."""
    failed = [g for g in grades if g.record.status == "FAIL"]
    lines = ["### 1) Broken Models", ""]
    if not failed:
        lines.append(f"No request failed ({len(grades)} records).")
        return "\n".join(lines)

    groups: dict[tuple[str, str], list[Grade]] = defaultdict(list)
    for grade in failed:
        detail = next(
            (
                str(f.detail.get("error_detail", ""))
                for f in grade.findings
                if f.name == "request_failed"
            ),
            "",
        )
        groups[(grade.record.error_type or "other", detail)].append(grade)

    rows = []
    ordered = sorted(groups.items(), key=lambda item: (-len(item[1]), item[0]))
    for (type_name, detail), members in ordered:
        error_type = ERROR_TYPES[type_name]
        rows.append(
            [
                f"{error_type.title}: {code(detail or members[0].record.error, 80)}",
                names(_variant(g) for g in members),
                len(members),
                inline(describe_cause(error_type, detail)),
                f"**{CATEGORY_TITLES[error_type.category]}**",
            ]
        )
    lines.append(
        f"{len(failed)} of {len(grades)} requests failed, in {len(groups)} "
        "error group(s)."
    )
    lines.append("")
    lines.append(
        table(
            ["Error type", "Variants", "Count", "Likely cause", "AFM bug vs model incompat"],
            rows,
            "llrll",
        )
    )

    by_model: dict[str, list[Grade]] = defaultdict(list)
    for grade in grades:
        by_model[grade.record.base_model or grade.record.model].append(grade)
    dead = [
        (model, members)
        for model, members in sorted(by_model.items())
        if all(g.record.status == "FAIL" for g in members)
    ]
    if dead:
        lines.append("")
        for model, members in dead:
            types = Counter(g.record.error_type or "other" for g in members)
            kinds = ", ".join(ERROR_TYPES[t].title for t, _ in types.most_common())
            lines.append(
                f"- {code(model)}: all {len(members)} requests failed ({kinds})."
            )
    return "\n".join(lines)


def _flag_examples(grades: list[Grade]) -> dict[str, list[Grade]]:
    examples: dict[str, list[Grade]] = defaultdict(list)
    for grade in grades:
        for flag in grade.verdict.flags:
            examples[flag].append(grade)
    return examples


def section_anomalies(grades: list[Grade], info: RunInfo) -> str:
    """Section 2: every flag but failures, most severe first, with an example."""
    lines = ["### 2) Anomalies & Red Flags", ""]
    examples = _flag_examples(grades)
    examples.pop("request_failed", None)

    def severity(item: tuple[str, list[Grade]]) -> tuple[int, int, str]:
        rule = RULES_BY_FLAG.get(item[0])
        return (rule.max_score if rule else 5, -len(item[1]), item[0])

    rows = []
    for flag, members in sorted(examples.items(), key=severity):
        first = members[0]
        evidence = next(
            (f.evidence for f in first.findings if f.name == flag), first.verdict.evidence
        )
        rows.append(
            [
                f"{flag_title(flag)} ({code(flag)})",
                len(members),
                names(_variant(g) for g in members),
                f"#{first.index}: \"{inline(evidence, 100)}\"",
            ]
        )
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
    clear = [flag for flag in checked if flag not in examples]
    if clear:
        lines.append("")
        lines.append("Checked and not found: " + ", ".join(code(f) for f in clear) + ".")
    return "\n".join(lines)


@dataclass
class _Comparison:
    variants: list[str]
    relation: str
    better: str
    worse: str
    notes: str
    first_index: int = 0
    labels_key: tuple[str, ...] = field(default_factory=tuple)


def _mean_scores(grades: list[Grade], labels: list[str]) -> dict[str, float]:
    scores: dict[str, list[int]] = defaultdict(list)
    for grade in grades:
        if _variant(grade) in labels:
            scores[_variant(grade)].append(grade.verdict.score)
    return {label: statistics.fmean(values) for label, values in scores.items()}


def _rank(means: dict[str, float]) -> tuple[str, str]:
    if not means or len(set(means.values())) == 1:
        return "Tie", "Tie"
    best = max(means.values())
    worst = min(means.values())
    better = ", ".join(code(k) for k, v in means.items() if v == best)
    worse = ", ".join(code(k) for k, v in means.items() if v == worst)
    return better, worse


def _flag_note(grades: list[Grade], label: str) -> str:
    flags = Counter(
        flag for g in grades if _variant(g) == label for flag in g.verdict.flags
    )
    if not flags:
        return f"{label}: no flag"
    top = ", ".join(flag for flag, _ in flags.most_common(2))
    return f"{label}: {top}"


def _pair_comparison(group: PairInfo, grades: list[Grade]) -> _Comparison:
    labels = list(dict.fromkeys(group.labels))
    relation = (
        "streaming vs non-streaming" if group.kind == "stream" else "same request"
    )
    relation += f" ({group.basis})"
    if group.consistent:
        return _Comparison(
            labels,
            relation,
            "Tie",
            "Tie",
            f"identical output in {len(group.indices)} records "
            f"(#{', #'.join(map(str, group.indices))})",
            group.indices[0],
            tuple(sorted(labels)),
        )
    by_index = {g.index: g for g in grades}
    members = [by_index[i] for i in group.indices if i in by_index]
    means: dict[str, list[int]] = defaultdict(list)
    for grade in members:
        means[_variant(grade)].append(grade.verdict.score)
    better, worse = _rank({k: statistics.fmean(v) for k, v in means.items()})
    return _Comparison(
        labels,
        relation,
        better,
        worse,
        f"outputs differ from character {group.first_difference} "
        f"(records #{', #'.join(map(str, group.indices))})",
        group.indices[0],
        tuple(sorted(labels)),
    )


def _prompt_families(grades: list[Grade]) -> list[tuple[list[str], list[int]]]:
    """Group variants that share a non-baseline prompt (same model)."""
    labels_by_prompt: dict[tuple[str, str], list[str]] = defaultdict(list)
    first_index: dict[tuple[str, str], int] = {}
    for grade in grades:
        record = grade.record
        if record.is_baseline or not record.prompt:
            continue
        key = (record.base_model, record.prompt_key)
        first_index.setdefault(key, grade.index)
        if _variant(grade) not in labels_by_prompt[key]:
            labels_by_prompt[key].append(_variant(grade))
    families: dict[tuple[str, ...], list[int]] = {}
    for key, labels in labels_by_prompt.items():
        if len(labels) >= 2:
            families.setdefault(tuple(labels), []).append(first_index[key])
    return [(list(labels), indices) for labels, indices in families.items()]


def section_comparison(grades: list[Grade], info: RunInfo) -> str:
    """Section 3: detected pairs and groups of variants, with better and worse."""
    lines = ["### 3) Variant Comparison", ""]
    comparisons: list[_Comparison] = []
    seen: set[tuple[str, ...]] = set()
    for group in info.pair_groups:
        comparison = _pair_comparison(group, grades)
        comparisons.append(comparison)

    paired_label_sets = {c.labels_key for c in comparisons}
    for labels, indices in _prompt_families(grades):
        key = tuple(sorted(labels))
        if key in paired_label_sets or key in seen:
            continue
        seen.add(key)
        means = _mean_scores(grades, labels)
        better, worse = _rank(means)
        score_note = ", ".join(f"{label} {means[label]:.1f}" for label in labels)
        flag_notes = "; ".join(_flag_note(grades, label) for label in labels[:4])
        comparisons.append(
            _Comparison(
                labels,
                "same prompt, different settings",
                better,
                worse,
                f"mean score {score_note}. {flag_notes}",
                min(indices),
                key,
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
    lines.append(table(["Variant pair/group", "Relation", "Better", "Worse", "Notes"], rows))
    return "\n".join(lines)


def _rating(value: int | None) -> str:
    if value is None:
        return "n/a"
    return f"{value} ⚠" if value < WARN_BELOW else str(value)


def section_quality(grades: list[Grade]) -> str:
    """Section 4: coherence and relevance per record."""
    lines = [
        "### 4) Quality Assessment (Coherence/Relevance 1-5)",
        "",
        f"Ratings below {WARN_BELOW} are marked ⚠; n/a means the judge could not "
        "assess it.",
        "",
    ]
    rows = []
    for grade in grades:
        verdict = grade.verdict
        note = CATEGORY_TITLES[verdict.category]
        if verdict.flags:
            note += ": " + ", ".join(verdict.flags[:2])
        rows.append(
            [
                grade.index,
                code(_variant(grade), 60),
                inline(grade.record.prompt, 48) or "—",
                _rating(verdict.coherence),
                _rating(verdict.relevance),
                verdict.score,
                inline(note, 80),
            ]
        )
    lines.append(
        table(["#", "Variant", "Prompt", "Coh", "Rel", "Score", "Notes"], rows, "rllrrrl")
    )
    return "\n".join(lines)


def section_performance(grades: list[Grade]) -> str:
    """Section 5: throughput per record, fastest first, failures last."""
    lines = ["### 5) Performance Summary (sorted by tokens/sec)", ""]
    measured = [g for g in grades if g.record.tokens_per_sec is not None]
    unmeasured = [g for g in grades if g.record.tokens_per_sec is None]
    measured.sort(key=lambda g: (-g.record.tokens_per_sec, g.index))

    by_model: dict[str, list[float]] = defaultdict(list)
    for grade in measured:
        if grade.record.status != "FAIL":
            by_model[grade.record.base_model].append(grade.record.tokens_per_sec)
    for model, rates in sorted(by_model.items()):
        lines.append(
            f"- {code(model)}: median {statistics.median(rates):.2f} tok/s over "
            f"{len(rates)} records (min {min(rates):.2f}, max {max(rates):.2f})."
        )
    if by_model:
        lines.append("")

    rows = []
    for grade in measured + unmeasured:
        flags = [
            f.name
            for f in grade.findings
            if f.name in ("throughput_outlier", "overhead_dominated")
        ]
        if grade.record.status == "FAIL":
            flags.append(grade.record.error_type or "failed")
        tokens = grade.record.completion_tokens
        rows.append(
            [
                grade.index,
                code(_variant(grade), 60),
                _tok_s(grade),
                tokens if tokens is not None else "n/a",
                grade.record.status,
                ", ".join(flags) or "—",
            ]
        )
    lines.append(table(["#", "Variant", "tok/s", "Tokens", "Status", "Flag"], rows, "rlrrll"))
    return "\n".join(lines)


@dataclass
class _Issue:
    key: str
    category: str
    severity: int
    grades: list[Grade]
    text: str

    @property
    def weight(self) -> int:
        return self.severity * len(self.grades)


def _issues(grades: list[Grade], info: RunInfo) -> list[_Issue]:
    issues: list[_Issue] = []
    failed: dict[str, list[Grade]] = defaultdict(list)
    for grade in grades:
        if grade.record.status == "FAIL":
            failed[grade.record.error_type or "other"].append(grade)
    for type_name, members in failed.items():
        error_type = ERROR_TYPES[type_name]
        detail = next(
            (
                str(f.detail.get("error_detail", ""))
                for f in members[0].findings
                if f.name == "request_failed"
            ),
            "",
        )
        issues.append(
            _Issue(
                f"failed:{type_name}",
                error_type.category,
                5,
                members,
                f"{error_type.title}: {describe_cause(error_type, detail)}.",
            )
        )

    for flag, members in _flag_examples(grades).items():
        rule = RULES_BY_FLAG.get(flag)
        if flag == "request_failed" or rule is None or rule.category == "ok":
            continue
        category = rule.category
        if flag == "thinking_budget_exhausted":
            # The per-record verdicts decide: a looping model is model quality.
            category = Counter(g.verdict.category for g in members).most_common(1)[0][0]
        fix = FLAG_FIXES.get(flag, "")
        issues.append(
            _Issue(flag, category, 6 - rule.max_score, members, f"{flag_title(flag)}. {fix}")
        )

    for artifact in info.artifacts:
        touched = [
            g
            for g in grades
            if g.record.base_model == artifact.model
            and any(
                f.name == "reasoning_artifact" and f.detail.get("suffix") == artifact.suffix
                for f in g.findings
            )
        ]
        issues.append(
            _Issue(
                f"reasoning_artifact:{artifact.model}:{artifact.suffix}",
                "afm_bug",
                2,
                touched,
                f"{artifact.count} of {artifact.traces} reasoning traces of "
                f"{artifact.model} end in '{artifact.suffix}'. "
                + FLAG_FIXES["reasoning_artifact"],
            )
        )
    issues.sort(key=lambda issue: (-issue.weight, issue.key))
    return issues


def section_recommendations(grades: list[Grade], info: RunInfo) -> str:
    """Section 6: issues ordered by severity times records affected."""
    lines = ["### 6) Recommendations (Prioritized)", ""]
    issues = _issues(grades, info)
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
            variants = names((_variant(g) for g in issue.grades), 4)
            kind = ""
            if issue.category == "model_incompat":
                kind = " (model incompatibility)"
            lines.append(
                f"{position}. {inline(issue.text)}{kind} — {len(issue.grades)} "
                f"record(s): {variants}."
            )
        lines.append("")

    lines.append("**Working well**")
    by_variant: dict[str, list[Grade]] = defaultdict(list)
    for grade in grades:
        by_variant[_variant(grade)].append(grade)
    good = [
        label
        for label, members in by_variant.items()
        if all(g.verdict.category == "ok" for g in members)
    ]
    consistent = [g for g in info.pair_groups if g.consistent]
    if good:
        lines.append(
            f"- {len(good)} of {len(by_variant)} variants had no problem in any "
            f"record: {names(good, 12)}."
        )
    for group in consistent:
        what = "streaming and non-streaming" if group.kind == "stream" else "repeated"
        lines.append(
            f"- {what} runs agree ({group.basis}): "
            f"{names(dict.fromkeys(group.labels), 4)}."
        )
    if not good and not consistent:
        lines.append("- Nothing in this run passed every check.")
    return "\n".join(lines).rstrip()
