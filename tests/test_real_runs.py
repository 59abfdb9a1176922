"""Grading AFM's real runs with the rules judge: the facts each file must yield."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from judge.compose import compose_report
from judge.grade import grade_run, read_grades
from judge.verdict import Grade

# The two regular expressions AFM's HTML report generator uses.
SCORES_PATTERN = re.compile(r"<!-- AI_SCORES (\[.*?\]) -->")
BLOCK_PATTERN = re.compile(
    r"### (\d+)\.\s+.*?\n\*\*Score:\s*(\d)/5\*\*[^\n]*\n(?:>\s*(.+?))?(?:\n|$)"
)

# record count, then category counts (categories absent here must be 0).
EXPECTED = {
    "stop-suite-0cfba17": (34, {"afm_bug": 32, "test_config": 1, "ok": 1}),
    "stop-suite-050e836": (34, {"afm_bug": 6, "test_config": 5, "ok": 23}),
    "vlm-media-0cfba17": (6, {"test_config": 6}),
    "legacy-sweep-no-meta": (
        27,
        {"afm_bug": 2, "model_incompat": 2, "model_quality": 2, "ok": 21},
    ),
    "models-sweep-v0.9.5": (
        30,
        {
            "afm_bug": 2,
            "model_incompat": 2,
            "model_quality": 1,
            "test_config": 2,
            "ok": 23,
        },
    ),
    "qwen35-suite-0cfba17": (
        132,
        {
            "afm_bug": 6,
            "model_quality": 4,
            "harness_bug": 6,
            "test_config": 18,
            "ok": 98,
        },
    ),
    "comprehensive-qwen35-f582ac5": (
        190,
        {"afm_bug": 12, "model_quality": 8, "test_config": 20, "ok": 150},
    ),
    "comprehensive-gemma4-bc9de80": (
        182,
        {"afm_bug": 23, "test_config": 8, "ok": 151},
    ),
}


def grade(runs_dir: Path, tmp_path: Path, name: str) -> tuple[Path, list[Grade]]:
    out_dir = tmp_path / name
    grade_run(runs_dir / f"{name}.jsonl", out_dir)
    _, grades = read_grades(out_dir)
    return out_dir, grades


def flagged(grades: list[Grade], flag: str) -> list[int]:
    return [g.index for g in grades if flag in g.verdict.flags]


def by_label(grades: list[Grade], label: str) -> Grade:
    (match,) = [g for g in grades if g.record.label == label]
    return match


def test_every_shared_run_is_covered(runs_dir: Path) -> None:
    assert {path.stem for path in runs_dir.glob("*.jsonl")} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_run_grades_and_composes(runs_dir: Path, tmp_path: Path, name: str) -> None:
    out_dir, grades = grade(runs_dir, tmp_path, name)
    records, categories = EXPECTED[name]
    assert len(grades) == records
    counted = {}
    for g in grades:
        counted[g.verdict.category] = counted.get(g.verdict.category, 0) + 1
    assert counted == categories

    report = compose_report(out_dir).read_text(encoding="utf-8")
    assert report.rstrip("\n").splitlines()[-1].startswith("<!-- AI_SCORES ")
    scores = SCORES_PATTERN.findall(report)
    assert len(scores) == 1
    entries = __import__("json").loads(scores[0])
    assert [entry["i"] for entry in entries] == list(range(records))
    assert [entry["s"] for entry in entries] == [g.verdict.score for g in grades]

    blocks = BLOCK_PATTERN.findall(report)
    assert [int(index) for index, _, _ in blocks] == list(range(records))
    for (index, score, reason), g in zip(blocks, grades):
        assert int(score) == g.verdict.score
        assert reason.startswith(g.verdict.reason[:40])
    for section in range(1, 7):
        assert f"### {section}) " in report


def test_stop_suite_0cfba17_facts(runs_dir: Path, tmp_path: Path) -> None:
    _, grades = grade(runs_dir, tmp_path, "stop-suite-0cfba17")

    failed = [g for g in grades if g.record.status == "FAIL"]
    groups = {}
    for g in failed:
        finding = next(f for f in g.findings if f.name == "request_failed")
        key = (finding.detail["error_type"], finding.detail["error_detail"])
        groups.setdefault(key, []).append(g.record.label)
    assert groups == {
        ("unknown_option", "--stop"): [
            "stop-cli-only",
            "stop-cli-multi",
            "stop-cli-api-merge",
            "stop-cli-api-dedup",
        ],
        ("chat_template", "Jinja.TemplateException"): [
            "stop-json-object-key",
            "stop-json-object-no-match",
        ],
    }
    assert all(g.verdict.category == "afm_bug" for g in failed)
    assert all(g.verdict.score == 1 for g in failed)

    cut = [*range(0, 6), *range(10, 14), 18, 19, *range(22, 34)]
    assert flagged(grades, "stop_in_reasoning") == cut
    assert all(grades[i].verdict.category == "afm_bug" for i in cut)
    assert flagged(grades, "stop_at_answer_start") == [20]
    assert grades[20].record.label == "stop-code-fence"

    no_match = by_label(grades, "stop-no-match")
    assert no_match.verdict.category == "ok"
    assert no_match.verdict.flags == []


def test_stop_suite_0cfba17_pairs_consistent(runs_dir: Path, tmp_path: Path) -> None:
    out_dir, _ = grade(runs_dir, tmp_path, "stop-suite-0cfba17")
    info, grades = read_grades(out_dir)
    pairs = {(g.kind, tuple(g.labels), g.consistent) for g in info.pair_groups}
    assert pairs == {
        ("stream", ("stop-streaming", "stop-non-streaming"), True),
        ("seed", ("stop-seed-run1", "stop-seed-run2"), True),
    }
    facts = {f.name for f in by_label(grades, "stop-streaming").findings}
    assert "stream_consistent" in facts
    facts = {f.name for f in by_label(grades, "stop-seed-run2").findings}
    assert "seed_consistent" in facts


def test_stop_suite_050e836_answer_start(runs_dir: Path, tmp_path: Path) -> None:
    _, grades = grade(runs_dir, tmp_path, "stop-suite-050e836")
    assert flagged(grades, "stop_at_answer_start") == [2, 3, 20, 22, 25]
    assert flagged(grades, "stop_in_reasoning") == []
    assert [g.index for g in grades if g.record.content_chars == 0] == [
        2,
        3,
        20,
        22,
        25,
        33,
    ]
    # The stop-immediate test expects its early stop; the others do not.
    assert grades[22].verdict.category == "ok"
    assert [grades[i].verdict.category for i in (2, 3, 20, 25)] == ["test_config"] * 4


def test_stop_suite_050e836_leaks_and_budget(runs_dir: Path, tmp_path: Path) -> None:
    _, grades = grade(runs_dir, tmp_path, "stop-suite-050e836")
    leaks = {grades[i].record.label for i in flagged(grades, "stop_leak")}
    assert leaks == {"stop-cli-only", "stop-cli-multi"}
    assert all(grades[i].verdict.score <= 2 for i in flagged(grades, "stop_leak"))

    low = by_label(grades, "stop-low-max-tokens")
    assert "thinking_budget_exhausted" in low.verdict.flags
    assert "finish_reason_wrong" in low.verdict.flags
    budget = next(f for f in low.findings if f.name == "finish_reason_wrong")
    assert budget.detail == {"completion_tokens": 100, "max_tokens": 100}


def test_qwen_artifact_found_statistically(runs_dir: Path, tmp_path: Path) -> None:
    out_dir, _ = grade(runs_dir, tmp_path, "comprehensive-qwen35-f582ac5")
    info, grades = read_grades(out_dir)
    artifacts = {(a.suffix, a.count, a.traces) for a in info.artifacts}
    assert ("cw", 78, 186) in artifacts
    assert all(a.model == "mlx-community/Qwen3.5-35B-A3B-4bit" for a in info.artifacts)
    report = compose_report(out_dir).read_text(encoding="utf-8")
    assert "78 of 186 reasoning traces" in report


def test_sweeps_find_model_problems(runs_dir: Path, tmp_path: Path) -> None:
    _, legacy = grade(runs_dir, tmp_path, "legacy-sweep-no-meta")
    garbled = [legacy[i].record.model for i in flagged(legacy, "garbled_output")]
    assert garbled == ["mlx-community/Apertus-8B-Instruct-2509-4bit"]
    leaks = [legacy[i].record.model for i in flagged(legacy, "special_token_leak")]
    assert leaks == [
        "mlx-community/gpt-oss-20b-MXFP4-Q4",
        "mlx-community/gpt-oss-20b-MXFP4-Q8",
    ]
    failed = [g for g in legacy if g.record.status == "FAIL"]
    assert [(g.record.error_type, g.verdict.category) for g in failed] == [
        ("load_failed", "model_incompat")
    ]

    _, vlm = grade(runs_dir, tmp_path, "vlm-media-0cfba17")
    assert {g.record.error_type for g in vlm} == {"download_failed"}


def test_qwen_suite_encoded_stops_are_harness_bugs(
    runs_dir: Path, tmp_path: Path
) -> None:
    _, grades = grade(runs_dir, tmp_path, "qwen35-suite-0cfba17")
    encoded = {grades[i].record.label for i in flagged(grades, "stop_value_encoded")}
    assert encoded == {"stop-single", "stop-multi", "stop-newline"}
    assert all(
        grades[i].verdict.category == "harness_bug"
        for i in flagged(grades, "stop_value_encoded")
    )


def test_prefix_cache_mismatch_names_the_flag(runs_dir: Path, tmp_path: Path) -> None:
    out_dir, _ = grade(runs_dir, tmp_path, "comprehensive-qwen35-f582ac5")
    info, grades = read_grades(out_dir)
    mismatched = [g for g in info.pair_groups if not g.consistent]
    assert [tuple(g.labels) for g in mismatched] == [
        ("agent-no-cache-turn1", "agent-cached-turn1"),
        ("agent-no-cache-turn2", "agent-cached-turn2"),
        ("agent-no-cache-turn3", "agent-cached-turn3"),
    ]
    assert all(g.differences == ["--enable-prefix-caching"] for g in mismatched)
    assert flagged(grades, "seed_mismatch") == [39, 41, 43, 45, 47, 49]
    report = compose_report(out_dir).read_text(encoding="utf-8")
    assert "identical output in 4 records (#14, #15, #16, #17)" in report
    assert "settings that differ: --enable-prefix-caching" in report
