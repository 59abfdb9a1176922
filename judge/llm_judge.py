"""Grade records with a judge model: structured answers, bounded by the checks.

For every record the judge sees the rendered record (judge_prompt.py) and
fills in JudgeAnswer. The answer becomes a Verdict, and the bounds table
(bounds.py) caps it where hard facts disagree. A record whose judge fails after
every retry keeps the rules judge's verdict, with `judge_error` set.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import instructor
from pydantic import Field, field_validator

from judge.bounds import apply_bounds, check_answer
from judge.judge_client import CallStats, JudgeCallError, JudgeClient, JudgeEndpoint
from judge.judge_config import DEFAULT_MAX_CHARS
from judge.judge_prompt import JudgePrompts, render_record
from judge.records import RunRecord
from judge.verdict import Category, Finding, Verdict, clip
from judge.verdict_cache import VerdictCache, cache_key

log = logging.getLogger(__name__)

# Choices are enumerations so that constrained decoders can only emit valid
# values: llama.cpp's grammar does not enforce integer bounds (a field with
# maximum 5 came back as 10), but it does enforce an enum.
Score = Literal[1, 2, 3, 4, 5]
OverrulableFlag = Literal[
    "stop_in_reasoning", "stop_at_answer_start", "reasoning_only", "repetition_loop"
]


_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f]")


class JudgeAnswer(instructor.OpenAISchema):
    """The verdict a judge model fills in for one record.

    Subclassing instructor's schema base saves instructor from deriving a new
    model class on every call (about 3 ms of CPU per request).
    """

    evidence: str = Field(
        max_length=100,
        description="A quote of at most 100 characters from the record that "
        "supports the verdict.",
    )
    reason: str = Field(max_length=400, description="One or two sentences.")
    category: Category
    score: Score
    coherence: Score | None = Field(description="null when there is no answer text.")
    relevance: Score | None = Field(description="null when there is no answer text.")
    overruled: list[OverrulableFlag] = Field(
        max_length=4, description="Judgment flags you overrule; usually empty."
    )
    overrule_reason: str = Field(
        max_length=300, description="Why you overrule them; empty if you do not."
    )

    @classmethod
    def model_validate_json(cls, json_data: str | bytes | bytearray, **kwargs: Any):
        """Parse the answer, reading raw control characters in strings as spaces.

        Small models often put a literal newline inside a JSON string, which
        the JSON grammar forbids. Outside strings such characters are only
        whitespace, so a space is a safe replacement everywhere.
        """
        if isinstance(json_data, (bytes, bytearray)):
            json_data = json_data.decode("utf-8", errors="replace")
        cleaned = _CONTROL_CHARACTERS.sub(" ", json_data)
        return super().model_validate_json(cleaned, **kwargs)

    @field_validator("evidence", mode="before")
    @classmethod
    def _clip_evidence(cls, value: object) -> object:
        # A long quote is clipped rather than sent back for a costly re-ask.
        return clip(value, 100) if isinstance(value, str) else value

    @field_validator("reason", mode="before")
    @classmethod
    def _clip_reason(cls, value: object) -> object:
        return clip(value, 400) if isinstance(value, str) else value

    @field_validator("overrule_reason", mode="before")
    @classmethod
    def _clip_overrule(cls, value: object) -> object:
        return clip(value, 300) if isinstance(value, str) else value


@dataclass
class JudgeItem:
    """One record to judge, with what the judge needs to see."""

    record: RunRecord
    findings: list[Finding]
    intent: str
    is_baseline: bool
    rules_verdict: Verdict
    paired: RunRecord | None = None


@dataclass
class JudgeRun:
    """The verdicts of one judge over a run, with its call statistics."""

    name: str
    mode: str
    verdicts: dict[int, Verdict] = field(default_factory=dict)
    stats: CallStats = field(default_factory=CallStats)


def answer_to_verdict(
    answer: JudgeAnswer, item: JudgeItem, judge_name: str, prompt_hash: str
) -> Verdict:
    verdict = Verdict(
        score=answer.score,
        coherence=answer.coherence,
        relevance=answer.relevance,
        category=answer.category,
        flags=[],
        evidence=answer.evidence,
        reason=answer.reason,
        judge=judge_name,
        overrule_reason=answer.overrule_reason,
        prompt_hash=prompt_hash,
    )
    bounded = apply_bounds(verdict, item.findings, list(answer.overruled))
    record = item.record
    sources = [
        record.content,
        record.reasoning_content,
        record.prompt or "",
        record.error,
        record.system_prompt,
        *(finding.evidence for finding in item.findings),
    ]
    return check_answer(bounded, sources)


def fallback_verdict(item: JudgeItem, error: str, prompt_hash: str) -> Verdict:
    return item.rules_verdict.model_copy(
        update={"judge_error": error, "prompt_hash": prompt_hash}
    )


async def judge_records(
    items: list[JudgeItem],
    endpoint: JudgeEndpoint,
    prompts: JudgePrompts,
    cache: VerdictCache | None,
    concurrency: int = 8,
    max_chars: int = DEFAULT_MAX_CHARS,
    on_done: Callable[[], None] | None = None,
) -> JudgeRun:
    """Judge every item with one judge model; every item gets a verdict."""
    stats = CallStats()
    client = JudgeClient(endpoint, stats)
    run = JudgeRun(name=endpoint.name, mode=client.mode_name, stats=stats)
    if endpoint.max_concurrency is not None:
        concurrency = min(concurrency, endpoint.max_concurrency)
    if endpoint.max_chars is not None:
        max_chars = min(max_chars, endpoint.max_chars)
    limit = asyncio.Semaphore(max(1, concurrency))

    async def judge_one(item: JudgeItem) -> None:
        messages = [
            {"role": "system", "content": prompts.system},
            {
                "role": "user",
                "content": render_record(
                    prompts,
                    item.record,
                    item.findings,
                    item.intent,
                    item.is_baseline,
                    max_chars,
                    item.paired,
                ),
            },
        ]
        key = cache_key(
            endpoint.model,
            endpoint.endpoint,
            client.mode_name,
            prompts.sha256,
            messages,
        )
        cached = cache.get(key) if cache is not None else None
        if cached is not None:
            stats.cache_hits += 1
            answer = JudgeAnswer.model_validate(cached[0])
        else:
            try:
                async with limit:
                    answer, usage = await client.ask(JudgeAnswer, messages)
            except JudgeCallError as exc:
                stats.add_usage(exc.usage)
                log.warning(
                    "judge %s failed on record %d (%s): %s; keeping the rules verdict",
                    endpoint.name,
                    item.record.index,
                    item.record.variant,
                    exc,
                )
                run.verdicts[item.record.index] = fallback_verdict(
                    item, str(exc), prompts.short_hash
                )
                if on_done:
                    on_done()
                return
            stats.add_usage(usage)
            if cache is not None:
                cache.put(key, answer.model_dump(mode="json"), usage)
        run.verdicts[item.record.index] = answer_to_verdict(
            answer, item, endpoint.name, prompts.short_hash
        )
        if on_done:
            on_done()

    try:
        await asyncio.gather(*(judge_one(item) for item in items))
    finally:
        await client.close()
    return run
