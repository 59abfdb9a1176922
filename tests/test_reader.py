"""Reading AFM results files: indices, ids, quirks and bad lines."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import orjson

from judge.records import RunRecord, clean_error, make_record_id
from judge.runs import load_run


def test_stop_suite_indices_and_meta(runs_dir: Path) -> None:
    run = load_run(runs_dir / "stop-suite-0cfba17.jsonl")
    assert run.meta is not None
    assert run.meta.afm_version == "v0.9.5-0cfba17"
    assert [r.index for r in run.records] == list(range(34))
    assert run.records[0].line == 2
    assert run.skipped == []


def test_record_ids_stable_and_unique(runs_dir: Path) -> None:
    first = load_run(runs_dir / "qwen35-suite-0cfba17.jsonl")
    second = load_run(runs_dir / "qwen35-suite-0cfba17.jsonl")
    ids = [r.record_id for r in first.records]
    assert ids == [r.record_id for r in second.records]
    assert len(set(ids)) == len(ids)
    record = first.records[5]
    assert record.record_id == make_record_id(
        record.model, record.label, record.prompt, 5
    )


def test_labels_and_flags_lose_trailing_newline(runs_dir: Path) -> None:
    run = load_run(runs_dir / "stop-suite-0cfba17.jsonl")
    cli_only = run.records[6]
    assert cli_only.label == "stop-cli-only"
    assert cli_only.afm_args == '--stop "3."'
    assert cli_only.display_name == "mlx-community/Qwen3.5-35B-A3B-4bit @ stop-cli-only"


def test_display_name_does_not_repeat_label(runs_dir: Path) -> None:
    run = load_run(runs_dir / "vlm-media-0cfba17.jsonl")
    record = run.records[0]
    assert record.model == "mlx-community/Qwen3.5-VL-35B-A3B-4bit @ image-describe"
    assert record.display_name.count("image-describe") == 1
    assert record.base_model == "mlx-community/Qwen3.5-VL-35B-A3B-4bit"


def test_errors_lose_progress_bars(runs_dir: Path) -> None:
    vlm = load_run(runs_dir / "vlm-media-0cfba17.jsonl")
    error = vlm.records[0].error
    assert "\r" not in error
    assert "downloading" not in error
    assert error.startswith("Error starting MLX server")
    assert 'downloadFailed("mlx-community/Qwen3.5-VL-35B-A3B-4bit' in error

    sweep = load_run(runs_dir / "models-sweep-v0.9.5.jsonl")
    loading = sweep.records[12].error
    assert "loading model" not in loading
    assert "mem 0." not in loading
    assert loading.startswith("Error starting MLX server")


def test_clean_error_strips_ansi() -> None:
    assert clean_error("\x1b[31mError:\x1b[0m bad flag \n") == "Error: bad flag"


def test_legacy_file_without_meta(runs_dir: Path) -> None:
    run = load_run(runs_dir / "legacy-sweep-no-meta.jsonl")
    assert run.meta is None
    assert len(run.records) == 27
    first = run.records[0]
    assert first.label == ""
    assert first.prompt is None
    assert first.display_name == first.model
    assert first.index == 0


def test_string_booleans_and_numbers_coerce(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    record = {
        "model": "m",
        "is_valid_json": "False",
        "is_baseline": "true",
        "seed": "42",
        "temperature": "0.7",
        "completion_tokens": "12",
    }
    path.write_bytes(orjson.dumps(record) + b"\n")
    loaded = load_run(path).records[0]
    assert loaded.is_valid_json is False
    assert loaded.is_baseline is True
    assert loaded.seed == 42
    assert loaded.temperature == 0.7
    assert loaded.completion_tokens == 12


def test_bad_lines_skipped_and_named(tmp_path: Path, caplog) -> None:
    path = tmp_path / "hostile.jsonl"
    good = {"model": "org/m @ a", "label": "a", "prompt": "hi", "content": "hello"}
    lines = [
        orjson.dumps({"_meta": True, "afm_version": "x"}),
        orjson.dumps(good),
        b'{"model": "org/m @ b", "label": "b", "content": "trunc',
        b"[1, 2, 3]",
        orjson.dumps({"model": "only-model"}),
        orjson.dumps({**good, "label": "c", "reasoning_content": "r" * 5_000_000}),
    ]
    path.write_bytes(b"\n".join(lines) + b"\n")

    with caplog.at_level(logging.WARNING):
        run = load_run(path)

    assert [s.line for s in run.skipped] == [3, 4]
    assert "invalid JSON" in run.skipped[0].reason
    assert "expected a JSON object, found list" in run.skipped[1].reason
    messages = [r.getMessage() for r in caplog.records]
    assert any(f"{path}:3: invalid JSON" in m for m in messages)
    assert any(f"{path}:4: expected a JSON object" in m for m in messages)
    assert [r.index for r in run.records] == [0, 1, 2]
    assert run.records[1].model == "only-model"
    assert run.records[1].status == "OK"
    assert len(run.records[2].reasoning_content) == 5_000_000


def test_field_of_wrong_type_is_dropped_not_line(tmp_path: Path, caplog) -> None:
    path = tmp_path / "run.jsonl"
    path.write_bytes(
        orjson.dumps({"model": "m", "stop": {"not": "a list"}, "content": "x"}) + b"\n"
    )
    with caplog.at_level(logging.WARNING):
        run = load_run(path)
    assert len(run.records) == 1
    assert run.records[0].content == "x"
    assert run.records[0].stop is None
    assert isinstance(run.records[0], RunRecord)
    messages = [r.getMessage() for r in caplog.records]
    assert any("ignored field(s) with invalid values: stop" in m for m in messages)


def test_invalid_field_values_dropped(tmp_path: Path, caplog) -> None:
    path = tmp_path / "run.jsonl"
    record = {
        "model": "m",
        "content": "kept",
        "max_tokens": "inf",
        "completion_tokens": 2**64,
        "prompt_tokens": -3,
        "tokens_per_sec": "fast",
        "status": 1,
        "stop": [1, 2],
    }
    # The standard json module, because orjson refuses integers over 64 bits.
    path.write_text(json.dumps(record) + "\n")
    with caplog.at_level(logging.WARNING):
        (loaded,) = load_run(path).records
    assert loaded.content == "kept"
    assert loaded.max_tokens is None
    assert loaded.completion_tokens is None
    assert loaded.prompt_tokens is None
    assert loaded.tokens_per_sec is None
    assert loaded.status == "OK"
    assert loaded.stop is None
    warning = next(
        r.getMessage() for r in caplog.records if "ignored field" in r.getMessage()
    )
    for name in (
        "completion_tokens",
        "max_tokens",
        "prompt_tokens",
        "status",
        "stop",
        "tokens_per_sec",
    ):
        assert name in warning


def test_non_utf8_bytes_keep_the_record(tmp_path: Path, caplog) -> None:
    path = tmp_path / "run.jsonl"
    path.write_bytes(b'{"model": "m", "content": "caf\xe9 ok"}\n')
    with caplog.at_level(logging.WARNING):
        run = load_run(path)
    assert run.skipped == []
    assert run.records[0].content == "caf\ufffd ok"
    assert any("not UTF-8" in r.getMessage() for r in caplog.records)


def test_many_bad_lines_log_one_summary(tmp_path: Path, caplog) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("\n".join(f"plain text line {i}" for i in range(25)) + "\n")
    with caplog.at_level(logging.WARNING):
        run = load_run(path)
    assert len(run.skipped) == 25
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 11
    assert messages[-1].endswith("15 more unreadable lines skipped")
