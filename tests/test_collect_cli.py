"""collect's command line: the dry-run plan against the real run."""

from __future__ import annotations

import json
from pathlib import Path

from collect_support import (
    afm_collect_args,
    make_afm_wrapper,
    run_cli,
    standin_env,
    write_cases,
)

from judge.runs import load_run

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
