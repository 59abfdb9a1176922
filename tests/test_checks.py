"""Per-record checks on small hand-made records."""

from __future__ import annotations

import random

from judge.afm_args import partition_args, server_stop_strings
from judge.checks import RecordContext, check_record, requested_format, stop_strings
from judge.crosschecks import find_pair_groups, find_reasoning_artifacts
from judge.errors import classify_error
from judge.jsoncheck import is_json_prefix, schema_errors
from judge.reasoning import glued_suffix, read_tail
from judge.records import RunRecord
from judge.textstats import find_special_tokens, measure_garbling, measure_repetition


def make(**fields) -> RunRecord:
    base = {"model": "org/m @ v", "label": "v", "prompt": "p", "status": "OK"}
    base.update(fields)
    return RunRecord.model_validate(base)


def names(record: RunRecord, baseline: bool = False) -> list[str]:
    return [f.name for f in check_record(record, RecordContext(is_baseline=baseline))]


def test_stop_strings_merge_request_and_cli() -> None:
    record = make(stop=["3."], afm_args='--stop "5.,3."')
    assert stop_strings(record) == ["3.", "5."]
    assert server_stop_strings('--stop "```,END"') == ["```", "END"]
    assert server_stop_strings("--stop=X --top-k 3") == ["X"]


def test_stop_leak_from_cli_flag() -> None:
    record = make(
        afm_args='--stop "3."', content="1. a\n2. b\n3. c", finish_reason="stop"
    )
    findings = check_record(record, RecordContext())
    leak = next(f for f in findings if f.name == "stop_leak")
    assert leak.detail["stop"] == "3."
    assert leak.detail["source"] == "--stop"
    assert "3. c" in leak.evidence


def test_no_leak_when_stop_absent() -> None:
    record = make(stop=["3."], content="1. a\n2. b\n", finish_reason="stop")
    assert names(record) == []


def test_encoded_stop_value_is_harness_flag() -> None:
    record = make(stop=['["3."]'], content="1. a\n2. b\n3. c", finish_reason="stop")
    assert names(record) == ["stop_value_encoded"]


def test_failure_carries_error_type() -> None:
    record = make(status="FAIL", error="Error: Unknown option '--stop'. Did you mean?")
    (finding,) = check_record(record, RecordContext())
    assert finding.name == "request_failed"
    assert finding.detail["error_type"] == "unknown_option"
    assert finding.detail["error_detail"] == "--stop"


def test_error_classification_table() -> None:
    cases = {
        "Error code: 400 - {'message': '(Jinja.TemplateException error 1.)'}": (
            "chat_template"
        ),
        "Connection error.": "connection_lost",
        "Connection error. All connection attempts failed": "unreachable",
        "Connection error. [Errno 111] Connection refused": "unreachable",
        "Server process died (check /tmp/x.log)": "server_died",
        'Error starting MLX server: downloadFailed("a/b: File not found: main")': (
            "download_failed"
        ),
        'Error starting MLX server: loadFailed("a/b: Unsupported model type: '
        'gemma3n")': "load_failed",
        "Request timed out.": "timeout",
        "Error code: 500 - internal": "http_error",
        "invalid response from the server: the stream ended without data: [DONE]": (
            "invalid_response"
        ),
        "something odd": "other",
    }
    for error, expected in cases.items():
        assert classify_error(error)[0].name == expected, error


def test_budget_exhausted_and_wrong_finish_reason() -> None:
    record = make(
        reasoning_content="Thinking...",
        completion_tokens=100,
        max_tokens=100,
        finish_reason="stop",
        stop=["2."],
    )
    assert names(record) == ["finish_reason_wrong", "thinking_budget_exhausted"]


def test_finish_reason_length_is_budget() -> None:
    record = make(
        reasoning_content="Thinking",
        completion_tokens=50,
        max_tokens=50,
        finish_reason="length",
    )
    assert names(record) == ["thinking_budget_exhausted"]


def test_reasoning_only_without_stops() -> None:
    record = make(
        reasoning_content="Plan done.",
        completion_tokens=20,
        max_tokens=4096,
        finish_reason="stop",
    )
    assert names(record) == ["reasoning_only"]


def test_empty_output() -> None:
    record = make(completion_tokens=0, finish_reason="stop")
    assert names(record) == ["empty_output"]


def test_tool_call_answer_is_not_empty_output() -> None:
    record = make(finish_reason="tool_calls", completion_tokens=30)
    findings = check_record(record, RecordContext())
    assert [(f.name, f.kind) for f in findings] == [("tool_call_response", "fact")]


def test_tail_mid_thought_by_next_number() -> None:
    trace = "Thinking Process:\n\n1.  **Plan:** list.\n2.  **Draft:** Red, Blue."
    reading = read_tail(trace, ["3."])
    assert reading.finished is False
    assert reading.confidence == "high"
    assert "next numbered item" in reading.explanation


def test_tail_mid_sentence() -> None:
    reading = read_tail("Thinking Process:\n\n1.  **", ["The"])
    assert reading.finished is False


def test_tail_finished_by_marker() -> None:
    trace = "I'll include a loop. Let me go with a clean iterative approach."
    reading = read_tail(trace, ["```"])
    assert reading.finished is True
    assert reading.confidence == "medium"


def test_tail_finished_when_stop_inside_reasoning() -> None:
    reading = read_tail("Draft:\n• one\n• two.cw", ["•"])
    assert reading.finished is True
    assert reading.confidence == "high"


def test_stop_in_reasoning_vs_answer_start() -> None:
    cut = make(
        reasoning_content="Thinking Process:\n\n1.  **Goal:** colors.\n2.  **Draft:** Red.",
        completion_tokens=40,
        max_tokens=4096,
        finish_reason="stop",
        stop=["3."],
    )
    finished = make(
        reasoning_content="Answer: The capital of Japan is Tokyo.cw",
        completion_tokens=40,
        max_tokens=4096,
        finish_reason="stop",
        stop=["The", "I", "A"],
    )
    assert names(cut) == ["stop_in_reasoning"]
    assert names(finished) == ["stop_at_answer_start"]


def test_glued_suffix() -> None:
    assert glued_suffix("Let's go with the draft.cw") == "cw"
    assert glued_suffix("process above).ot") == "ot"
    assert glued_suffix("An ordinary ending.") is None
    assert glued_suffix("ends with a word") is None


def test_json_prefix() -> None:
    assert is_json_prefix('{\n  "name": "Carol",\n  "')
    assert is_json_prefix('[\n  "')
    assert not is_json_prefix('```json\n{"a": 1}')
    assert not is_json_prefix("Here is the JSON")
    assert not is_json_prefix('{"a": 1} trailing')


def test_schema_errors_name_the_path() -> None:
    schema = {
        "type": "object",
        "properties": {
            "age": {"type": "integer"},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["age"],
    }
    assert schema_errors({"age": 3, "tags": ["a"]}, schema) == []
    assert schema_errors({}, schema) == ["$ is missing required key 'age'"]
    assert schema_errors({"age": "3"}, schema) == ["$.age is str, expected integer"]
    assert schema_errors({"age": 1, "tags": [1]}, schema) == [
        "$.tags[0] is int, expected string"
    ]


def test_guided_json_violation_and_cut_by_stop() -> None:
    schema = '{"type":"object","properties":{"cities":{"type":"array"}}}'
    prose = make(
        afm_args=f"--guided-json '{schema}'",
        content="Blue is a color.",
        finish_reason="stop",
    )
    cut_object = make(
        afm_args=f"--guided-json '{schema}'",
        content='{"cities": ["',
        finish_reason="stop",
        stop=["Tokyo"],
    )
    cut_array = make(
        afm_args=f"--guided-json '{schema}'",
        content='[\n  "',
        finish_reason="stop",
        stop=["Tokyo"],
    )
    assert names(prose) == ["format_violation"]
    assert names(cut_object) == []
    assert names(cut_array) == ["format_violation"]


def test_json_object_fenced_and_baseline() -> None:
    fenced = make(
        response_format="json_object",
        content='```json\n{"a": 1}\n```',
        finish_reason="stop",
    )
    finding = check_record(fenced, RecordContext())[0]
    assert finding.name == "format_violation"
    assert finding.detail["problem"] == "valid JSON inside a markdown code fence"
    baseline = make(
        response_format='{"type":"json_object"}', content="Tokyo.", finish_reason="stop"
    )
    found = check_record(baseline, RecordContext(is_baseline=True))
    assert [(f.name, f.kind) for f in found] == [("baseline_free_text", "fact")]


def test_requested_format_variants() -> None:
    assert requested_format(make(response_format="json_object")).kind == "json_object"
    schema_format = make(
        response_format='{"type":"json_schema","json_schema":{"name":"p",'
        '"schema":{"type":"object","required":["a"]}}}'
    )
    found = requested_format(schema_format)
    assert found.kind == "json_schema"
    assert found.schema == {"type": "object", "required": ["a"]}
    assert requested_format(make(response_format='{"type":"text"}')) is None
    assert requested_format(make()) is None


def test_special_tokens_found_and_raw_mode_exempt() -> None:
    assert find_special_tokens("<|channel|>analysis<|message|>We need") == [
        "<|channel|>",
        "<|message|>",
    ]
    assert find_special_tokens("answer /think> more") == ["/think>"]
    assert find_special_tokens("<|channel>thought\nplan") == ["<|channel>"]
    assert find_special_tokens("<ul><li>Apple</li></ul>") == []
    leaked = make(content="<think>plan</think>answer", finish_reason="stop")
    raw = make(
        content="<think>plan</think>answer", afm_args="--raw", finish_reason="stop"
    )
    assert names(leaked) == ["special_token_leak"]
    assert names(raw) == []


def test_repetition_measured() -> None:
    loop = "Intro sentence here.\n" + "Wait, I'll check the list again.\n" * 200
    vocabulary = (
        "the server model token stream reasoning answer stop string budget test "
        "variant record judge report check output prompt format schema value "
        "seed sample latency memory cache prefix parser template"
    ).split()
    generator = random.Random(7)
    prose = " ".join(generator.choice(vocabulary) for _ in range(900))
    assert measure_repetition(loop) is not None
    assert measure_repetition(loop).ratio < 0.15
    assert measure_repetition(prose) is None
    assert measure_repetition("short") is None
    assert measure_repetition("text. " * 200 + "\n" * 300).sample.startswith(
        "ends with"
    )


def test_garbled_text() -> None:
    garbled = (
        "ningliklo Mppις सुरادهی,ಚ್ಚəhانية مثلولذيةه ोजอย่างอด较ابาร当然 spyक 所以uck"
    )
    multilingual = (
        "1. French: Bonjour\n2. Japanese: こんにちは、お元気ですか\n"
        "3. Arabic: مرحبا كيف حالك\n4. Russian: Привет, как дела\n5. Hindi: नमस्ते"
    )
    assert measure_garbling(garbled) is not None
    assert measure_garbling(multilingual) is None


def test_partition_args_drops_neutral_flags() -> None:
    relevant, neutral = partition_args("--no-streaming --seed 123 --verbose")
    assert relevant == ("--seed 123",)
    assert neutral == ("--no-streaming", "--verbose")


def test_pairs_stream_and_seed() -> None:
    common = {"prompt": "list", "temperature": 0.0, "content": "1. a", "max_tokens": 9}
    records = [
        make(label="s", **common),
        make(label="ns", afm_args="--no-streaming", **common),
        make(label="r1", prompt="x", seed=4, temperature=0.7, content="A"),
        make(label="r2", prompt="x", seed=4, temperature=0.7, content="B"),
    ]
    for position, record in enumerate(records):
        record.index = position
    groups = find_pair_groups(records)
    assert [(g.kind, g.consistent) for g in groups] == [
        ("stream", True),
        ("seed", False),
    ]
    assert groups[1].outliers == [2, 3]
    assert groups[1].basis == "seed 4"
    assert groups[1].first_difference == 0


def test_artifacts_need_repeats() -> None:
    records = []
    for position in range(10):
        ending = ".cw" if position < 4 else "."
        record = make(reasoning_content=f"trace {position} done{ending}")
        record.index = position
        records.append(record)
    (artifact,) = find_reasoning_artifacts(records)
    assert artifact.suffix == "cw"
    assert artifact.count == 4
    assert artifact.traces == 10
    assert find_reasoning_artifacts(records[2:6]) == []
