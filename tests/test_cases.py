"""Tests for the case-file parser, the collect dry run and the project's suites."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from judge.case_values import parse_stop
from judge.cases import (
    CaseFileError,
    ModelSelectionError,
    clean_intent,
    expand_variants,
    load_variants,
    parse_case_file,
    split_model_list,
)
from judge.cli import main
from judge.dryrun import planned_request_to_dict, render_plan_text
from judge.plan import Variant, plan_requests

REPO = Path(__file__).resolve().parents[1]
OWN_SUITES = ["stop-sequences", "structured-output", "sampling", "reasoning", "demo"]

# Requests per model, after skipped sections, with the models to pass.
# test-edge-cases has 21 sections of one prompt each. Four of them set
# `stream:`, which is a parameter here and not a prompt.
AFM_CASE_COUNTS = [
    ("sample-prompts.txt", [], 18),
    ("test-stop-sequences.txt", [], 34),
    ("test-vlm-media.txt", [], 10),
    ("test-smollm3.txt", [], 74),
    ("test-edge-cases.txt", ["org/model"], 21),
    ("test-llm-comprehensive.txt", ["org/model"], 182),
]


def write_case(tmp_path: Path, text: str, name: str = "x.txt") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def variant_by_label(variants: list[Variant], label: str) -> Variant:
    matches = [variant for variant in variants if variant.label == label]
    assert len(matches) == 1, f"expected one variant labelled {label!r}"
    return matches[0]


def run_cli(*args: str):
    return CliRunner().invoke(main, ["collect", *args])


# --- Counts on AFM's own case files -----------------------------------------


@pytest.mark.parametrize(("name", "models", "expected"), AFM_CASE_COUNTS)
def test_afm_case_request_counts(cases_dir, name, models, expected):
    variants = load_variants(cases_dir / name, models)
    assert len(plan_requests(variants)) == expected


@pytest.mark.parametrize(("name", "models", "expected"), AFM_CASE_COUNTS)
def test_cli_dry_run_json_counts(cases_dir, name, models, expected):
    model_args = [arg for model in models for arg in ("--model", model)]
    result = run_cli(str(cases_dir / name), *model_args, "--dry-run", "--json")
    assert result.exit_code == 0, result.output

    lines = result.stdout.splitlines()
    records = [orjson.loads(line) for line in lines]
    assert len(records) == expected
    assert [record["index"] for record in records] == list(range(expected))


def test_sample_prompts_skips_one_section(cases_dir):
    case_file = parse_case_file(cases_dir / "sample-prompts.txt")
    variants = expand_variants(case_file)

    assert len(case_file.sections) == 8
    assert [s.title for s in case_file.skipped_sections] == [
        "[mlx-community/Qwen3.5-397B-A17B-4bit]"
    ]
    assert len(variants) == 7
    assert "mlx-community/Qwen3.5-397B-A17B-4bit" not in {v.model for v in variants}


def test_comprehensive_has_91_templates(cases_dir):
    case_file = parse_case_file(cases_dir / "test-llm-comprehensive.txt")
    assert len(case_file.sections) == 91
    assert all(section.model is None for section in case_file.sections)


# --- Parameters merged from AFM's files -------------------------------------


def test_stop_cli_api_merge(cases_dir):
    variants = load_variants(cases_dir / "test-stop-sequences.txt")
    merge = variant_by_label(variants, "stop-cli-api-merge")

    assert merge.params.stop == ["3."]
    assert merge.afm_args == '--stop "5."'
    assert merge.params.max_tokens == 4096
    assert merge.params.temperature == 0.0


def test_json_stop_escapes_decode(cases_dir):
    variants = load_variants(cases_dir / "test-stop-sequences.txt")

    assert variant_by_label(variants, "stop-unicode").params.stop == ["•"]
    assert variant_by_label(variants, "stop-api-newline").params.stop == ["\n"]
    double = variant_by_label(variants, "stop-api-double-newline")
    assert double.params.stop == ["\n\n"]
    four = variant_by_label(variants, "stop-four-max")
    assert four.params.stop == ["3.", "three", "Third", "III"]


def test_guided_json_flags_kept_verbatim(cases_dir):
    variants = load_variants(cases_dir / "test-stop-sequences.txt")
    brace = variant_by_label(variants, "stop-guided-json-brace")

    assert brace.params.stop == ["}"]
    assert brace.afm_args.startswith('--guided-json \'{"type":"object"')
    assert brace.afm_args.endswith('"required":["color","hex"]}\'')


def test_defaults_and_section_overrides(cases_dir):
    variants = load_variants(cases_dir / "sample-prompts.txt")
    coder = variants[0]
    kimi = next(v for v in variants if v.model == "mlx-community/Kimi-K2.5-3bit")

    assert coder.model == "mlx-community/Qwen3-Coder-Next-4bit"
    assert coder.params.max_tokens == 3000
    assert coder.params.temperature == 0.3
    assert coder.params.system == (
        "You are a senior Python developer. Write clean, idiomatic code."
    )
    assert coder.afm_args == "--enable-prefix-caching --top-k 40 --min-p 0.05"
    assert kimi.params.max_tokens == 500
    assert kimi.params.temperature == 0.7
    assert kimi.afm_args == "--enable-prefix-caching"


def test_labelled_variants_keep_model(cases_dir):
    variants = load_variants(cases_dir / "sample-prompts.txt")
    creative = variant_by_label(variants, "creative")

    assert creative.model == "mlx-community/SmolLM3-3B-4bit"
    assert creative.record_model == "mlx-community/SmolLM3-3B-4bit @ creative"
    assert creative.params.temperature == 1.2
    assert creative.afm_args == "--enable-prefix-caching --top-p 0.95"


def test_all_prompts_come_first(cases_dir):
    variants = load_variants(cases_dir / "test-smollm3.txt")
    greedy = variant_by_label(variants, "greedy")

    assert greedy.baseline_count == 1
    assert greedy.prompts == [
        "What is the capital of Japan? Answer in one sentence.",
        "Explain why the sky is blue in exactly 3 bullet points.",
    ]
    planned = plan_requests([greedy])
    assert [request.is_baseline for request in planned] == [True, False]


def test_all_prompts_repeat_per_variant(cases_dir):
    variants = load_variants(cases_dir / "sample-prompts.txt")
    with_caching = variant_by_label(variants, "with-caching")

    assert with_caching.baseline_count == 2
    assert with_caching.prompts[:2] == [
        "What is 2+2? Explain your reasoning step by step.",
        "Write a haiku about machine learning.",
    ]
    assert len(with_caching.prompts) == 4
    assert all(v.baseline_count == 2 for v in variants)


def test_system_backslash_n_kept_literal(cases_dir):
    variants = load_variants(cases_dir / "test-llm-comprehensive.txt", ["org/m"])
    agent = variant_by_label(variants, "agent-cached-turn1")

    assert agent.params.system.startswith("You are an expert coding assistant.")
    assert "tools:\\n\\n1. read_file" in agent.params.system
    assert "\n" not in agent.params.system
    assert agent.afm_args == "--enable-prefix-caching"


def test_response_format_normalised(cases_dir):
    stop_variants = load_variants(cases_dir / "test-stop-sequences.txt")
    key = variant_by_label(stop_variants, "stop-json-object-key")
    templates = load_variants(cases_dir / "test-llm-comprehensive.txt", ["org/m"])
    schema = variant_by_label(templates, "response-format-schema")

    assert key.params.response_format == {"type": "json_object"}
    assert schema.params.response_format["type"] == "json_schema"
    assert schema.params.response_format["json_schema"]["name"] == "person"


def test_tools_logprobs_and_stream(cases_dir):
    variants = load_variants(cases_dir / "test-edge-cases.txt", ["org/m"])
    tool = variant_by_label(variants, "tool-multi")
    logprobs = variant_by_label(variants, "logprobs-valid")

    assert [t["function"]["name"] for t in tool.params.tools] == [
        "get_weather",
        "get_time",
    ]
    assert logprobs.params.logprobs is True
    assert logprobs.params.top_logprobs == 3
    assert logprobs.params.max_tokens == 20
    assert variant_by_label(variants, "stop-stream-parity-ns").params.stream is False
    assert variant_by_label(variants, "stop-stream-parity-s").params.stream is True
    assert variant_by_label(variants, "stream-parity-s").prompts == [
        "What is the capital of France? Answer in one sentence."
    ]


def test_max_completion_tokens_replaces_default(cases_dir):
    variants = load_variants(cases_dir / "test-llm-comprehensive.txt", ["org/m"])
    alias = variant_by_label(variants, "max-completion-tokens")
    developer = variant_by_label(variants, "developer-role")

    assert alias.params.max_completion_tokens == 100
    assert alias.params.max_tokens is None
    assert developer.params.developer == (
        "You are a helpful coding assistant. Only respond with code, no explanations."
    )
    assert developer.params.system is None


def test_media_resolved_against_case_folder(cases_dir):
    variants = load_variants(cases_dir / "test-vlm-media.txt")
    describe = variant_by_label(variants, "image-describe")
    factual = variant_by_label(variants, "llm-factual")

    expected = str((cases_dir / "media" / "image.png").resolve())
    assert describe.params.media == [expected]
    assert factual.params.media is None
    assert factual.params.max_tokens == 512


# --- Intent -----------------------------------------------------------------


def test_intent_from_plain_comment(cases_dir):
    variants = load_variants(cases_dir / "test-stop-sequences.txt")
    single = variant_by_label(variants, "stop-api-single")
    merge = variant_by_label(variants, "stop-cli-api-merge")

    assert single.intent == (
        "Single stop string — numbered list should stop before item 3"
    )
    assert merge.intent == (
        "CLI + API merge — both contribute stop sequences, earliest wins "
        'CLI provides "5.", API provides "3." — should stop at 3.'
    )


def test_intent_strips_ai_prefix(cases_dir):
    variants = load_variants(cases_dir / "test-edge-cases.txt", ["org/m"])
    basic = variant_by_label(variants, "think-basic")

    assert basic.intent.startswith(
        "Tests basic think extraction. Feature: reasoning_content field. Expected:"
    )
    assert basic.intent.endswith("extraction failed.")
    assert "AI:" not in basic.intent
    assert "#" not in basic.intent


def test_intent_needs_adjacent_comment(cases_dir):
    variants = load_variants(cases_dir / "sample-prompts.txt")
    # A blank line separates the comment block from these two headers.
    assert variants[0].intent == ""
    assert variant_by_label(variants, "default").intent == ""


def test_intent_drops_banners(tmp_path):
    path = write_case(
        tmp_path,
        "# ═════════\n"
        "# ── Section heading ──\n"
        "# AI: Checks the thing.\n"
        "# -------\n"
        "# --top-k: keep the dashes of a flag\n"
        "[@ one]\n"
        "Say hi.\n",
    )
    variant = load_variants(path, ["org/m"])[0]
    assert variant.intent == (
        "Section heading Checks the thing. --top-k: keep the dashes of a flag"
    )


def test_clean_intent_empty_block():
    assert clean_intent([]) == ""
    assert clean_intent(["# ══════", "#"]) == ""


# --- Model selection --------------------------------------------------------


def test_templates_need_model(cases_dir):
    path = cases_dir / "test-edge-cases.txt"
    with pytest.raises(ModelSelectionError) as info:
        load_variants(path)

    message = str(info.value)
    assert message.startswith(f"{path}: ")
    assert "[@ think-basic] (line 30)" in message
    assert "pass --model" in message


def test_templates_expand_per_model(cases_dir):
    path = cases_dir / "test-edge-cases.txt"
    variants = load_variants(path, ["org/a", "org/b"])

    assert len(variants) == 42
    assert [v.model for v in variants[:21]] == ["org/a"] * 21
    assert [v.model for v in variants[21:]] == ["org/b"] * 21
    assert variants[0].record_model == "org/a @ think-basic"
    assert variants[21].record_model == "org/b @ think-basic"
    assert variants[0].source == f"{path}:30"


def test_model_filters_concrete_sections(cases_dir):
    variants = load_variants(
        cases_dir / "sample-prompts.txt", ["mlx-community/SmolLM3-3B-4bit"]
    )
    assert [v.label for v in variants] == [
        "default",
        "conservative",
        "creative",
        "with-caching",
    ]
    assert len(plan_requests(variants)) == 10


def test_unknown_model_for_concrete_file(cases_dir):
    path = cases_dir / "test-stop-sequences.txt"
    with pytest.raises(ModelSelectionError) as info:
        load_variants(path, ["org/other"])

    message = str(info.value)
    assert message.startswith(f"{path}: no section is for model 'org/other'")
    assert "mlx-community/Qwen3.5-35B-A3B-4bit" in message


def test_all_only_file_runs_per_model(tmp_path):
    path = write_case(tmp_path, "max_tokens: 32\n[all]\nOne.\nTwo.\n")
    variants = load_variants(path, ["org/a", "org/b"])

    assert [v.model for v in variants] == ["org/a", "org/b"]
    assert variants[0].label == ""
    assert variants[0].prompts == ["One.", "Two."]
    assert variants[0].baseline_count == 2
    assert variants[0].params.max_tokens == 32
    assert variants[0].source == f"{path}:2"
    with pytest.raises(ModelSelectionError):
        load_variants(path)


def test_mixed_file_with_model(tmp_path):
    path = write_case(
        tmp_path,
        "[org/a @ own]\nOnly for a.\n[org/b]\nOnly for b.\n[@ shared]\nFor all.\n",
    )
    variants = load_variants(path, ["org/a"])
    assert [v.record_model for v in variants] == ["org/a @ own", "org/a @ shared"]


def test_template_clash_with_concrete(tmp_path):
    path = write_case(tmp_path, "[org/a @ same]\nOne.\n[@ same]\nTwo.\n")
    with pytest.raises(CaseFileError) as info:
        load_variants(path, ["org/a"])
    assert str(info.value).startswith(f"{path}:3: [@ same] for org/a repeats")


def test_split_model_list():
    values = ["org/a, org/b", "org/a", " ", "org/c,"]
    assert split_model_list(values) == ["org/a", "org/b", "org/c"]


# --- Stop values ------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('["3."]', ["3."]),
        ('["\\u2022", "\\n"]', ["•", "\n"]),
        ('"\\u2022"', ["•"]),
        ('"a", "b"', ["a", "b"]),
        ("END, DONE", ["END", "DONE"]),
        ("Step 3", ["Step 3"]),
        ("[]", []),
    ],
)
def test_parse_stop_forms(value, expected):
    assert parse_stop(value) == expected


def test_parse_stop_rejects_empty_item():
    with pytest.raises(ValueError, match="empty stop sequence"):
        parse_stop("a,,b")


# --- Errors -----------------------------------------------------------------

# (text, line, fragment): the error must start with "x.txt:LINE: " and
# contain the fragment.
CASE_ERRORS = [
    (
        "temperature: hot\n[all]\nHi.\n",
        1,
        "invalid temperature 'hot': expected a number",
    ),
    (
        "[@ a]\nmax_tokens: 12.5\nHi.\n",
        2,
        "invalid max_tokens '12.5': expected a whole",
    ),
    ("[@ a]\nseed: 1e3\nHi.\n", 2, "invalid seed '1e3'"),
    ("[@ a]\ntemperature: nan\nHi.\n", 2, "expected a finite number"),
    (
        "[@ a]\nlogprobs: maybe\nHi.\n",
        2,
        "invalid logprobs 'maybe': expected true or false",
    ),
    ("[@ a]\nstream: fast\nHi.\n", 2, "invalid stream 'fast'"),
    ('[@ a]\nstop: ["3.",\nHi.\n', 2, "invalid stop '[\"3.\",': not valid JSON"),
    ("[@ a]\nstop: [3]\nHi.\n", 2, "expected a list of strings"),
    ('[@ a]\nstop: "open\nHi.\n', 2, "invalid stop '\"open': not valid JSON"),
    ("[@ a]\ntools: [{oops}]\nHi.\n", 2, "invalid tools '[{oops}]': not valid JSON"),
    ('[@ a]\ntools: {"type": "function"}\nHi.\n', 2, "Wrap a single tool in [ ]"),
    (
        "[@ a]\nresponse_format: xml\nHi.\n",
        2,
        "invalid response_format 'xml': expected text",
    ),
    ('[@ a]\nresponse_format: {"type": "xml"}\nHi.\n', 2, "unknown type 'xml'"),
    ("[@ a]\nresponse_format: json_schema\nHi.\n", 2, "json_schema needs a schema"),
    (
        '[@ a]\nresponse_format: {"type": "json_schema"}\nHi.\n',
        2,
        'needs a "json_schema" object',
    ),
    ('[@ a]\nresponse_format: {"type":\nHi.\n', 2, "not valid JSON"),
    (
        "[@ a]\nafm: --guided-json '{\nHi.\n",
        2,
        'invalid afm "--guided-json \'{": cannot split',
    ),
    ("[@ a]\nmedia: a.png,,b.png\nHi.\n", 2, "empty path between commas"),
    ("[@ a]\ntemperature:\nHi.\n", 2, "missing value for temperature"),
    (
        "[@ a]\ntop_p: 0.9\ntop_p: 0.8\nHi.\n",
        3,
        "top_p is set twice in this section (first at line 2)",
    ),
    (
        "[@ a]\nmax_token: 5\nHi.\n",
        2,
        "unknown parameter 'max_token': did you mean 'max_tokens'?",
    ),
    ("[@ label\nHi.\n", 1, "unterminated section header '[@ label': add the closing ]"),
    ("[@ a] extra\nHi.\n", 1, "invalid section header '[@ a] extra'"),
    ("[]\nHi.\n", 1, "empty section header []"),
    ("[org/m @ ]\nHi.\n", 1, "missing label after @"),
    ("[org/m label]\nHi.\n", 1, "invalid model id 'org/m label': it contains a space"),
    ("[@ a]\nHi.\n[@ a]\nHo.\n", 3, "duplicate section '[@ a]' (first at line 1)"),
    ("max_tokens: 9\n\n[@ a]\ntemperature: 0\n", 3, "section [@ a] has no prompts"),
    ("Hello there\n[all]\nHi.\n", 1, "prompt 'Hello there' before the first section"),
    ("[all]\ntemperature: 0\nHi.\n", 2, "temperature inside [all]"),
    ("skip\n[all]\nHi.\n", 1, "'skip' outside a model section"),
]


@pytest.mark.parametrize(("text", "line", "fragment"), CASE_ERRORS)
def test_case_file_errors(tmp_path, text, line, fragment):
    path = write_case(tmp_path, text)
    with pytest.raises(CaseFileError) as info:
        load_variants(path, ["org/m"])

    message = str(info.value)
    assert message.startswith(f"{path}:{line}: ")
    assert fragment in message


def test_error_is_value_error():
    assert issubclass(CaseFileError, ValueError)
    assert issubclass(ModelSelectionError, CaseFileError)


def test_every_section_skipped(tmp_path):
    path = write_case(tmp_path, "[org/a]\nskip\nHi.\n")
    with pytest.raises(CaseFileError, match="every section is marked skip"):
        load_variants(path)


def test_file_without_prompts(tmp_path):
    path = write_case(tmp_path, "# only a comment\nmax_tokens: 5\n")
    with pytest.raises(CaseFileError) as info:
        load_variants(path)
    assert str(info.value).startswith(f"{path}: no sections and no prompts found")


def test_file_not_utf8(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("[@ a]\nCaf\xe9\n".encode("latin-1"))
    with pytest.raises(CaseFileError) as info:
        load_variants(path, ["org/m"])
    assert str(info.value).startswith(f"{path}: not UTF-8 text")


def test_empty_system_clears_default(tmp_path):
    path = write_case(
        tmp_path, "system: Be brief.\n[@ plain]\nsystem:\nHi.\n[@ kept]\nHo.\n"
    )
    plain, kept = load_variants(path, ["org/m"])
    assert plain.params.system is None
    assert kept.params.system == "Be brief."


def test_afm_lines_join(tmp_path):
    path = write_case(
        tmp_path, "afm: --verbose\n[@ a]\nafm: --top-k 5\nafm: --seed 1\nHi.\n"
    )
    variant = load_variants(path, ["org/m"])[0]
    assert variant.afm_args == "--verbose --top-k 5 --seed 1"


# --- Dry-run rendering and the CLI ------------------------------------------


def test_json_line_fields(cases_dir):
    path = cases_dir / "test-stop-sequences.txt"
    result = run_cli(str(path), "--dry-run", "--json")
    assert result.exit_code == 0, result.output

    records = [orjson.loads(line) for line in result.stdout.splitlines()]
    merge = next(r for r in records if r["label"] == "stop-cli-api-merge")
    planned = plan_requests(load_variants(path))

    assert set(merge) == {
        "index",
        "record_id",
        "model",
        "label",
        "prompt",
        "is_baseline",
        "params",
        "afm_args",
        "intent",
        "source",
    }
    assert merge["model"] == "mlx-community/Qwen3.5-35B-A3B-4bit"
    assert merge["params"] == {"max_tokens": 4096, "temperature": 0.0, "stop": ["3."]}
    assert merge["afm_args"] == '--stop "5."'
    assert merge["is_baseline"] is False
    assert merge["record_id"] == planned[merge["index"]].record_id
    assert merge["source"] == f"{path}:89"


def test_planned_request_dict_baseline(cases_dir):
    planned = plan_requests(load_variants(cases_dir / "test-smollm3.txt"))
    first = planned_request_to_dict(planned[0])
    second = planned_request_to_dict(planned[1])

    assert first["is_baseline"] is True
    assert second["is_baseline"] is False
    assert first["label"] == "greedy"
    assert first["params"] == {"max_tokens": 300, "temperature": 0.0}


def test_dry_run_text(cases_dir):
    result = run_cli(str(cases_dir / "sample-prompts.txt"), "--dry-run")
    assert result.exit_code == 0, result.output

    text = result.stdout
    assert text.startswith("18 requests in 7 variants\n")
    assert "mlx-community/SmolLM3-3B-4bit @ creative  (" in text
    assert "  server flags: --enable-prefix-caching --top-p 0.95\n" in text
    assert "  intent: Skip a model entirely" not in text
    assert "baseline What is 2+2? Explain your reasoning step by step." in text
    assert text.endswith("skipped: [mlx-community/Qwen3.5-397B-A17B-4bit]\n")


def test_render_text_shows_intent_and_escapes(cases_dir):
    variants = load_variants(cases_dir / "test-stop-sequences.txt")
    newline = variant_by_label(variants, "stop-api-newline")
    text = render_plan_text(plan_requests([newline]))

    assert "  intent: Stop on newline — force single-line output\n" in text
    assert '  params: max_tokens=4096 temperature=0.0 stop=["\\n"]\n' in text


def test_cli_repeated_model_option(cases_dir):
    result = run_cli(
        str(cases_dir / "test-edge-cases.txt"),
        "--model",
        "org/a,org/b",
        "-m",
        "org/c",
        "--dry-run",
        "--json",
    )
    assert result.exit_code == 0, result.output
    models = [orjson.loads(line)["model"] for line in result.stdout.splitlines()]
    assert models == ["org/a"] * 21 + ["org/b"] * 21 + ["org/c"] * 21


def test_cli_missing_model_is_usage_error(cases_dir):
    path = cases_dir / "test-llm-comprehensive.txt"
    result = run_cli(str(path), "--dry-run")

    assert result.exit_code == 2
    assert f"{path}: template sections such as [@ greedy]" in result.output
    assert "pass --model org/model" in result.output


def test_cli_model_with_space_is_usage_error(cases_dir):
    result = run_cli(
        str(cases_dir / "test-edge-cases.txt"), "--model", "org/a org/b", "--dry-run"
    )
    assert result.exit_code == 2
    assert "invalid model id 'org/a org/b'" in result.output


def test_cli_bad_case_file_exits_1(tmp_path):
    path = write_case(tmp_path, "[@ a]\ntemperature: hot\nHi.\n")
    result = run_cli(str(path), "--model", "org/m", "--dry-run")

    assert result.exit_code == 1
    assert f"Error: {path}:2: invalid temperature 'hot'" in result.output


def test_cli_json_needs_dry_run(cases_dir):
    result = run_cli(str(cases_dir / "sample-prompts.txt"), "--json")
    assert result.exit_code == 2
    assert "--json only applies with --dry-run" in result.output


def test_cli_missing_file_is_usage_error(tmp_path):
    result = run_cli(str(tmp_path / "absent.txt"), "--dry-run")
    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_cli_run_without_afm_binary(cases_dir, monkeypatch, tmp_path):
    monkeypatch.delenv("AFM_BIN", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    output = tmp_path / "run.jsonl"
    result = run_cli(str(cases_dir / "sample-prompts.txt"), "-o", str(output))

    assert result.exit_code == 1
    assert "AFM binary not found: pass --afm-bin PATH, set AFM_BIN" in result.output
    assert not output.exists()


# --- The project's own suites -----------------------------------------------


@pytest.mark.parametrize("name", OWN_SUITES)
def test_own_suite_parses(name):
    path = REPO / "cases" / f"{name}.txt"
    case_file = parse_case_file(path)
    variants = expand_variants(case_file, ["org/m"])

    assert case_file.sections, "suite has no sections"
    assert all(section.model is None for section in case_file.sections)
    assert [v.label for v in variants if not v.intent] == []
    assert len(plan_requests(variants)) == len(case_file.sections)


def test_demo_is_small():
    variants = load_variants(REPO / "cases" / "demo.txt", ["org/m"])
    planned = plan_requests(variants)

    assert 6 <= len(planned) <= 8
    assert all(v.params.max_tokens is not None for v in variants)
    assert max(v.params.max_tokens for v in variants) <= 64
    assert all(v.afm_args == "" for v in variants)


def test_demo_covers_features():
    variants = load_variants(REPO / "cases" / "demo.txt", ["org/m"])
    stream_on = variant_by_label(variants, "stream-on")
    stream_off = variant_by_label(variants, "stream-off")
    seed_one = variant_by_label(variants, "seed-run1")
    seed_two = variant_by_label(variants, "seed-run2")

    assert variant_by_label(variants, "stop-fires").params.stop == ["5"]
    assert stream_on.params.stream is True
    assert stream_off.params.stream is False
    assert stream_on.prompts == stream_off.prompts
    assert stream_on.params.temperature == 0.0
    assert stream_off.params.temperature == 0.0
    json_object = variant_by_label(variants, "json-object")
    assert json_object.params.response_format == {"type": "json_object"}
    assert seed_one.params.seed == 42
    assert seed_two.params.seed == 42
    assert seed_one.prompts == seed_two.prompts
    assert seed_one.params.temperature == 0.8


def test_structured_suite_formats():
    variants = load_variants(REPO / "cases" / "structured-output.txt", ["org/m"])
    kinds = {
        v.params.response_format["type"] for v in variants if v.params.response_format
    }
    guided = [v for v in variants if "--guided-json" in v.afm_args]

    assert kinds == {"text", "json_object", "json_schema"}
    assert len(guided) == 3
    strict = variant_by_label(variants, "json-schema-enum-strict")
    assert strict.params.response_format["json_schema"]["strict"] is True


def test_stop_suite_plain_list():
    variants = load_variants(REPO / "cases" / "stop-sequences.txt", ["org/m"])
    plain = variant_by_label(variants, "stop-plain-text-list")
    arrow = variant_by_label(variants, "stop-unicode-arrow")

    assert plain.params.stop == ["END", "FIN"]
    assert arrow.params.stop == ["→"]


def test_reasoning_budgets():
    variants = load_variants(REPO / "cases" / "reasoning.txt", ["org/m"])
    small = variant_by_label(variants, "budget-64")
    large = variant_by_label(variants, "budget-4096")
    alias = variant_by_label(variants, "completion-budget-64")

    assert small.params.max_tokens == 64
    assert large.params.max_tokens == 4096
    assert small.prompts == large.prompts
    assert alias.params.max_completion_tokens == 64
    assert alias.params.max_tokens is None
