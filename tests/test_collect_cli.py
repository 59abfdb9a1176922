"""collect's command line: the dry-run plan against the real run, -q and summaries."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from collect_support import (
    afm_collect_args,
    make_afm_wrapper,
    run_cli,
    standin_env,
    write_cases,
)
from test_collect_faults import TWO_VARIANTS

from judge.runs import load_run
from judge.server import pick_free_port

SUITE = """\
max_tokens: 48

[test/cli @ plain]
One.

[test/cli @ streamed]
stream: true
max_tokens: 64
Two.
"""


def test_dry_run_applies_overrides(tmp_path: Path) -> None:
    cases = write_cases(tmp_path, SUITE)
    options = ["--max-tokens", "5", "--no-stream"]
    text = run_cli(["collect", str(cases), "--dry-run", *options])
    assert text.returncode == 0, text.stderr
    assert text.stdout.count("max_tokens=5 stream=false") == 2
    assert "max_tokens=48" not in text.stdout
    assert "max_tokens=64" not in text.stdout

    listing = run_cli(["collect", str(cases), "--dry-run", "--json", "--stream"])
    assert listing.returncode == 0, listing.stderr
    plans = [json.loads(line) for line in listing.stdout.splitlines()]
    assert [plan["params"]["stream"] for plan in plans] == [True, True]
    assert [plan["params"]["max_tokens"] for plan in plans] == [48, 64]


def test_dry_run_matches_sent_requests(tmp_path: Path) -> None:
    cases = write_cases(tmp_path, SUITE)
    options = ["--max-tokens", "7", "--stream"]
    listing = run_cli(["collect", str(cases), "--dry-run", "--json", *options])
    assert listing.returncode == 0, listing.stderr
    plans = [json.loads(line) for line in listing.stdout.splitlines()]

    wrapper = make_afm_wrapper(tmp_path)
    output = tmp_path / "run.jsonl"
    request_log = tmp_path / "requests.jsonl"
    result = run_cli(
        afm_collect_args(cases, wrapper, output, "-q", *options),
        env=standin_env("ok", STANDIN_REQUEST_LOG=str(request_log)),
    )
    assert result.returncode == 0, result.stderr
    sent = [json.loads(line) for line in request_log.read_text().splitlines()]
    records = load_run(output).records

    assert len(plans) == len(sent) == len(records) == 2
    for plan, request, record in zip(plans, sent, records, strict=True):
        assert request["max_tokens"] == plan["params"]["max_tokens"] == 7
        assert request.get("stream", False) is plan["params"]["stream"] is True
        assert record.max_tokens == 7
        assert record.stream is True
        assert record.record_id == plan["record_id"]


def collect_unreachable(
    tmp_path: Path, *extra: str
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """Run SUITE against a free port where nothing listens: every request fails."""
    cases = write_cases(tmp_path, SUITE)
    output = tmp_path / "run.jsonl"
    base_url = f"http://127.0.0.1:{pick_free_port()}/v1"
    args = ["collect", str(cases), "--base-url", base_url, "-o", str(output)]
    return output, run_cli([*args, *extra])


def test_quiet_prints_only_path(tmp_path: Path) -> None:
    output, result = collect_unreachable(tmp_path, "-q")
    assert result.returncode == 0
    assert result.stdout == f"{output}\n"
    assert result.stderr == ""
    assert [record.status for record in load_run(output).records] == ["FAIL", "FAIL"]


def test_quiet_hides_server_start_failure(tmp_path: Path) -> None:
    wrapper = make_afm_wrapper(tmp_path)
    cases = write_cases(tmp_path, TWO_VARIANTS)
    output = tmp_path / "run.jsonl"
    result = run_cli(
        afm_collect_args(cases, wrapper, output, "-q"), env=standin_env("ok")
    )
    assert result.returncode == 0
    assert result.stdout == f"{output}\n"
    assert result.stderr == ""


def test_each_failure_shown_once(tmp_path: Path) -> None:
    _, result = collect_unreachable(tmp_path)
    assert result.returncode == 0
    lines = result.stderr.splitlines()
    fail_lines = [line for line in lines if line.startswith("FAIL ")]
    assert len(fail_lines) == 2
    assert "Connection refused" in fail_lines[0]
    assert "WARNING" not in result.stderr
    assert "ERROR" not in result.stderr
    # Two per-request lines plus the first error quoted by the summary.
    assert result.stderr.count("Connection refused") == 3
    assert lines[-1].startswith("collect: all 2 requests FAILED (in ")
    assert "first error: Connection error." in lines[-1]


def test_partial_failure_summary(tmp_path: Path) -> None:
    wrapper = make_afm_wrapper(tmp_path)
    cases = write_cases(tmp_path, TWO_VARIANTS)
    output = tmp_path / "run.jsonl"
    result = run_cli(afm_collect_args(cases, wrapper, output), env=standin_env("ok"))
    assert result.returncode == 0, result.stderr
    last = result.stderr.splitlines()[-1]
    assert last.startswith("collect: 3 requests: 1 OK, 2 FAIL (in ")
    assert last.endswith("0 already in the file, 2 server starts)")
    # The start failure shows in the two FAIL lines only, not in a log line too.
    assert result.stderr.count("Unknown option") == 2


def test_fail_on_fail_after_all_failed(tmp_path: Path) -> None:
    output, result = collect_unreachable(tmp_path, "-q", "--fail-on", "fail")
    assert result.returncode == 1
    assert result.stdout == f"{output}\n"
    assert result.stderr == f"2 FAIL record(s) in {output}\n"
