"""Interrupting collect (SIGINT, SIGTERM, SIGKILL) and resuming the run."""

from __future__ import annotations

import json
import signal
import subprocess
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
from collect_support import (
    AFM_JUDGE,
    afm_collect_args,
    make_afm_wrapper,
    run_cli,
    standin_env,
    wait_for_no_processes,
    write_cases,
)

from judge.cases import load_variants
from judge.plan import plan_requests
from judge.runs import load_run

# Every request waits this long in the stand-in, so a kill lands mid-run.
REQUEST_DELAY_S = "0.3"
PROMPTS_PER_VARIANT = 4


def write_suite(folder: Path, model: str) -> Path:
    sections = []
    for label in ("first", "second", "third"):
        prompts = "\n".join(
            f"Request {number} of {label}." for number in range(PROMPTS_PER_VARIANT)
        )
        # A different seed flag per section forces a server restart each time.
        sections.append(
            f"[{model} @ {label}]\nafm: --seed {len(sections)}\n{prompts}\n"
        )
    return write_cases(folder, "max_tokens: 16\n\n" + "\n".join(sections))


def count_records(path: Path) -> int:
    if not path.exists():
        return 0
    return sum(1 for line in path.read_bytes().splitlines() if b'"record_id"' in line)


def start_collect(cases: Path, wrapper: Path, output: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [*AFM_JUDGE, *afm_collect_args(cases, wrapper, output, "-q")],
        env=standin_env("hang", STANDIN_HANG_S=REQUEST_DELAY_S),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_records(output: Path, count: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while count_records(output) < count:
        assert process.poll() is None, process.stderr.read()
        assert time.monotonic() < deadline, "collect wrote too few records"
        time.sleep(0.05)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_interrupted_run_resumes(tmp_path: Path, signum: int) -> None:
    model = f"test/resume-{uuid.uuid4().hex[:8]}"
    cases = write_suite(tmp_path, model)
    wrapper = make_afm_wrapper(tmp_path)
    output = tmp_path / "run.jsonl"
    planned = plan_requests(load_variants(cases))

    process = start_collect(cases, wrapper, output)
    # Kill in the second variant, with a server running and a request open.
    wait_for_records(output, PROMPTS_PER_VARIANT + 1, process)
    process.send_signal(signum)
    process.communicate(timeout=30)

    if signum == signal.SIGKILL:
        assert process.returncode == -signal.SIGKILL
    else:
        assert process.returncode == 130
        # A caught signal leaves a file that loads without a skipped line.
        interrupted = load_run(output)
        assert interrupted.skipped == []
        assert 0 < len(interrupted.records) < len(planned)
    # The reaper stops the server even when collect was killed outright.
    assert wait_for_no_processes(model) == []

    resumed = run_cli(
        afm_collect_args(cases, wrapper, output, "--resume", "-q"),
        env=standin_env("hang", STANDIN_HANG_S=REQUEST_DELAY_S),
    )
    assert resumed.returncode == 0, resumed.stderr
    assert wait_for_no_processes(model) == []

    run = load_run(output)
    assert run.skipped == []
    assert run.meta is not None
    stored_ids = [
        item["record_id"]
        for item in map(json.loads, output.read_text().splitlines())
        if not item.get("_meta")
    ]
    assert Counter(stored_ids).most_common(1)[0][1] == 1
    assert stored_ids == [p.record_id for p in planned]
    assert [record.prompt for record in run.records] == [p.prompt for p in planned]
    assert [record.status for record in run.records] == ["OK"] * len(planned)
    # The reader recomputes ids from file positions: they must match the stored ones.
    assert [record.record_id for record in run.records] == [
        p.record_id for p in planned
    ]
    assert output.read_bytes().count(b'"_meta"') == 1


def test_resume_cuts_partial_last_line(tmp_path: Path) -> None:
    model = f"test/partial-{uuid.uuid4().hex[:8]}"
    cases = write_cases(tmp_path, f"[{model} @ a]\nOne.\nTwo.\nThree.\n")
    wrapper = make_afm_wrapper(tmp_path)
    output = tmp_path / "run.jsonl"
    first = run_cli(
        afm_collect_args(cases, wrapper, output, "-q"),
        env=standin_env("ok"),
    )
    assert first.returncode == 0, first.stderr

    # Keep the meta line and the first record, then half of the second.
    lines = output.read_bytes().splitlines(keepends=True)
    output.write_bytes(b"".join(lines[:2]) + lines[2][: len(lines[2]) // 2])

    resumed = run_cli(
        afm_collect_args(cases, wrapper, output, "--resume"),
        env=standin_env("ok"),
    )
    assert resumed.returncode == 0, resumed.stderr
    assert "partial last line" in resumed.stderr
    run = load_run(output)
    assert run.skipped == []
    assert [record.prompt for record in run.records] == ["One.", "Two.", "Three."]


def test_resume_and_force_rejected(tmp_path: Path) -> None:
    cases = write_cases(tmp_path, "[test/x @ a]\nOne.\n")
    result = run_cli(
        ["collect", str(cases), "-o", str(tmp_path / "o.jsonl"), "--resume", "--force"]
    )
    assert result.returncode == 2
    assert "--resume and --force" in result.stderr


def test_resume_needs_output(tmp_path: Path) -> None:
    cases = write_cases(tmp_path, "[test/x @ a]\nOne.\n")
    result = run_cli(["collect", str(cases), "--resume"])
    assert result.returncode == 2
    assert "--resume needs -o FILE" in result.stderr


def test_normal_run_leaves_no_server(tmp_path: Path) -> None:
    model = f"test/clean-{uuid.uuid4().hex[:8]}"
    cases = write_suite(tmp_path, model)
    wrapper = make_afm_wrapper(tmp_path)
    result = run_cli(
        afm_collect_args(cases, wrapper, tmp_path / "o.jsonl", "-q"),
        env=standin_env("ok"),
    )
    assert result.returncode == 0, result.stderr
    # Three variants with different flags: three starts, each stopped.
    assert len(list((tmp_path / "o.logs").iterdir())) == 3
    assert wait_for_no_processes(model, timeout_s=0.5) == []


# Resuming only the plan the file was started with


def run_standin(
    cases: Path, wrapper: Path, output: Path, *extra: str
) -> subprocess.CompletedProcess[str]:
    return run_cli(
        afm_collect_args(cases, wrapper, output, "-q", *extra), env=standin_env("ok")
    )


def drop_last_record(output: Path) -> None:
    lines = output.read_bytes().splitlines(keepends=True)
    output.write_bytes(b"".join(lines[:-1]))


def test_resume_other_case_file_rejected(tmp_path: Path) -> None:
    wrapper = make_afm_wrapper(tmp_path)
    first = write_cases(tmp_path, "[test/plan @ a]\nOne.\nTwo.\n", "first.txt")
    other = write_cases(tmp_path, "[test/plan @ b]\nThree.\n", "other.txt")
    output = tmp_path / "run.jsonl"
    assert run_standin(first, wrapper, output).returncode == 0
    # A partial last line must survive a rejected resume as well.
    with output.open("ab") as handle:
        handle.write(b'{"model": "test/plan @ a", "pro')
    before = output.read_bytes()

    result = run_standin(other, wrapper, output, "--resume")
    assert result.returncode == 1
    assert f"cannot resume {output}" in result.stderr
    assert f"it was collected from {first}, this run reads {other}" in result.stderr
    assert "it plans 2 requests, this run 1" in result.stderr
    assert "2 of its 2 records are not in this run's plan" in result.stderr
    assert "--force" in result.stderr
    assert "-o another file" in result.stderr
    assert output.read_bytes() == before


@pytest.mark.parametrize(
    ("edit", "extra", "difference"),
    [
        ("max_tokens: 8", (), "has max_tokens 160 in the file and 8 now"),
        (
            "max_tokens: 160",
            ("--max-tokens", "8"),
            "has max_tokens 160 in the file and 8 now",
        ),
        ("max_tokens: 160", ("--stream",), "has stream false in the file and true now"),
        (
            'max_tokens: 160\nstop: ["3."]',
            (),
            'has stop unset in the file and ["3."] now',
        ),
    ],
)
def test_resume_changed_settings_rejected(
    tmp_path: Path, edit: str, extra: tuple[str, ...], difference: str
) -> None:
    wrapper = make_afm_wrapper(tmp_path)
    text = "max_tokens: 160\n\n[test/plan @ a]\nOne.\nTwo.\n"
    cases = write_cases(tmp_path, text)
    output = tmp_path / "run.jsonl"
    assert run_standin(cases, wrapper, output).returncode == 0
    drop_last_record(output)
    before = output.read_bytes()

    write_cases(tmp_path, text.replace("max_tokens: 160", edit))
    result = run_standin(cases, wrapper, output, "--resume", *extra)
    assert result.returncode == 1
    assert f"cannot resume {output}: it was collected with another plan" in (
        result.stderr
    )
    assert "request #0 (test/plan @ a) " + difference in result.stderr
    assert output.read_bytes() == before


def test_resume_same_plan_continues(tmp_path: Path) -> None:
    wrapper = make_afm_wrapper(tmp_path)
    cases = write_cases(tmp_path, "max_tokens: 16\n\n[test/plan @ a]\nOne.\nTwo.\n")
    output = tmp_path / "run.jsonl"
    # --no-stream equals an unset stream, so the resumed run may add it.
    assert run_standin(cases, wrapper, output).returncode == 0
    drop_last_record(output)

    result = run_cli(
        afm_collect_args(cases, wrapper, output, "--resume", "--no-stream"),
        env=standin_env("ok"),
    )
    assert result.returncode == 0, result.stderr
    assert "1 already in the file" in result.stderr
    run = load_run(output)
    assert [record.prompt for record in run.records] == ["One.", "Two."]
    assert [record.status for record in run.records] == ["OK", "OK"]
    assert run.meta is not None
    assert run.meta.model_extra["cases_file"] == str(cases)
    assert run.meta.model_extra["planned_requests"] == 2
    assert len(run.meta.model_extra["plan_sha256"]) == 64
    assert output.read_bytes().count(b'"_meta"') == 1


def test_resume_without_plan_hash_rejected(tmp_path: Path) -> None:
    wrapper = make_afm_wrapper(tmp_path)
    cases = write_cases(tmp_path, "[test/plan @ a]\nOne.\nTwo.\n")
    output = tmp_path / "run.jsonl"
    assert run_standin(cases, wrapper, output).returncode == 0
    drop_last_record(output)
    # A file from before plan_sha256 existed: the same lines, older _meta.
    lines = output.read_text().splitlines(keepends=True)
    meta = json.loads(lines[0])
    del meta["plan_sha256"]
    output.write_text(json.dumps(meta) + "\n" + "".join(lines[1:]))

    result = run_standin(cases, wrapper, output, "--resume")
    assert result.returncode == 1
    assert "has no plan_sha256 in its _meta line" in result.stderr
    assert "--force" in result.stderr
    # The reader still loads such a file.
    assert len(load_run(output).records) == 1
