"""collect against the scripted stand-in server: start failures, drops, timeouts."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from collect_support import (
    STANDIN,
    afm_collect_args,
    make_afm_wrapper,
    run_cli,
    standin_env,
    wait_for_no_processes,
    write_cases,
)

from judge.runs import load_run
from judge.server import pick_free_port, probe

TWO_VARIANTS = """\
max_tokens: 32
temperature: 0.0

[test/faults @ rejected-flag]
afm: --stop "3."
List 10 colors, numbered 1 through 10, one per line.
List 10 fruits, numbered 1 through 10, one per line.

[test/faults @ plain]
stop: ["3."]
List 10 animals, numbered 1 through 10, one per line.
"""


def collect_standin(
    tmp_path: Path, cases_text: str, scenario: str, *extra: str, **env: str
) -> tuple[Path, object]:
    wrapper = make_afm_wrapper(tmp_path)
    cases = write_cases(tmp_path, cases_text)
    output = tmp_path / "run.jsonl"
    result = run_cli(
        afm_collect_args(cases, wrapper, output, "-q", *extra),
        env=standin_env(scenario, **env),
    )
    return output, result


def test_unknown_option_gives_fail_records(tmp_path: Path) -> None:
    output, result = collect_standin(tmp_path, TWO_VARIANTS, "ok")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(output)

    run = load_run(output)
    assert run.skipped == []
    assert [record.status for record in run.records] == ["FAIL", "FAIL", "OK"]
    for record in run.records[:2]:
        assert record.error == "Error: Unknown option '--stop'"
        assert record.afm_args == '--stop "3."'
        assert record.server_log is not None
        assert "Unknown option" in Path(record.server_log).read_text()
    assert run.records[2].content == "1. Red\n2. Blue\n"
    assert run.records[2].finish_reason == "stop"


def test_unknown_option_server_started_once(tmp_path: Path) -> None:
    output, result = collect_standin(tmp_path, TWO_VARIANTS, "ok")
    assert result.returncode == 0, result.stderr
    log_dir = tmp_path / "run.logs"
    logs = sorted(path.name for path in log_dir.iterdir())
    # One failed start for the two requests of the first variant, then one
    # start for the second variant.
    assert logs == ["001-rejected-flag.log", "002-plain.log"]
    assert (log_dir / "001-rejected-flag.log").read_text().count("# afm-judge") == 1


def test_dropped_connection_fails_and_continues(tmp_path: Path) -> None:
    cases = """\
max_tokens: 32

[test/faults @ drops]
First request, answered.
DROP this one.
Third request, answered.

[test/faults @ drops-streamed]
stream: true
DROP this streamed one.
Fifth request, answered.
"""
    output, result = collect_standin(tmp_path, cases, "drop")
    assert result.returncode == 0, result.stderr

    run = load_run(output)
    statuses = [record.status for record in run.records]
    assert statuses == ["OK", "FAIL", "OK", "FAIL", "OK"]
    assert run.records[1].error.startswith("Connection error.")
    assert run.records[3].error.startswith("Connection error.")
    assert "incomplete chunked read" in run.records[3].error
    assert run.records[3].stream is True
    assert run.records[4].content.startswith("1. Red")


def test_crashed_server_is_restarted(tmp_path: Path) -> None:
    cases = """\
[test/faults @ crash]
CRASH now.
Answered by a new server.
"""
    output, result = collect_standin(tmp_path, cases, "crash")
    assert result.returncode == 0, result.stderr

    run = load_run(output)
    assert [record.status for record in run.records] == ["FAIL", "OK"]
    error = run.records[0].error
    assert error.startswith("Connection error.")
    assert "server exited with code 70" in error
    assert "fatal error: simulated crash" in error
    log_text = Path(run.records[1].server_log).read_text()
    assert log_text.count("# afm-judge") == 2


def test_slow_health_hits_load_timeout(tmp_path: Path) -> None:
    cases = "[test/faults @ slow]\nNever sent.\nNever sent either.\n"
    started = time.monotonic()
    output, result = collect_standin(
        tmp_path, cases, "slow-health", "--load-timeout", "1", STANDIN_HEALTH_DELAY="30"
    )
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    # The stand-in would listen after 30 s; collect must give up after ~1 s.
    assert elapsed < 15

    run = load_run(output)
    assert [record.status for record in run.records] == ["FAIL", "FAIL"]
    error = run.records[0].error
    assert error.startswith("server not healthy within 1 s: raise --load-timeout")
    assert "standin: model test/faults" in error
    assert run.records[0].load_time_s is not None
    assert run.records[0].load_time_s >= 1.0
    assert wait_for_no_processes("test/faults") == []


def test_request_timeout_gives_fail(tmp_path: Path) -> None:
    cases = "[test/faults @ hang]\nWaits too long.\n"
    output, result = collect_standin(
        tmp_path, cases, "hang", "--request-timeout", "0.5", STANDIN_HANG_S="5"
    )
    assert result.returncode == 0, result.stderr
    record = load_run(output).records[0]
    assert record.status == "FAIL"
    assert record.error == "Request timed out after 0.5 s (--request-timeout)"


def test_reasoning_captured_from_stream_deltas(tmp_path: Path) -> None:
    cases = """\
[test/faults @ think-streamed]
stream: true
List colours.

[test/faults @ think-plain]
List colours.
"""
    output, result = collect_standin(tmp_path, cases, "reasoning")
    assert result.returncode == 0, result.stderr

    streamed, plain = load_run(output).records
    expected = "The user wants colours. I will list five."
    assert streamed.reasoning_content == expected
    assert plain.reasoning_content == expected
    assert streamed.content == plain.content
    assert streamed.content.startswith("1. Red")
    assert streamed.ttft_s is not None
    assert plain.ttft_s is None
    # The stand-in sends a usage chunk when asked with include_usage.
    assert streamed.completion_tokens == plain.completion_tokens


def test_tool_calls_captured_both_modes(tmp_path: Path) -> None:
    tools = (
        '[{"type": "function", "function": {"name": "get_weather", '
        '"parameters": {"type": "object", '
        '"properties": {"city": {"type": "string"}}}}}]'
    )
    cases = f"""\
tools: {tools}

[test/faults @ tool-streamed]
stream: true
Weather in Paris?

[test/faults @ tool-plain]
Weather in Paris?
"""
    output, result = collect_standin(tmp_path, cases, "tools")
    assert result.returncode == 0, result.stderr

    expected = [
        {
            "id": "call_1",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
        }
    ]
    streamed, plain = load_run(output).records
    for record in (streamed, plain):
        assert record.status == "OK", record.error
        assert record.finish_reason == "tool_calls"
        assert record.content == ""
        assert record.tool_calls == expected
        assert record.model_extra["tools"][0]["function"]["name"] == "get_weather"


def test_request_carries_params_and_system(tmp_path: Path) -> None:
    cases = """\
[test/faults @ params]
system: Be brief.
developer: Answer in English.
top_k: 40
min_p: 0.05
repetition_penalty: 1.1
seed: 7
stop: ["3."]
stream: true
List colours.
"""
    request_log = tmp_path / "requests.jsonl"
    output, result = collect_standin(
        tmp_path, cases, "ok", STANDIN_REQUEST_LOG=str(request_log)
    )
    assert result.returncode == 0, result.stderr

    (request,) = [json.loads(line) for line in request_log.read_text().splitlines()]
    # AFM gets the system prompt as its -i flag, so it is not a message.
    assert [message["role"] for message in request["messages"]] == [
        "developer",
        "user",
    ]
    assert request["top_k"] == 40
    assert request["min_p"] == 0.05
    assert request["repetition_penalty"] == 1.1
    assert request["seed"] == 7
    assert request["stop"] == ["3."]
    assert request["stream"] is True
    assert request["stream_options"] == {"include_usage": True}
    log_text = (tmp_path / "run.logs" / "001-params.log").read_text()
    assert "-i 'Be brief.'" in log_text

    record = load_run(output).records[0]
    assert record.system_prompt == "Be brief."
    assert record.top_k == 40
    assert record.stream is True


def test_existing_output_rejected(tmp_path: Path) -> None:
    output, first = collect_standin(tmp_path, "[test/faults @ a]\nHello.\n", "ok")
    assert first.returncode == 0, first.stderr
    before = output.read_bytes()

    _, second = collect_standin(tmp_path, "[test/faults @ a]\nHello.\n", "ok")
    assert second.returncode == 1
    assert str(output) in second.stderr
    assert "--resume" in second.stderr
    assert "--force" in second.stderr
    assert output.read_bytes() == before


def test_force_overwrites_output(tmp_path: Path) -> None:
    output, first = collect_standin(tmp_path, "[test/faults @ a]\nHello.\n", "ok")
    assert first.returncode == 0, first.stderr
    _, second = collect_standin(
        tmp_path, "[test/faults @ a]\nHello.\n", "ok", "--force"
    )
    assert second.returncode == 0, second.stderr
    run = load_run(output)
    assert len(run.records) == 1


def test_fail_on_fail_exits_one(tmp_path: Path) -> None:
    output, result = collect_standin(tmp_path, TWO_VARIANTS, "ok", "--fail-on", "fail")
    assert result.returncode == 1
    assert "2 FAIL record(s)" in result.stderr
    assert result.stdout.strip() == str(output)


def test_missing_afm_binary_names_options(tmp_path: Path) -> None:
    cases = write_cases(tmp_path, "[test/faults @ a]\nHello.\n")
    env = standin_env("ok", PATH=str(tmp_path))
    env.pop("AFM_BIN", None)
    result = run_cli(
        ["collect", str(cases), "-o", str(tmp_path / "out.jsonl")], env=env
    )
    assert result.returncode == 1
    assert "--afm-bin" in result.stderr
    assert "AFM_BIN" in result.stderr
    assert "PATH" in result.stderr
    assert not (tmp_path / "out.jsonl").exists()


def test_base_url_uses_running_server(tmp_path: Path) -> None:
    port = pick_free_port()
    server = subprocess.Popen(
        [sys.executable, str(STANDIN), "mlx", "-m", "test/external", "-p", str(port)],
        env=standin_env("ok"),
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while probe(port, "/health") != 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        cases = write_cases(tmp_path, "[test/external @ a]\nafm: --kv-bits 4\nHello.\n")
        output = tmp_path / "run.jsonl"
        result = run_cli(
            [
                "collect",
                str(cases),
                "--base-url",
                f"http://127.0.0.1:{port}/v1",
                "-o",
                str(output),
                "-q",
            ]
        )
        assert result.returncode == 0, result.stderr
        assert server.poll() is None
    finally:
        server.terminate()
        server.wait(timeout=10)

    record = load_run(output).records[0]
    assert record.status == "OK"
    assert record.server_log is None
    assert record.model_extra["afm_args_not_applied"] == ["--kv-bits 4"]
