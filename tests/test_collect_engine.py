"""collect on the real embedded engine: llama-cpp-python's server with SmolLM2.

The suite runs twice, streamed and not, through the installed `afm-judge`
command. Generation is greedy (temperature 0), so both runs must give the same
text and the engine's stop and JSON handling can be checked on it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from collect_support import run_cli, wait_for_no_processes, write_cases

from judge.runs import Run, load_run
from judge.targets import default_gguf

SUITE = """\
max_tokens: 40
temperature: 0.0

# A stop string sent as a request parameter.
[@ stop-param]
stop: ["5"]
Count from 1 to 10 using digits, separated by spaces.

# A stop string given as an AFM server flag; llama-cpp gets it in the request.
# --kv-bits has no llama-cpp equivalent and is reported as not applied.
[@ stop-flag]
afm: --stop "4" --kv-bits 4
Count from 1 to 10 using digits, separated by spaces.

[@ json-object]
max_tokens: 64
response_format: json_object
Give a JSON object with the keys name and age for a person called Ada who is 36.

[@ system]
max_tokens: 24
system: Answer in one short sentence.
What is the capital of Italy?

# Eight tokens with their log probabilities: one logprob entry per token.
[@ logprobs]
max_tokens: 8
logprobs: true
top_logprobs: 2
Write a long story about a lighthouse.
"""
LABELS = ["stop-param", "stop-flag", "json-object", "system", "logprobs"]


def collect_engine(folder: Path, stream_flag: str) -> Run:
    cases = write_cases(folder, SUITE)
    output = folder / f"engine{stream_flag}.jsonl"
    result = run_cli(
        [
            "collect",
            str(cases),
            "--server",
            "llama-cpp",
            stream_flag,
            "--load-timeout",
            "120",
            "-o",
            str(output),
            "-q",
        ],
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    return load_run(output)


@pytest.fixture(scope="module")
def engine_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    folder = tmp_path_factory.mktemp("engine")
    return {
        "stream": collect_engine(folder, "--stream"),
        "plain": collect_engine(folder, "--no-stream"),
    }


def raw_keys(run: Run) -> list[list[str]]:
    """Return the keys of each line of the run file, as written."""
    return [list(json.loads(line)) for line in run.path.read_text().splitlines()[1:]]


def records_by_label(run: Run) -> dict[str, object]:
    return {record.label: record for record in run.records}


@pytest.mark.parametrize("mode", ["stream", "plain"])
def test_engine_run_complete(engine_runs: dict[str, Run], mode: str) -> None:
    run = engine_runs[mode]
    assert run.skipped == []
    assert run.meta is not None
    assert run.meta.afm_version.startswith("llama-cpp-python ")
    assert [record.label for record in run.records] == LABELS
    for record in run.records:
        assert record.status == "OK", record.error
        assert record.stream is (mode == "stream")
        # Template sections take the GGUF's stem when --model is not given.
        assert record.model == f"{default_gguf().stem} @ {record.label}"
    # One server for the whole run, and it is gone afterwards.
    logs = {record.server_log for record in run.records}
    assert len(logs) == 1
    header = Path(logs.pop()).read_text().splitlines()[0]
    assert header.startswith("# afm-judge ")
    port = header.split("--port ")[1].split()[0]
    assert (
        wait_for_no_processes(
            "llama_cpp.server --model", timeout_s=5, also=f"--port {port}"
        )
        == []
    )


@pytest.mark.parametrize("mode", ["stream", "plain"])
def test_engine_stop_strings_honoured(engine_runs: dict[str, Run], mode: str) -> None:
    records = records_by_label(engine_runs[mode])
    stop_param = records["stop-param"]
    assert stop_param.content.strip() != ""
    assert "5" not in stop_param.content
    assert stop_param.finish_reason == "stop"

    stop_flag = records["stop-flag"]
    assert stop_flag.content.strip() != ""
    assert "4" not in stop_flag.content
    assert stop_flag.finish_reason == "stop"
    assert stop_flag.afm_args == '--stop "4" --kv-bits 4'
    assert stop_flag.model_extra["afm_args_not_applied"] == ["--kv-bits 4"]


@pytest.mark.parametrize("mode", ["stream", "plain"])
def test_engine_json_object_valid(engine_runs: dict[str, Run], mode: str) -> None:
    record = records_by_label(engine_runs[mode])["json-object"]
    assert record.response_format == "json_object"
    assert record.is_valid_json is True
    assert isinstance(json.loads(record.content), dict)


@pytest.mark.parametrize("mode", ["stream", "plain"])
def test_engine_logprobs_counted(engine_runs: dict[str, Run], mode: str) -> None:
    record = records_by_label(engine_runs[mode])["logprobs"]
    assert record.finish_reason == "length"
    assert record.completion_tokens == 8
    assert record.logprobs_count == 8


def test_engine_stream_modes_same_fields(engine_runs: dict[str, Run]) -> None:
    streamed = records_by_label(engine_runs["stream"])
    plain = records_by_label(engine_runs["plain"])
    stream_keys = raw_keys(engine_runs["stream"])
    plain_keys = raw_keys(engine_runs["plain"])
    assert stream_keys == plain_keys
    for label in LABELS:
        assert streamed[label].content == plain[label].content, label
        assert streamed[label].finish_reason == plain[label].finish_reason, label
        # llama-cpp-python streams one token per chunk but does not send the
        # tokens of a matched stop string, which its usage object counts.
        counted = streamed[label].completion_tokens
        reported = plain[label].completion_tokens
        if plain[label].finish_reason == "length":
            assert counted == reported, label
        else:
            assert 0 < counted <= reported, label
        assert streamed[label].ttft_s is not None
        assert plain[label].ttft_s is None
        assert streamed[label].tokens_per_sec > 0
        assert plain[label].tokens_per_sec > 0
