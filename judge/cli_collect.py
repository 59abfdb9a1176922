"""The `collect` command: read a case file, then print the plan or run it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import click

from judge.cases import (
    CaseFileError,
    ModelSelectionError,
    expand_variants,
    parse_case_file,
    split_model_list,
)
from judge.dryrun import render_plan_json_lines, render_plan_text
from judge.plan import Variant, plan_requests


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


def _run_collect(cases: Path, variants: list[Variant]) -> None:
    # judge.collect is written separately. Until it exists, only --dry-run works.
    if importlib.util.find_spec("judge.collect") is None:
        raise click.ClickException(
            "collect without --dry-run is not available yet: "
            "add --dry-run to list the planned requests"
        )
    from judge.collect import run_collect

    run_collect(cases=cases, variants=variants)


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
def collect(
    cases: Path, model_values: tuple[str, ...], dry_run: bool, as_json: bool
) -> None:
    """Run a case file against a server and write a results JSONL.

    CASES is a case file in AFM's prompts-file format. A file with
    [@ label] template sections needs --model.

    \b
    Examples:
      afm-judge collect cases/demo.txt -m HuggingFaceTB/SmolLM2-135M-Instruct --dry-run
      afm-judge collect cases/sampling.txt --model org/a,org/b --dry-run --json
    """
    if as_json and not dry_run:
        raise click.UsageError("--json only applies with --dry-run: add --dry-run")
    models = _parse_models(model_values)

    try:
        case_file = parse_case_file(cases)
        variants = expand_variants(case_file, models)
    except ModelSelectionError as error:
        raise click.UsageError(str(error)) from None
    except CaseFileError as error:
        raise click.ClickException(str(error)) from None

    if dry_run:
        skipped = [section.title for section in case_file.skipped_sections]
        _print_dry_run(variants, skipped, as_json)
        return
    _run_collect(cases, variants)
