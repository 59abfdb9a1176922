"""Run planned requests against a server and write the results file.

`run_collect` is the whole running half of the `collect` command: it opens the
output (new, forced or resumed), starts servers as variants need them, sends
every request that the file does not hold yet and writes one line per request.
Servers are stopped on every way out: the end, an error, Ctrl-C and SIGTERM.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from judge import __version__
from judge.chat_request import MediaError, build_body, build_messages, send_chat
from judge.chat_response import ResponseError
from judge.collect_record import RecordContext, fail_record, ok_record
from judge.plan import PlannedRequest, Variant, plan_requests
from judge.progress import CollectProgress
from judge.resume_check import check_same_plan, plan_meta
from judge.run_writer import ExistingRun, RunWriter
from judge.server_pool import ServerLease, ServerPool
from judge.targets import Target

log = logging.getLogger(__name__)

# NOTE: defaults sized for AFM loading large MLX models from disk (and maybe
# downloading them first) and for long reasoning outputs on Apple Silicon.
DEFAULT_LOAD_TIMEOUT_S = 600.0
DEFAULT_REQUEST_TIMEOUT_S = 600.0


@dataclass
class CollectOptions:
    """Settings of a collect run, with the CLI's defaults."""

    load_timeout_s: float = DEFAULT_LOAD_TIMEOUT_S
    request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S
    resume: bool = False
    force: bool = False
    quiet: bool = False
    # Replaces every variant's `stream` parameter. None: each variant's own
    # value decides, and unset means off, as in AFM's own harness.
    stream: bool | None = None
    # Replaces every variant's max_tokens (and max_completion_tokens).
    max_tokens: int | None = None
    test_command: str = ""
    # Folder for the server logs; default: "<output stem>.logs" beside it.
    log_dir: Path | None = None


@dataclass
class CollectSummary:
    """Counts and times of one collect run (this invocation only)."""

    output: Path
    planned: int = 0
    already_done: int = 0
    ok: int = 0
    failed: int = 0
    server_starts: int = 0
    server_start_s: float = 0.0
    gen_time_s: float = 0.0
    wall_s: float = 0.0
    interrupted: bool = False
    records: list[dict[str, Any]] = field(default_factory=list, repr=False)

    @property
    def written(self) -> int:
        return self.ok + self.failed


def default_output(cases: Path, now: datetime | None = None) -> Path:
    """Return outputs/<cases stem>-<UTC timestamp>.jsonl (relative to the cwd)."""
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
    return Path("outputs") / f"{cases.stem}-{stamp}.jsonl"


def apply_overrides(
    variants: list[Variant], max_tokens: int | None, stream: bool | None
) -> list[Variant]:
    """Return `variants` with the command line's --max-tokens and --stream applied.

    Both the dry run and the real run go through here, so the plan that
    --dry-run prints carries the parameters that are sent. None leaves a
    setting as the case file has it.
    """
    if max_tokens is not None:
        variants = override_max_tokens(variants, max_tokens)
    if stream is not None:
        variants = [
            variant.model_copy(
                update={"params": variant.params.model_copy(update={"stream": stream})}
            )
            for variant in variants
        ]
    return variants


def override_max_tokens(variants: list[Variant], max_tokens: int) -> list[Variant]:
    """Return copies of `variants` whose token budget is `max_tokens`."""
    changed = []
    for variant in variants:
        update: dict[str, Any] = {"max_tokens": max_tokens}
        if variant.params.max_completion_tokens is not None:
            update["max_completion_tokens"] = max_tokens
        params = variant.params.model_copy(update=update)
        changed.append(variant.model_copy(update={"params": params}))
    return changed


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into KeyboardInterrupt, so both take the same cleanup path."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_collect(
    *,
    cases: Path,
    variants: list[Variant],
    target: Target,
    output: Path | None = None,
    options: CollectOptions | None = None,
) -> CollectSummary:
    """Send every planned request of `variants` and append its record to `output`.

    Raises run_writer.OutputFileError when the output exists and neither
    `resume` nor `force` is set, and when `resume` finds a file collected with
    another plan (see judge.resume_check). On Ctrl-C or SIGTERM the server is
    stopped, the file keeps every record written so far, and the summary comes
    back with `interrupted` set.
    """
    options = options or CollectOptions()
    variants = apply_overrides(variants, options.max_tokens, options.stream)
    output = output or default_output(cases)
    planned = plan_requests(variants)
    summary = CollectSummary(output=output, planned=len(planned))
    started = time.monotonic()

    meta = {
        **target.run_meta(),
        "test_command": options.test_command or f"afm-judge collect {cases}",
        "timestamp": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "judge_version": __version__,
        "server": target.kind,
        **plan_meta(cases, planned),
    }

    def check_resume(existing: ExistingRun) -> None:
        check_same_plan(output, existing, meta, planned)

    writer, done = RunWriter.open(
        output,
        meta,
        resume=options.resume,
        force=options.force,
        check_resume=check_resume,
    )
    todo = [request for request in planned if request.record_id not in done]
    summary.already_done = len(planned) - len(todo)
    if summary.already_done:
        log.info(
            "%s: %d of %d requests already done",
            output,
            summary.already_done,
            len(planned),
        )

    log_dir = options.log_dir or output.parent / f"{output.stem}.logs"
    pool = ServerPool(
        target, log_dir, options.load_timeout_s, options.request_timeout_s
    )
    progress = CollectProgress(len(planned), summary.already_done, options.quiet)
    try:
        with sigterm_as_interrupt(), progress:
            _run_requests(
                todo, variants, target, pool, writer, progress, options, summary
            )
    except KeyboardInterrupt:
        summary.interrupted = True
        log.warning("interrupted; %s has every record written so far", output)
    finally:
        pool.stop()
        writer.close()
        summary.server_starts = pool.starts
        summary.server_start_s = pool.start_time_s
        summary.wall_s = time.monotonic() - started
    return summary


def _run_requests(
    todo: list[PlannedRequest],
    variants: list[Variant],
    target: Target,
    pool: ServerPool,
    writer: RunWriter,
    progress: CollectProgress,
    options: CollectOptions,
    summary: CollectSummary,
) -> None:
    variant_numbers = {
        id(variant): number for number, variant in enumerate(variants, 1)
    }
    current: Variant | None = None
    lease: ServerLease | None = None
    context: RecordContext | None = None
    for planned in todo:
        variant = planned.variant
        if variant is not current:
            current = variant
            lease = pool.lease(variant, variant_numbers[id(variant)])
            context = _variant_context(variant, target, lease)
        elif lease is not None and lease.server_exit() is not None:
            # The server died during this variant: start it again.
            lease = pool.lease(variant, variant_numbers[id(variant)])
            context = _variant_context(variant, target, lease)
        assert lease is not None and context is not None

        record = _run_one(planned, target, lease, context, options.request_timeout_s)
        writer.write(record)
        summary.records.append(record)
        if record["status"] == "OK":
            summary.ok += 1
        else:
            summary.failed += 1
        summary.gen_time_s += record.get("gen_time_s") or 0.0
        progress.record_written(record)
        # Later requests of a variant did not wait for the server start.
        context.load_time_s = 0.0


def _variant_context(
    variant: Variant, target: Target, lease: ServerLease
) -> RecordContext:
    not_applied = target.translate_flags(variant).not_applied
    if not_applied:
        log.warning(
            "%s: server flags not applied by the %s target: %s",
            variant.record_model,
            target.kind,
            " ".join(not_applied),
        )
    return RecordContext(
        load_time_s=lease.load_time_s,
        stream=bool(variant.params.stream),
        server_log=str(lease.log_path.resolve()) if lease.log_path else None,
        not_applied=not_applied,
    )


def _run_one(
    planned: PlannedRequest,
    target: Target,
    lease: ServerLease,
    context: RecordContext,
    request_timeout_s: float,
) -> dict[str, Any]:
    """Send one request; return its OK or FAIL record."""
    if lease.error or lease.client is None:
        return fail_record(planned, lease.error, context)

    variant = planned.variant
    try:
        messages = build_messages(variant.params, planned.prompt, target.system_as_flag)
    except MediaError as exc:
        return fail_record(planned, str(exc), context)
    # Loaded by the pool's client by now; imported here so that importing
    # this module does not cost the SDK's import time.
    import httpx2
    import openai

    body = target.adapt_request(
        build_body(variant.params, target.translate_flags(variant))
    )

    try:
        outcome = send_chat(lease.client, variant.model, messages, body, context.stream)
    except ResponseError as exc:
        error = str(exc)
    except (openai.APITimeoutError, httpx2.TimeoutException):
        # httpx2 raises its own timeout while a body is read after the headers.
        error = f"Request timed out after {request_timeout_s:g} s (--request-timeout)"
    except openai.APIConnectionError as exc:
        error = _connection_error(exc.__cause__ or exc, lease)
    except openai.APIStatusError as exc:
        error = str(exc)
    except openai.OpenAIError as exc:
        error = f"{type(exc).__name__}: {exc}"
    except httpx2.HTTPError as exc:
        # Raised while a stream is read: the SDK wraps only the first response.
        error = _connection_error(exc, lease)
    else:
        return ok_record(planned, outcome, context)
    # The progress line shows the failure, so the log has it at debug level only.
    log.debug("request %d (%s) failed: %s", planned.index, variant.record_model, error)
    return fail_record(planned, error, context)


def _connection_error(cause: BaseException, lease: ServerLease) -> str:
    """Return "Connection error." with the cause and, if it died, the server's exit."""
    # Give a crashing server a moment to exit, so its log line can be quoted.
    time.sleep(0.2)
    detail = str(cause).strip()
    error = "Connection error." + (
        f" {detail}" if detail and detail != "Connection error." else ""
    )
    exit_reason = lease.server_exit()
    if exit_reason:
        error += f" ({exit_reason})"
    return error
