"""--judge local: the embedded llama.cpp engine grades a real run end to end."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from judge.cli import main
from judge.grade import read_grades
from judge.local_judge import LOCAL_MODEL_ALIAS
from judge.verdict import CATEGORIES, Verdict


def test_local_judge_grades_every_record(
    runs_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("AFM_JUDGE_CACHE_DIR", str(tmp_path / "cache"))
    out_dir = tmp_path / "out"
    result = CliRunner().invoke(
        main,
        [
            "grade",
            str(runs_dir / "stop-suite-0cfba17.jsonl"),
            "--out",
            str(out_dir),
            "--judge",
            "local",
            "--json",
            "-q",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["records"] == 34
    assert summary["judge_calls"] == 34
    assert summary["judge_fallbacks"] == 0

    info, grades = read_grades(out_dir)
    assert [g.index for g in grades] == list(range(34))
    (stats,) = info.judge_stats
    assert stats.name == LOCAL_MODEL_ALIAS
    assert stats.mode == "tools"
    assert stats.prompt_tokens > 0
    for grade in grades:
        verdict = Verdict.model_validate(grade.verdict.model_dump())
        assert verdict.judge == LOCAL_MODEL_ALIAS
        assert verdict.judge_error is None
        assert 1 <= verdict.score <= 5
        assert verdict.category in CATEGORIES
        assert verdict.prompt_hash == info.prompt_hash
    for index in (6, 7, 8, 9, 16, 17):
        assert grades[index].verdict.score == 1
        assert grades[index].verdict.category == "afm_bug"

    assert (out_dir / "local-judge-server.log").is_file()
    assert running_local_judges() == []


def running_local_judges() -> list[int]:
    """Return the pids of processes that serve the local judge model."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if b"llama_cpp.server" in command and LOCAL_MODEL_ALIAS.encode() in command:
            pids.append(int(entry.name))
    return pids
