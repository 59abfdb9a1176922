"""The `grade` and `compose` commands."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import click
import orjson

from judge.compose import compose_report
from judge.grade import (
    GRADES_FILE,
    RUN_INFO_FILE,
    default_out_dir,
    grade_run,
    read_run_info,
)
from judge.judge_config import DEFAULT_MAX_CHARS, MODE_NAMES, JudgeEndpoint, JudgeOptions
from judge.judge_prompt import PromptError
from judge.local_judge import LOCAL_JUDGE
from judge.runs import file_sha256
from judge.server import ServerStartError
from judge.targets import TargetError
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
    help="Judge model, repeatable for a panel; 'local' starts the embedded "
    "SmolLM2 engine. Without it, the built-in rules judge grades offline.",
)
@click.option(
    "--judge-base-url",
    metavar="URL",
    help="OpenAI-compatible endpoint of the judge models "
    "[default: $OPENAI_BASE_URL, else OpenAI].",
)
@click.option(
    "--judge-api-key-env",
    metavar="NAME",
    default="OPENAI_API_KEY",
    show_default=True,
    help="Environment variable that contains the judge's API key.",
)
@click.option(
    "--judge-mode",
    type=click.Choice(MODE_NAMES),
    help="Structured-output mode [default: json_schema for OpenAI, tools elsewhere].",
)
@click.option(
    "--judge-timeout",
    type=click.FloatRange(min=1),
    default=120.0,
    show_default=True,
    help="Seconds to wait for one judge response before retrying.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    default=8,
    show_default=True,
    help="Judge requests in flight at once.",
)
@click.option(
    "--prompts",
    "prompts_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Folder with system.md and record.md to use instead of the built-in prompts.",
)
@click.option(
    "--cases",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Case file whose section comments give each variant's intent "
    "[default: the file named in the run's test command, when it exists].",
)
@click.option(
    "--max-chars",
    type=click.IntRange(min=500),
    default=DEFAULT_MAX_CHARS,
    show_default=True,
    help="Characters of content plus reasoning the judge sees per record; "
    "longer text keeps its head and tail.",
)
@click.option("--no-cache", is_flag=True, help="Ask the judge again even for cached records.")
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Verdict cache folder [default: $AFM_JUDGE_CACHE_DIR or ~/.cache/afm-judge].",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary on stdout.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
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
    judge_base_url: str | None,
    judge_api_key_env: str,
    judge_mode: str | None,
    judge_timeout: float,
    concurrency: int,
    prompts_dir: Path | None,
    cases: Path | None,
    max_chars: int,
    no_cache: bool,
    cache_dir: Path | None,
    as_json: bool,
    quiet: bool,
    fail_on: str | None,
) -> None:
    """Give every record of RUN a verdict and write grades.jsonl.

    RUN is a results JSONL in AFM's format. The verdicts, run facts and a
    summary go to the output folder, where `compose` reads them.

    \b
    Examples:
      afm-judge grade outputs/stop-suite.jsonl            # rules judge, offline
      afm-judge grade outputs/stop-suite.jsonl --judge gpt-4o
      afm-judge grade run.jsonl --judge gpt-4o --judge gpt-4.1-mini   # panel
      afm-judge grade run.jsonl --judge local             # embedded SmolLM2
    """
    options = None
    if judges:
        options = JudgeOptions(
            judges=_judge_endpoints(
                judges, judge_base_url, judge_api_key_env, judge_mode, judge_timeout
            ),
            prompts_dir=prompts_dir,
            cases=cases,
            max_chars=max_chars,
            concurrency=concurrency,
            cache_dir=cache_dir,
            use_cache=not no_cache,
            show_progress=not quiet,
        )
    try:
        target, summary = grade_run(run, out_dir, options)
    except (PromptError, TargetError, ServerStartError) as exc:
        raise click.ClickException(str(exc)) from exc
    except KeyboardInterrupt:
        message = "Interrupted: no grades were written."
        if options is not None:
            message += (
                " The judge answers received so far are cached, so running the"
                " same command again continues from there."
            )
        click.echo(message, err=True)
        sys.exit(130)

    if as_json:
        sys.stdout.write(orjson.dumps(summary.model_dump(mode="json")).decode() + "\n")
    else:
        fallbacks = ""
        if summary.judge_fallbacks:
            fallbacks = f"; {summary.judge_fallbacks} kept the rules verdict after judge errors"
        click.echo(
            f"Graded {summary.records} records of {run} "
            f"(mean score {summary.mean_score}{fallbacks}); grades in "
            f"{target / GRADES_FILE}",
            err=True,
        )
    if _should_fail(summary, fail_on):
        sys.exit(1)


def _judge_endpoints(
    judges: tuple[str, ...],
    base_url: str | None,
    api_key_env: str,
    mode: str | None,
    timeout_s: float,
) -> list[JudgeEndpoint | str]:
    """Turn --judge values into endpoints; 'local' stays a name for grade to start."""
    endpoints: list[JudgeEndpoint | str] = []
    for name in dict.fromkeys(judges):
        if name == LOCAL_JUDGE:
            endpoints.append(LOCAL_JUDGE)
            continue
        api_key = os.environ.get(api_key_env)
        endpoint = JudgeEndpoint(
            model=name, base_url=base_url, api_key=api_key, mode=mode, timeout_s=timeout_s
        )
        if not api_key and "api.openai.com" in endpoint.endpoint:
            raise click.UsageError(
                f"--judge {name} calls {endpoint.endpoint}, but the environment "
                f"variable {api_key_env} is not set: export it, name another "
                "variable with --judge-api-key-env, or use --judge-base-url"
            )
        endpoints.append(endpoint)
    return endpoints


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
    info = read_run_info(target)
    if info.run_sha256 and info.run_sha256 != file_sha256(run):
        log.warning(
            "%s changed since it was graded; run `afm-judge grade %s` again for "
            "an up-to-date report",
            run,
            run,
        )
    path = compose_report(target)
    click.echo(str(path))
