"""Grade a run: compute findings, get a verdict per record, write the grades.

Outputs, in the run's output folder:
- grades.jsonl: one Grade per record (verdict, findings, record summary);
- run.json: what compose needs of the run as a whole (RunInfo);
- summary.json: counts per category, flag and error type.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from pathlib import Path

import orjson
from pydantic import BaseModel, Field

from judge import __version__
from judge.analysis import RunFindings, analyse_records
from judge.errors import classify_error
from judge.judge_config import AgreementInfo, Disagreement, JudgeOptions, JudgeStatsInfo
from judge.records import RunMeta, RunRecord
from judge.rules import rules_verdict
from judge.runs import Run, load_run
from judge.summary import RunSummary, summarise
from judge.verdict import Finding, Grade, RecordSummary, Verdict, clip

log = logging.getLogger(__name__)

GRADES_FILE = "grades.jsonl"
RUN_INFO_FILE = "run.json"
SUMMARY_FILE = "summary.json"


class ArtifactInfo(BaseModel):
    model: str
    suffix: str
    count: int
    traces: int


class PairInfo(BaseModel):
    kind: str
    indices: list[int]
    labels: list[str]
    consistent: bool
    basis: str
    outliers: list[int] = Field(default_factory=list)
    first_difference: int | None = None
    differences: list[str] = Field(default_factory=list)


class SkippedInfo(BaseModel):
    line: int
    reason: str


class RunInfo(BaseModel):
    """Run-level facts that compose reads beside the grades."""

    run_name: str
    run_path: str
    run_sha256: str
    record_count: int
    meta: RunMeta | None = None
    skipped_lines: list[SkippedInfo] = Field(default_factory=list)
    artifacts: list[ArtifactInfo] = Field(default_factory=list)
    pair_groups: list[PairInfo] = Field(default_factory=list)
    judges: list[str] = Field(default_factory=list)
    judge_stats: list[JudgeStatsInfo] = Field(default_factory=list)
    agreement: list[AgreementInfo] = Field(default_factory=list)
    disagreements: list[Disagreement] = Field(default_factory=list)
    prompt_hash: str | None = None
    afm_judge_version: str = __version__


class NoRecordsError(ValueError):
    """The run file has no record to grade."""


def rules_judge(record: RunRecord, findings: list[Finding]) -> Verdict:
    """Grade with the built-in rules judge."""
    intent = " ".join(filter(None, [record.label, record.variant_intent or ""]))
    return rules_verdict(findings, intent)


def summarise_record(record: RunRecord) -> RecordSummary:
    """Keep what the report needs of a record, without its full text."""
    error_type = None
    if record.failed:
        error_type = classify_error(record.error)[0].name
    text = record.content or record.reasoning_content or record.error
    return RecordSummary(
        model=record.model,
        base_model=record.base_model,
        label=record.label,
        display_name=record.display_name,
        prompt=clip(record.prompt or "", 200),
        prompt_key=hashlib.sha256((record.prompt or "").encode()).hexdigest()[:16],
        status=record.status,
        error=clip(record.error, 200),
        error_type=error_type,
        completion_tokens=record.completion_tokens,
        max_tokens=record.token_budget,
        tokens_per_sec=record.tokens_per_sec,
        gen_time_s=record.gen_time_s,
        finish_reason=record.finish_reason,
        is_baseline=False,
        content_chars=len(record.content),
        reasoning_chars=len(record.reasoning_content),
        snippet=clip(text),
    )


def build_run_info(run: Run, findings: RunFindings, judges: list[str]) -> RunInfo:
    return RunInfo(
        run_name=run.name,
        run_path=str(run.path),
        run_sha256=run.sha256,
        record_count=len(run.records),
        meta=run.meta,
        skipped_lines=[SkippedInfo(line=s.line, reason=s.reason) for s in run.skipped],
        artifacts=[
            ArtifactInfo(model=a.model, suffix=a.suffix, count=a.count, traces=a.traces)
            for a in findings.artifacts
        ],
        pair_groups=[
            PairInfo(
                kind=g.kind,
                indices=g.indices,
                labels=g.labels,
                consistent=g.consistent,
                basis=g.basis,
                outliers=g.outliers,
                first_difference=g.first_difference,
                differences=g.differences,
            )
            for g in findings.pair_groups
        ],
        judges=judges,
    )


def default_out_dir(run_path: Path) -> Path:
    """Return outputs/<run-name>/ in the current directory."""
    return Path("outputs") / run_path.stem


def grade_records(run: Run, findings: RunFindings) -> list[Grade]:
    """Return the rules judge's Grade for every record of the run, in index order."""
    grades = []
    for record in run.records:
        record_findings = findings.by_index[record.index]
        verdict = rules_judge(record, record_findings)
        summary = summarise_record(record)
        summary.is_baseline = record.index in findings.baselines
        grades.append(
            Grade(
                index=record.index,
                record_id=record.record_id,
                verdict=verdict,
                findings=record_findings,
                record=summary,
            )
        )
    return grades


def write_grades(out_dir: Path, grades: list[Grade], info: RunInfo) -> RunSummary:
    """Write grades.jsonl, run.json and summary.json; return the summary.

    Each file is written to a temporary name and renamed, so an interrupted
    write never leaves a half-written grades file behind.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    lines = b"".join(
        orjson.dumps(grade.model_dump(mode="json")) + b"\n" for grade in grades
    )
    _write_atomic(out_dir / GRADES_FILE, lines)
    _write_atomic(
        out_dir / RUN_INFO_FILE,
        orjson.dumps(info.model_dump(mode="json"), option=orjson.OPT_INDENT_2),
    )
    summary = summarise(grades, info)
    write_summary(out_dir, summary)
    return summary


def write_summary(out_dir: Path, summary: RunSummary) -> None:
    _write_atomic(
        out_dir / SUMMARY_FILE,
        orjson.dumps(
            summary.model_dump(mode="json"),
            option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS,
        ),
    )


def _write_atomic(path: Path, data: bytes) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_bytes(data)
    temporary.replace(path)


def grade_run(
    run_path: Path,
    out_dir: Path | None = None,
    options: JudgeOptions | None = None,
) -> tuple[Path, RunSummary]:
    """Grade the run at `run_path` and write the results; return folder and summary.

    Without judges in `options`, the rules judge grades offline. With judges,
    every record gets the judges' combined verdict, and the rules verdict is
    kept wherever every judge failed.
    """
    run = load_run(run_path)
    if not run.records:
        raise NoRecordsError(
            f"{run_path} contains no records ({len(run.skipped)} unreadable "
            "line(s)); expected a results JSONL with one request per line"
        )
    target = out_dir or default_out_dir(run_path)
    findings = analyse_records(run.records)
    grades = grade_records(run, findings)
    info = build_run_info(run, findings, ["rules"])

    if options is not None and options.judges:
        # Imported here: the judge clients load openai and instructor.
        from judge.grade_judges import judge_run

        rules = {grade.index: grade.verdict for grade in grades}
        options.log_dir = options.log_dir or target
        outcome = judge_run(run, findings, rules, options)
        for grade in grades:
            grade.verdict = outcome.verdicts[grade.index]
            if len(outcome.stats) > 1:
                grade.panel = outcome.per_judge[grade.index]
        info.judges = [stats.name for stats in outcome.stats]
        info.judge_stats = outcome.stats
        info.agreement = outcome.panel.agreement
        info.disagreements = outcome.panel.disagreements
        info.prompt_hash = outcome.prompt_hash

    summary = write_grades(target, grades, info)
    log.info("graded %d records of %s into %s", len(grades), run_path, target)
    return target, summary


def read_run_info(out_dir: Path) -> RunInfo:
    return RunInfo.model_validate(orjson.loads((out_dir / RUN_INFO_FILE).read_bytes()))


def iter_grades(out_dir: Path) -> Iterator[Grade]:
    """Yield the grades of an output folder one line at a time."""
    with (out_dir / GRADES_FILE).open("rb") as handle:
        for line in handle:
            if line.strip():
                yield Grade.model_validate(orjson.loads(line))


def read_grades(out_dir: Path) -> tuple[RunInfo, list[Grade]]:
    """Read run.json and every grade of grades.jsonl from an output folder."""
    return read_run_info(out_dir), list(iter_grades(out_dir))
