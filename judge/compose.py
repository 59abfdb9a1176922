"""Write the compatibility report from a graded run.

The report is a pure function of grades.jsonl and run.json: the same inputs
give byte-identical output (no clock, no randomness, stable sort orders).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import orjson

from judge.grade import RunInfo, read_grades, write_summary
from judge.markdown import code, inline
from judge.report import (
    section_anomalies,
    section_broken,
    section_comparison,
    section_performance,
    section_quality,
    section_recommendations,
)
from judge.summary import summarise
from judge.verdict import CATEGORY_TITLES, Grade

REPORT_FILE = "report.md"


def _title(grades: list[Grade], info: RunInfo) -> list[str]:
    models = Counter(g.record.base_model or g.record.model for g in grades)
    variants = {g.record.label or g.record.display_name for g in grades}
    if len(models) == 1:
        subject = f"{next(iter(models))}, {len(variants)} variants"
    else:
        subject = f"{len(models)} models"
    lines = [f"## AFM Compatibility Report ({inline(subject)})", ""]

    facts = [f"Run: {code(info.run_name)}", f"{len(grades)} records"]
    meta = info.meta
    if meta is not None:
        if meta.afm_version:
            facts.append(f"AFM {code(meta.afm_version)}")
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


def _footer(grades: list[Grade], info: RunInfo) -> list[str]:
    categories = Counter(g.verdict.category for g in grades)
    counts = ", ".join(
        f"{CATEGORY_TITLES[name]} {count}" for name, count in sorted(categories.items())
    )
    judges = Counter(g.verdict.judge for g in grades)
    judged_by = ", ".join(f"{name} ({count})" for name, count in sorted(judges.items()))
    return [
        "---",
        "",
        f"Verdicts: {counts}. Judged by: {judged_by}.",
    ]


def per_test_block(grade: Grade) -> str:
    """Return the `### N. model @ label` block AFM's HTML report reads."""
    record = grade.record
    verdict = grade.verdict
    name = inline(record.display_name or record.model or f"record {grade.index}", 160)
    detail = [CATEGORY_TITLES[verdict.category]]
    if verdict.flags:
        detail.append(", ".join(verdict.flags[:4]))
    status = record.status
    rate = f"{record.tokens_per_sec:.2f} tok/s" if record.tokens_per_sec else "n/a tok/s"
    reason = inline(verdict.reason or "no reason given", 400)
    if verdict.evidence:
        reason += f' Evidence: "{inline(verdict.evidence, 100)}"'
    return (
        f"### {grade.index}. {name}\n"
        f"**Score: {verdict.score}/5** · {' · '.join(detail)} | {status} | {rate}"
        f" | judge: {inline(verdict.judge, 60)}\n"
        f"> {reason}"
    )


def ai_scores_line(grades: list[Grade]) -> str:
    entries = [{"i": grade.index, "s": grade.verdict.score} for grade in grades]
    return f"<!-- AI_SCORES {orjson.dumps(entries).decode()} -->"


def render_report(grades: list[Grade], info: RunInfo) -> str:
    """Return the whole report as Markdown, ending with the AI_SCORES line."""
    grades = sorted(grades, key=lambda grade: grade.index)
    parts = [
        "\n".join(_title(grades, info)),
        section_broken(grades),
        section_anomalies(grades, info),
        section_comparison(grades, info),
        section_quality(grades),
        section_performance(grades),
        section_recommendations(grades, info),
        "\n".join(_footer(grades, info)),
        "## Per-test results",
        "\n\n".join(per_test_block(grade) for grade in grades),
        ai_scores_line(grades),
    ]
    return "\n\n".join(parts) + "\n"


def compose_report(out_dir: Path) -> Path:
    """Read the grades in `out_dir`, write report.md and summary.json there."""
    info, grades = read_grades(out_dir)
    report = render_report(grades, info)
    path = out_dir / REPORT_FILE
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(report, encoding="utf-8")
    temporary.replace(path)
    write_summary(out_dir, summarise(grades, info))
    return path
