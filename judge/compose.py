"""Write the compatibility report from a graded run.

The report is a pure function of grades.jsonl and run.json: the same inputs
give byte-identical output (no clock, no randomness, stable sort orders).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import orjson

from judge.grade import GRADES_FILE, RunInfo, iter_grades, read_run_info, write_summary
from judge.markdown import code, inline, plural
from judge.report import (
    judge_usage_lines,
    section_agreement,
    section_anomalies,
    section_broken,
    section_comparison,
    section_performance,
    section_quality,
    section_recommendations,
)
from judge.report_data import ReportData
from judge.summary import SummaryBuilder
from judge.verdict import CATEGORY_TITLES, Grade

REPORT_FILE = "report.md"


def _title(data: ReportData, info: RunInfo) -> list[str]:
    models = Counter(row.base_model for row in data.rows)
    variants = set(data.scores_by_variant)
    if len(models) == 1:
        subject = f"{next(iter(models))}, {plural(len(variants), 'variant')}"
    else:
        subject = plural(len(models), "model")
    lines = [f"## AFM Compatibility Report ({inline(subject)})", ""]

    facts = [f"Run: {code(info.run_name)}", plural(len(data.rows), "record")]
    meta = info.meta
    if meta is not None:
        if meta.afm_version:
            facts.append(f"server version {code(meta.afm_version)}")
        if meta.timestamp:
            facts.append(f"collected {inline(meta.timestamp)}")
    lines.append(" · ".join(facts))
    if meta is not None and meta.test_command:
        lines.append("")
        lines.append(f"Command: {code(meta.test_command, 200)}")
    if info.skipped_lines:
        where = ", ".join(str(s.line) for s in info.skipped_lines[:10])
        lines.append("")
        lines.append(
            f"{len(info.skipped_lines)} line(s) of the run file could not be read "
            f"and were skipped (line {where})."
        )
    return lines


def _footer(data: ReportData, info: RunInfo) -> list[str]:
    categories = Counter(row.category for row in data.rows)
    counts = ", ".join(
        f"{CATEGORY_TITLES[name]} {count}" for name, count in sorted(categories.items())
    )
    judged_by = ", ".join(
        f"{name} ({count})" for name, count in sorted(data.judges.items())
    )
    lines = ["---", "", f"Verdicts: {counts}. Judged by: {judged_by}."]
    usage = judge_usage_lines(info)
    if usage:
        lines += [""] + usage
    return lines


def per_test_block(grade: Grade) -> str:
    """Return the `### N. model @ label` block AFM's HTML report reads."""
    record = grade.record
    verdict = grade.verdict
    name = inline(record.display_name or record.model or f"record {grade.index}", 160)
    detail = [CATEGORY_TITLES[verdict.category]]
    if verdict.flags:
        detail.append(", ".join(verdict.flags[:4]))
    rate = (
        f"{record.tokens_per_sec:.2f} tok/s" if record.tokens_per_sec else "n/a tok/s"
    )
    reason = inline(verdict.reason or "no reason given", 400)
    if verdict.evidence:
        reason += f' Evidence: "{inline(verdict.evidence, 100)}"'
    if verdict.overruled:
        overruled = ", ".join(verdict.overruled)
        overrule_reason = inline(verdict.overrule_reason, 200).rstrip(".")
        reason += f" Overruled {overruled}: {overrule_reason or 'no reason given'}."
    if verdict.bounded_by:
        reason += f" Bounded by the checks: {inline('; '.join(verdict.bounded_by))}."
    if verdict.judge_error:
        reason += (
            f" The judge model failed ({inline(verdict.judge_error, 120)}), so the "
            "rules verdict is kept."
        )
    return (
        f"### {grade.index}. {name}\n"
        f"**Score: {verdict.score}/5** · {' · '.join(detail)} | {record.status} | {rate}"
        f" | judge: {inline(verdict.judge, 60)}\n"
        f"> {reason}"
    )


def ai_scores_line(scores: Iterable[tuple[int, int]]) -> str:
    entries = [{"i": index, "s": score} for index, score in scores]
    return f"<!-- AI_SCORES {orjson.dumps(entries).decode()} -->"


def render_summary(data: ReportData, info: RunInfo) -> str:
    """Return everything before the per-test blocks."""
    parts = [
        "\n".join(_title(data, info)),
        section_broken(data),
        section_anomalies(data, info),
        section_comparison(data, info),
        section_quality(data),
        section_performance(data),
        section_recommendations(data, info),
        section_agreement(data, info),
        "\n".join(_footer(data, info)),
        "## Per-test results",
    ]
    return "\n\n".join(part for part in parts if part) + "\n\n"


def compose_report(out_dir: Path) -> Path:
    """Write report.md and summary.json from the grades in `out_dir`.

    Reads grades.jsonl twice: once for the summary sections, then again to
    stream the per-test blocks, so whole grades are never all in memory.
    """
    info = read_run_info(out_dir)
    data = ReportData()
    summary = SummaryBuilder()
    for grade in iter_grades(out_dir):
        data.add(grade)
        summary.add(grade)
    if [row.index for row in data.rows] != list(range(len(data.rows))):
        raise ValueError(
            f"{out_dir / GRADES_FILE} is not in index order; grade the run again"
        )

    path = out_dir / REPORT_FILE
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("w", encoding="utf-8", newline="\n") as handle:
        handle.write(render_summary(data, info))
        for position, grade in enumerate(iter_grades(out_dir)):
            if position:
                handle.write("\n\n")
            handle.write(per_test_block(grade))
        handle.write("\n\n" + ai_scores_line((r.index, r.score) for r in data.rows))
        handle.write("\n")
    temporary.replace(path)
    write_summary(out_dir, summary.build(info))
    return path
