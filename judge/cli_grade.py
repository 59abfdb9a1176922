"""The `grade` and `compose` commands."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import click
import orjson
from click.core import ParameterSource

from judge.compose import compose_report
from judge.grade import (
    GRADES_FILE,
    RUN_INFO_FILE,
    NoRecordsError,
    default_out_dir,
    grade_run,
    read_run_info,
)
from judge.judge_config import (
    DEFAULT_MAX_CHARS,
    MODE_NAMES,
    JudgeEndpoint,
    JudgeOptions,
)
from judge.judge_prompt import PromptError
from judge.local_judge import LOCAL_JUDGE
from judge.runs import file_sha256
from judge.server import ServerStartError
from judge.summary import RunSummary
from judge.targets import TargetError

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


def _failure_reason(summary: RunSummary, fail_on: str | None) -> str | None:
    """Return why --fail-on makes grade exit 1, or None when it does not."""
    if fail_on == "fail" and summary.failed:
        return f"{summary.failed} record(s) with status FAIL"
    if fail_on == "afm_bug" and summary.categories.get("afm_bug", 0):
        return f"{summary.categories['afm_bug']} AFM-bug verdict(s)"
    not_ok = summary.records - summary.categories.get("ok", 0)
    if fail_on == "any" and not_ok:
        return f"{not_ok} verdict(s) other than ok"
    return None


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
    help="Structured-output mode [default: json_schema for api.openai.com, tools "
    "for every other endpoint].",
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
    "[default: the file named by --prompts in the run's test command, looked up "
    "from the current folder and from the run file's folder].",
)
@click.option(
    "--max-chars",
    type=click.IntRange(min=500),
    default=DEFAULT_MAX_CHARS,
    show_default=True,
    help="Characters of content plus reasoning the judge sees per record; "
    "longer text keeps its head and tail.",
)
@click.option(
    "--no-cache", is_flag=True, help="Ask the judge again even for cached records."
)
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
    judge_only = {
        "--judge-base-url": judge_base_url is not None,
        "--judge-mode": judge_mode is not None,
        "--prompts": prompts_dir is not None,
        "--cases": cases is not None,
        "--no-cache": no_cache,
        "--cache-dir": cache_dir is not None,
    }
    context = click.get_current_context()
    for name in ("concurrency", "judge_timeout", "max_chars"):
        source = context.get_parameter_source(name)
        judge_only["--" + name.replace("_", "-")] = source in (
            ParameterSource.COMMANDLINE,
            ParameterSource.ENVIRONMENT,
        )
    given_options = [name for name, present in judge_only.items() if present]
    if given_options and not judges:
        raise click.UsageError(
            f"{', '.join(given_options)} only applies to a judge model: add --judge MODEL "
            "or remove the option"
        )
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
    except (PromptError, TargetError, ServerStartError, NoRecordsError) as exc:
        raise click.ClickException(str(exc)) from exc
    except OSError as exc:
        if exc.filename is None:
            raise
        raise click.ClickException(
            f"cannot write {exc.filename}: {exc.strerror}; choose another folder "
            "with --out"
        ) from exc
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
            fallbacks = (
                f"; {summary.judge_fallbacks} kept the rules verdict after judge errors"
            )
        click.echo(
            f"Graded {summary.records} records of {run} "
            f"(mean score {summary.mean_score}{fallbacks}); grades in "
            f"{target / GRADES_FILE}",
            err=True,
        )
    reason = _failure_reason(summary, fail_on)
    if reason:
        click.echo(f"--fail-on {fail_on}: {reason}", err=True)
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
            model=name,
            base_url=base_url,
            api_key=api_key,
            mode=mode,
            timeout_s=timeout_s,
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
    if info.run_sha256 != file_sha256(run):
        # Stale grades would put scores on the wrong records of AFM's report.
        raise click.ClickException(
            f"{run} changed since it was graded (the grades in {target} belong to "
            f"another version of the file); run `afm-judge grade {run}` again"
        )
    try:
        path = compose_report(target)
    except OSError as exc:
        raise click.ClickException(
            f"cannot write the report in {target}: {exc}"
        ) from exc
    click.echo(str(path))
