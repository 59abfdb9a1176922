"""The built-in rules judge: map check findings to a verdict, offline.

Every flag has one rule: the category it points to, the highest score a record
with that flag can get, and the reason. A record's verdict follows its most
severe flag (lowest score; on a tie, the earlier rule in RULES). A record with
no flag gets NO_FLAG_SCORE, because the rules judge checks how the server
behaved, not whether the answer is good.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from judge.errors import ERROR_TYPES, describe_cause
from judge.verdict import Category, Finding, Verdict, clip

NO_FLAG_SCORE = 4
RULES_JUDGE_NAME = "rules"


@dataclass(frozen=True)
class Rule:
    """The category, score cap and reason that one flag gives a verdict."""

    flag: str
    category: Category
    max_score: int
    reason: str


RULES: tuple[Rule, ...] = (
    Rule("request_failed", "afm_bug", 1, "The request failed."),
    Rule(
        "garbled_output",
        "model_incompat",
        1,
        "The output mixes writing systems inside words, the sign of a tokenizer "
        "or weight format that AFM does not handle for this model.",
    ),
    Rule(
        "empty_output",
        "afm_bug",
        1,
        "The server answered OK with neither content nor reasoning.",
    ),
    Rule(
        "stop_in_reasoning",
        "afm_bug",
        1,
        "A stop string ended the response inside the hidden reasoning, so no "
        "answer came back; stop strings should apply to the answer only.",
    ),
    Rule(
        "special_token_leak",
        "afm_bug",
        2,
        "Template or reasoning markers leaked into the content; the chat "
        "template or reasoning parser did not strip them.",
    ),
    Rule(
        "stop_leak",
        "afm_bug",
        2,
        "The content contains a stop string in force, so the server did not stop "
        "where it should have.",
    ),
    Rule(
        "format_violation",
        "afm_bug",
        2,
        "The output does not meet the requested JSON format.",
    ),
    Rule(
        "reasoning_only",
        "afm_bug",
        2,
        "The model reasoned and returned no answer although the budget was not "
        "spent and no stop string applied; the reasoning parser may have "
        "swallowed the answer.",
    ),
    Rule(
        "repetition_loop",
        "model_quality",
        2,
        "The text falls into a repetition loop.",
    ),
    Rule(
        "thinking_budget_exhausted",
        "test_config",
        2,
        "The reasoning used the whole token budget before any answer.",
    ),
    Rule(
        "stop_at_answer_start",
        "test_config",
        3,
        "The reasoning finished and the stop string matched the first characters "
        "of the answer: the server honoured the request, but the test shows no "
        "answer.",
    ),
    Rule(
        "stop_value_encoded",
        "harness_bug",
        3,
        "The harness sent the stop list as literal text, so the test did not "
        "exercise the stop strings it meant to.",
    ),
    Rule(
        "seed_mismatch",
        "afm_bug",
        3,
        "The same deterministic request gave different output in another variant.",
    ),
    Rule(
        "stream_mismatch",
        "afm_bug",
        3,
        "Streaming and non-streaming gave different output for the same request.",
    ),
    Rule(
        "length_cutoff",
        "test_config",
        3,
        "The answer was cut off at the token budget.",
    ),
    Rule(
        "finish_reason_wrong",
        "afm_bug",
        4,
        "The response reached max_tokens but finish_reason says 'stop' instead of "
        "'length'.",
    ),
    Rule(
        "throughput_outlier",
        "ok",
        NO_FLAG_SCORE,
        "Throughput is far from the model's median.",
    ),
)
RULES_BY_FLAG = {rule.flag: rule for rule in RULES}
RULE_ORDER = {rule.flag: position for position, rule in enumerate(RULES)}

# Words in a variant's label or intent that show an early or empty stop is the
# expected outcome, as in a test of stopping on the very first token.
_EXPECTS_EARLY_STOP = re.compile(
    r"\b(?:immediate|empty|first (?:possible )?token)", re.I
)

# Empty answers: nothing relevant reached the user, whatever the reason.
_NO_ANSWER_FLAGS = {
    "empty_output",
    "stop_in_reasoning",
    "stop_at_answer_start",
    "thinking_budget_exhausted",
    "reasoning_only",
}


def _apply_rule(rule: Rule, finding: Finding, flags: set[str], intent: str) -> Rule:
    """Return the rule adjusted to the finding's details."""
    if rule.flag == "request_failed":
        error_type = ERROR_TYPES[str(finding.detail.get("error_type", "other"))]
        cause = describe_cause(error_type, str(finding.detail.get("error_detail", "")))
        reason = f"Request failed ({error_type.title}): {cause}."
        return Rule(rule.flag, error_type.category, 1, reason)

    if rule.flag == "thinking_budget_exhausted":
        budget = finding.detail.get("max_tokens")
        if "repetition_loop" in flags:
            return Rule(
                rule.flag,
                "model_quality",
                2,
                "The reasoning fell into a loop and used the whole token budget "
                "before any answer.",
            )
        if isinstance(budget, int) and budget < 1024:
            return Rule(
                rule.flag,
                "test_config",
                3,
                f"A budget of {budget} tokens is too small for a reasoning model: "
                "the reasoning used it all before any answer.",
            )
        return rule

    if rule.flag == "stop_at_answer_start" and _EXPECTS_EARLY_STOP.search(intent):
        return Rule(
            rule.flag,
            "ok",
            4,
            "The stop string matched the start of the answer, which this test expects.",
        )

    if rule.flag == "format_violation":
        problem = str(finding.detail.get("problem", ""))
        if "markdown code fence" in problem:
            return Rule(
                rule.flag,
                "afm_bug",
                3,
                "The JSON is valid but wrapped in a markdown code fence, which the "
                "requested format does not allow.",
            )
    return rule


def rules_verdict(findings: list[Finding], intent: str = "") -> Verdict:
    """Return the rules judge's verdict for one record's findings."""
    flags = [finding for finding in findings if finding.kind == "flag"]
    flag_names = {finding.name for finding in flags}
    applied = []
    for finding in flags:
        rule = RULES_BY_FLAG.get(finding.name)
        if rule is not None:
            applied.append((_apply_rule(rule, finding, flag_names, intent), finding))

    if not applied:
        return Verdict(
            score=NO_FLAG_SCORE,
            category="ok",
            flags=[],
            evidence="",
            reason="No check found a problem; the rules judge does not assess "
            "answer quality.",
            judge=RULES_JUDGE_NAME,
        )

    applied.sort(key=lambda pair: (pair[0].max_score, RULE_ORDER[pair[0].flag]))
    primary, primary_finding = applied[0]
    others = sorted({rule.flag for rule, _ in applied[1:]} - {primary.flag})
    reason = primary.reason
    explanation = primary_finding.detail.get("explanation")
    if explanation:
        reason += f" Reading of the trace: {explanation}."
    if others:
        reason += " Also flagged: " + ", ".join(others) + "."

    coherence = relevance = None
    no_answer = flag_names & _NO_ANSWER_FLAGS and "request_failed" not in flag_names
    if no_answer and primary.category != "ok":
        relevance = 1
    if "garbled_output" in flag_names:
        coherence = relevance = 1
    elif "repetition_loop" in flag_names:
        coherence = 2

    return Verdict(
        score=primary.max_score,
        coherence=coherence,
        relevance=relevance,
        category=primary.category,
        flags=[finding.name for finding in flags],
        evidence=clip(primary_finding.evidence),
        reason=reason,
        judge=RULES_JUDGE_NAME,
    )
