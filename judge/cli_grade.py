"""The `grade` and `compose` commands."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click
import orjson

from judge.compose import compose_report
from judge.grade import GRADES_FILE, RUN_INFO_FILE, default_out_dir, grade_run, read_grades
from judge.runs import file_sha256
from judge.summary import RunSummary

log = logging.getLogger(__name__)

RUN_ARGUMENT = click.argument(
    "run", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
OUT_OPTION = click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Output folder of the run [default: outputs/<run-name>/].",
)

FAIL_ON_CHOICES = ("fail", "afm_bug", "any")


def _should_fail(summary: RunSummary, fail_on: str | None) -> bool:
    if fail_on == "fail":
        return summary.failed > 0
    if fail_on == "afm_bug":
        return summary.categories.get("afm_bug", 0) > 0
    if fail_on == "any":
        return summary.records - summary.categories.get("ok", 0) > 0
    return False


@click.command()
@RUN_ARGUMENT
@OUT_OPTION
@click.option(
    "--judge",
    "judges",
    multiple=True,
    metavar="MODEL",
    help="Judge model (repeatable). Without it, the built-in rules judge grades offline.",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary on stdout.")
@click.option(
    "--fail-on",
    type=click.Choice(FAIL_ON_CHOICES),
    help="Exit 1 when the run has FAIL records (fail), AFM-bug verdicts (afm_bug) "
    "or any verdict other than ok (any).",
)
def grade(
    run: Path,
    out_dir: Path | None,
    judges: tuple[str, ...],
    as_json: bool,
    fail_on: str | None,
) -> None:
    """Give every record of RUN a verdict and write grades.jsonl.

    RUN is a results JSONL in AFM's format. The verdicts, run facts and a
    summary go to the output folder, where `compose` reads them.

    Example: afm-judge grade outputs/stop-suite.jsonl --json
    """
    if judges:
        raise click.UsageError(
            "--judge is not available yet; run without it for the rules judge"
        )
    target, summary = grade_run(run, out_dir)

    if as_json:
        sys.stdout.write(orjson.dumps(summary.model_dump(mode="json")).decode() + "\n")
    else:
        click.echo(
            f"Graded {summary.records} records of {run} "
            f"(mean score {summary.mean_score}); grades in {target / GRADES_FILE}",
            err=True,
        )
    if _should_fail(summary, fail_on):
        sys.exit(1)


@click.command()
@RUN_ARGUMENT
@OUT_OPTION
def compose(run: Path, out_dir: Path | None) -> None:
    """Write the compatibility report for RUN from its grades.

    Reads grades.jsonl and run.json in the output folder (run `grade` first)
    and writes report.md and summary.json there.

    Example: afm-judge compose outputs/stop-suite.jsonl
    """
    target = out_dir or default_out_dir(run)
    if not (target / GRADES_FILE).is_file() or not (target / RUN_INFO_FILE).is_file():
        raise click.ClickException(
            f"no grades found in {target}; run `afm-judge grade {run}` first"
        )
    info, _ = read_grades(target)
    if info.run_sha256 and info.run_sha256 != file_sha256(run):
        log.warning(
            "%s changed since it was graded; run `afm-judge grade %s` again for "
            "an up-to-date report",
            run,
            run,
        )
    path = compose_report(target)
    click.echo(str(path))
