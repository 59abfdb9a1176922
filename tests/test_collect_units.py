"""collect's building blocks: flag mapping, request bodies, records, output file."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from judge.chat_request import (
    ChatOutcome,
    MediaError,
    build_body,
    build_messages,
    media_part,
)
from judge.collect import default_output, override_max_tokens
from judge.collect_record import RecordContext, fail_record, ok_record
from judge.llama_flags import FlagTranslation, split_flags, translate_for_llama_cpp
from judge.plan import PlannedRequest, RequestParams, Variant, plan_requests
from judge.run_writer import OutputFileError, RunWriter
from judge.runs import load_run
from judge.server_log import summarize_server_log
from judge.targets import (
    AfmTarget,
    ExternalTarget,
    LlamaCppTarget,
    TargetError,
    find_afm_binary,
    without_credentials,
)


def planned_request(**params: object) -> PlannedRequest:
    variant = Variant(
        model="org/model",
        label="case",
        afm_args=str(params.pop("afm_args", "")),
        intent="checks a case",
        params=RequestParams(**params),
        prompts=["Say hi."],
    )
    return plan_requests([variant])[0]


# Server flags for llama-cpp


def test_split_flags_values_and_switches() -> None:
    pairs = split_flags("--stop '3.' --no-streaming --top-k=40 --kv-bits 4 --raw")
    assert pairs == [
        ("--stop", "3."),
        ("--no-streaming", None),
        ("--top-k", "40"),
        ("--kv-bits", "4"),
        ("--raw", None),
    ]


def test_translate_sampling_flags() -> None:
    translation = translate_for_llama_cpp(
        "--top-k 50 --min-p 0.03 --top-p 0.95 --seed 42 --repetition-penalty 1.2"
    )
    assert translation.defaults == {
        "top_k": 50,
        "min_p": 0.03,
        "top_p": 0.95,
        "seed": 42,
        "repetition_penalty": 1.2,
    }
    assert translation.not_applied == []


def test_translate_stop_and_guided_json() -> None:
    schema = '{"type":"object","properties":{"name":{"type":"string"}}}'
    translation = translate_for_llama_cpp(
        f"--stop \"```,END\" --guided-json '{schema}'"
    )
    assert translation.stop == ["```", "END"]
    assert translation.defaults["response_format"] == {
        "type": "json_object",
        "schema": json.loads(schema),
    }


def test_translate_reports_not_applied() -> None:
    translation = translate_for_llama_cpp(
        "--no-streaming --kv-bits 4 --enable-prefix-caching --seed notanumber"
    )
    assert translation.defaults == {}
    assert translation.not_applied == [
        "--no-streaming",
        "--kv-bits 4",
        "--enable-prefix-caching",
        "--seed notanumber",
    ]


def test_external_target_applies_no_flag() -> None:
    variant = planned_request(afm_args="--seed 3 --vlm").variant
    translation = ExternalTarget("http://127.0.0.1:1/v1").translate_flags(variant)
    assert translation.not_applied == ["--seed 3", "--vlm"]
    assert translation.defaults == {}


def test_base_url_credentials_dropped() -> None:
    url = "http://user:secret@127.0.0.1:8080/v1"
    assert without_credentials(url) == "http://127.0.0.1:8080/v1"
    meta = ExternalTarget(url).run_meta()
    assert "secret" not in str(meta)
    assert without_credentials("http://127.0.0.1:1/v1") == "http://127.0.0.1:1/v1"


# Request bodies


def test_body_request_params_win_over_flags() -> None:
    params = RequestParams(seed=1, stop=["3."], max_tokens=10)
    translation = FlagTranslation(defaults={"seed": 42, "top_k": 5}, stop=["3.", "5."])
    body = build_body(params, translation)
    assert body["seed"] == 1
    assert body["top_k"] == 5
    assert body["stop"] == ["3.", "5."]
    assert body["max_tokens"] == 10
    assert "temperature" not in body


def test_llama_cpp_renames_params() -> None:
    target = LlamaCppTarget(Path("/models/small.gguf"))
    schema = {"type": "object"}
    adapted = target.adapt_request(
        {
            "repetition_penalty": 1.2,
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "x", "schema": schema},
            },
        }
    )
    assert adapted == {
        "repeat_penalty": 1.2,
        "response_format": {"type": "json_object", "schema": schema},
    }
    assert target.model_id == "small"


def test_afm_command_line_and_reuse_key() -> None:
    target = AfmTarget("/usr/local/bin/afm")
    variant = planned_request(system="Be brief.", afm_args="--stop '3.' --raw").variant
    argv = target.server_argv(variant, 9999)
    assert argv == [
        "/usr/local/bin/afm",
        "mlx",
        "-m",
        "org/model",
        "-p",
        "9999",
        "-i",
        "Be brief.",
        "--stop",
        "3.",
        "--raw",
    ]
    same_flags = planned_request(system="Be brief.", afm_args="--stop 3. --raw").variant
    other_system = planned_request(
        system="Be long.", afm_args="--stop 3. --raw"
    ).variant
    assert target.reuse_key(variant) == target.reuse_key(same_flags)
    assert target.reuse_key(variant) != target.reuse_key(other_system)


def test_messages_system_developer_user() -> None:
    params = RequestParams(system="S", developer="D")
    assert build_messages(params, "P", system_as_flag=False) == [
        {"role": "system", "content": "S"},
        {"role": "developer", "content": "D"},
        {"role": "user", "content": "P"},
    ]
    assert build_messages(params, "P", system_as_flag=True)[0]["role"] == "developer"


def test_media_sent_as_data_urls(tmp_path: Path) -> None:
    image = tmp_path / "pixel.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\nfake")
    audio = tmp_path / "clip.wav"
    audio.write_bytes(b"RIFFfake")
    params = RequestParams(media=[str(image), str(audio)])
    (message,) = build_messages(params, "Describe.", system_as_flag=False)
    text, image_part, audio_part = message["content"]
    assert text == {"type": "text", "text": "Describe."}
    expected = base64.b64encode(image.read_bytes()).decode()
    assert image_part["image_url"]["url"] == f"data:image/png;base64,{expected}"
    assert audio_part["type"] == "input_audio"
    assert audio_part["input_audio"]["format"] == "wav"
    assert media_part("https://example.com/v.mp4")["type"] == "video_url"


def test_missing_media_raises(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="missing.png cannot be read"):
        media_part(str(tmp_path / "missing.png"))


# Records


def test_ok_record_fields_in_afm_order() -> None:
    planned = planned_request(
        temperature=0.0,
        max_tokens=64,
        stop=["3."],
        response_format={"type": "json_object"},
    )
    outcome = ChatOutcome(
        content='{"a":\n1}',
        finish_reason="stop",
        prompt_tokens=10,
        completion_tokens=8,
        total_tokens=18,
        gen_time_s=0.5,
    )
    record = ok_record(planned, outcome, RecordContext(load_time_s=1.234, stream=False))
    assert list(record)[:6] == [
        "model",
        "label",
        "prompt",
        "status",
        "load_time_s",
        "gen_time_s",
    ]
    assert record["model"] == "org/model @ case"
    assert record["tokens_per_sec"] == 16.0
    assert record["load_time_s"] == 1.23
    assert record["content_preview"] == '{"a": 1}'
    assert record["response_format"] == "json_object"
    assert record["is_valid_json"] is True
    assert record["record_id"] == planned.record_id
    assert record["variant_intent"] == "checks a case"
    assert "error" not in record
    assert "tool_calls" not in record


def test_fail_record_has_no_response_fields() -> None:
    planned = planned_request(stop=["3."])
    record = fail_record(planned, "Connection error.", RecordContext(0.0, stream=True))
    assert record["status"] == "FAIL"
    assert record["error"] == "Connection error."
    assert record["stop"] == ["3."]
    assert record["stream"] is True
    assert "content" not in record
    assert "is_valid_json" not in record


def test_preview_falls_back_to_reasoning() -> None:
    outcome = ChatOutcome(
        content="", reasoning_content="a\nb" * 200, completion_tokens=1
    )
    record = ok_record(planned_request(), outcome, RecordContext(0.0, stream=False))
    assert record["content_preview"] == ("a b" * 200)[:300]


def test_override_max_tokens() -> None:
    variant = planned_request(max_tokens=4096, max_completion_tokens=4096).variant
    (changed,) = override_max_tokens([variant], 256)
    assert changed.params.max_tokens == 256
    assert changed.params.max_completion_tokens == 256
    assert variant.params.max_tokens == 4096


def test_default_output_name() -> None:
    now = datetime(2026, 2, 25, 20, 27, 13, tzinfo=timezone.utc)
    path = default_output(Path("cases/stop-sequences.txt"), now)
    assert path == Path("outputs/stop-sequences-20260225T202713Z.jsonl")


# Server logs


def test_server_log_error_line_cleaned() -> None:
    log = (
        "\r\x1b[2K[-        ]   --.-% loading model | mem 0.19 GB | 0.2s"
        "\nError: Unknown option '--stop'\nUsage: afm mlx -m MODEL [options]\n"
    )
    assert summarize_server_log(log) == "Error: Unknown option '--stop'"


def test_server_log_traceback_last_line() -> None:
    log = (
        "llama_model_loader: loaded meta data\n"
        "Traceback (most recent call last):\n"
        '  File "x.py", line 3, in <module>\n'
        "ValueError: Model path does not exist: /nope.gguf\n"
    )
    assert (
        summarize_server_log(log) == "ValueError: Model path does not exist: /nope.gguf"
    )
    assert summarize_server_log("") == ""
    assert summarize_server_log("just starting\n") == "just starting"


# Targets


def test_afm_binary_not_found_names_options(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("AFM_BIN", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(TargetError) as raised:
        find_afm_binary(None)
    message = str(raised.value)
    assert "--afm-bin" in message
    assert "AFM_BIN" in message
    assert "PATH" in message


def test_afm_binary_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    binary = tmp_path / "afm-build"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    monkeypatch.setenv("AFM_BIN", str(binary))
    assert find_afm_binary(None) == str(binary)
    with pytest.raises(TargetError, match="from --afm-bin is not an executable"):
        find_afm_binary(str(tmp_path / "missing"))


# Output file


def test_writer_new_file_loads(tmp_path: Path) -> None:
    output = tmp_path / "run.jsonl"
    planned = planned_request()
    writer, done = RunWriter.open(
        output, {"afm_version": "v1"}, resume=False, force=False
    )
    with writer:
        writer.write(fail_record(planned, "boom", RecordContext(0.0, stream=False)))
    assert done == set()
    run = load_run(output)
    assert run.skipped == []
    assert run.meta.afm_version == "v1"
    assert run.records[0].record_id == planned.record_id


def test_writer_rejects_foreign_file_on_resume(tmp_path: Path) -> None:
    output = tmp_path / "afm.jsonl"
    output.write_text('{"_meta": true}\n{"model": "m", "status": "OK"}\n')
    with pytest.raises(OutputFileError, match="without a record_id"):
        RunWriter.open(output, {}, resume=True, force=False)
