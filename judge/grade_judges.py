"""Run one or more judge models over a run and combine their verdicts."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from judge.analysis import RunFindings
from judge.crosschecks import PairGroup
from judge.intents import case_file_from_meta, intent_for, load_intents
from judge.judge_config import JudgeEndpoint, JudgeOptions, JudgeStatsInfo, PanelReport
from judge.judge_prompt import JudgePrompts, load_prompts
from judge.llm_judge import JudgeItem, JudgeRun, judge_records
from judge.local_judge import LOCAL_JUDGE, local_judge
from judge.panel import agreement, combine
from judge.pricing import estimate_cost
from judge.records import RunRecord
from judge.runs import Run
from judge.verdict import Verdict
from judge.verdict_cache import VerdictCache, default_cache_dir

log = logging.getLogger(__name__)


@dataclass
class JudgeOutcome:
    verdicts: dict[int, Verdict]
    stats: list[JudgeStatsInfo]
    panel: PanelReport
    prompt_hash: str
    per_judge: dict[int, list[Verdict]]


def _partners(groups: list[PairGroup]) -> dict[int, int]:
    """Map each record of a mismatched pair group to another member."""
    partners: dict[int, int] = {}
    for group in groups:
        if group.consistent:
            continue
        for index in group.indices:
            partners[index] = next(other for other in group.indices if other != index)
    return partners


def build_items(
    run: Run, findings: RunFindings, rules: dict[int, Verdict], cases: Path | None
) -> list[JudgeItem]:
    case_path = cases or case_file_from_meta(run.meta, run.path)
    intents = load_intents(case_path) if case_path else {}
    if case_path:
        log.info("read %d variant intents from %s", len(intents), case_path)
        matched = sum(
            1 for r in run.records if r.label in intents or r.base_model in intents
        )
        if cases is not None and not matched:
            log.warning(
                "no record of %s matches a section of %s, so the judge sees no "
                "intent; check that --cases names the case file of this run",
                run.path,
                cases,
            )
    by_index: dict[int, RunRecord] = {record.index: record for record in run.records}
    partners = _partners(findings.pair_groups)
    return [
        JudgeItem(
            record=record,
            findings=findings.by_index[record.index],
            intent=intent_for(record, intents),
            is_baseline=record.index in findings.baselines,
            rules_verdict=rules[record.index],
            paired=by_index.get(partners[record.index])
            if record.index in partners
            else None,
        )
        for record in run.records
    ]


def _stats_info(run: JudgeRun, records: int) -> JudgeStatsInfo:
    stats = run.stats
    return JudgeStatsInfo(
        name=run.name,
        mode=run.mode,
        records=records,
        calls=stats.calls,
        cache_hits=stats.cache_hits,
        transport_retries=stats.transport_retries,
        reasks=stats.reasks,
        fallbacks=stats.failures,
        prompt_tokens=stats.prompt_tokens,
        completion_tokens=stats.completion_tokens,
        estimated_cost_usd=estimate_cost(
            run.name, stats.prompt_tokens, stats.completion_tokens
        ),
    )


async def _run_judges(
    endpoints: list[JudgeEndpoint],
    items: list[JudgeItem],
    prompts: JudgePrompts,
    options: JudgeOptions,
) -> list[JudgeRun]:
    cache = None
    if options.use_cache:
        cache = VerdictCache(options.cache_dir or default_cache_dir())
    progress = Progress(
        TextColumn("judge {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not options.show_progress,
    )
    try:
        with progress:
            runs = []
            for endpoint in endpoints:
                task = progress.add_task(endpoint.name, total=len(items))
                runs.append(
                    await judge_records(
                        items,
                        endpoint,
                        prompts,
                        cache,
                        options.concurrency,
                        options.max_chars,
                        on_done=lambda task=task: progress.advance(task),
                    )
                )
            return runs
    finally:
        if cache is not None:
            cache.close()


def judge_run(
    run: Run, findings: RunFindings, rules: dict[int, Verdict], options: JudgeOptions
) -> JudgeOutcome:
    """Grade every record with every judge of `options` and combine the verdicts."""
    items = build_items(run, findings, rules, options.cases)
    prompts = load_prompts(options.prompts_dir)
    with contextlib.ExitStack() as stack:
        endpoints = [
            stack.enter_context(local_judge(log_dir=options.log_dir))
            if judge == LOCAL_JUDGE
            else judge
            for judge in options.judges
        ]
        runs = asyncio.run(_run_judges(endpoints, items, prompts, options))

    verdicts = {
        item.record.index: combine(item.record.index, runs, item.rules_verdict)
        for item in items
    }
    per_judge = {
        item.record.index: [r.verdicts[item.record.index] for r in runs]
        for item in items
    }
    stats = [_stats_info(r, len(items)) for r in runs]
    for info in stats:
        log.info(
            "judge %s: %d calls, %d cache hits, %d retries, %d re-asks, %d fallbacks",
            info.name,
            info.calls,
            info.cache_hits,
            info.transport_retries,
            info.reasks,
            info.fallbacks,
        )
    return JudgeOutcome(verdicts, stats, agreement(runs), prompts.short_hash, per_judge)
