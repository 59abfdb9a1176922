"""Judge prompts: load them from files, hash them, render one record into them.

The prompts are the files system.md and record.md, shipped in the package as
judge.prompts (the repository's prompts/ folder) or read from a folder given
with --prompts. Their hash is part of every verdict and of the cache key, so
editing a prompt invalidates cached verdicts.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import json
from dataclasses import dataclass
from importlib.resources.abc import Traversable
from pathlib import Path
from string import Template

from judge.checks import stop_strings
from judge.judge_config import DEFAULT_MAX_CHARS
from judge.records import RunRecord
from judge.verdict import Finding

PROMPT_FILES = ("system.md", "record.md")


# Flags that are the code's reading of the evidence, which the judge may
# overrule; every other flag is a measured fact.
JUDGMENT_FLAGS = frozenset(
    {"stop_in_reasoning", "stop_at_answer_start", "reasoning_only", "repetition_loop"}
)

_TAG_ESCAPES = (("</record-", "&lt;/record-"), ("<record-", "&lt;record-"))


class PromptError(Exception):
    """A prompt folder is missing a file or a template is invalid."""


@dataclass(frozen=True)
class JudgePrompts:
    """The loaded prompt files and their combined hash."""

    system: str
    record: Template
    sha256: str
    source: str

    @property
    def short_hash(self) -> str:
        return self.sha256[:12]


def load_prompts(folder: Path | None = None) -> JudgePrompts:
    """Load the prompt files from `folder`, or the copies shipped in the package."""
    texts: dict[str, str] = {}
    if folder is not None:
        for name in PROMPT_FILES:
            path = folder / name
            if not path.is_file():
                raise PromptError(
                    f"prompt file {path} not found: --prompts must name a folder "
                    f"with {' and '.join(PROMPT_FILES)}"
                )
            texts[name] = path.read_text(encoding="utf-8")
        source = str(folder)
    else:
        package = _shipped_prompts()
        for name in PROMPT_FILES:
            texts[name] = package.joinpath(name).read_text(encoding="utf-8")
        source = "built-in"

    digest = hashlib.sha256()
    for name in PROMPT_FILES:
        digest.update(name.encode() + b"\0" + texts[name].encode("utf-8") + b"\0")
    return JudgePrompts(
        system=texts["system.md"].strip(),
        record=Template(texts["record.md"]),
        sha256=digest.hexdigest(),
        source=source,
    )


def _shipped_prompts() -> Traversable:
    """Return the built-in prompt folder.

    In a source checkout (and an editable install) that is the repository's
    prompts/ folder; a wheel installs the same files as the judge.prompts
    package.
    """
    checkout = Path(__file__).resolve().parent.parent / "prompts"
    if (checkout / PROMPT_FILES[0]).is_file():
        return checkout
    return importlib.resources.files("judge.prompts")


def fence(text: str) -> str:
    """Escape anything in `text` that could open or close a record tag."""
    for raw, escaped in _TAG_ESCAPES:
        text = text.replace(raw, escaped)
    return text


def cut_middle(text: str, budget: int) -> str:
    """Keep the head and tail of `text` within `budget` characters, saying what was cut."""
    if len(text) <= budget:
        return text
    head = budget * 2 // 5
    tail = budget - head
    removed = len(text) - head - tail
    return (
        f"{text[:head]}\n[... {removed:,} of {len(text):,} characters cut here by "
        f"the grader ...]\n{text[-tail:]}"
    )


def _share_budget(content: str, reasoning: str, budget: int) -> tuple[int, int]:
    """Split the character budget, giving unused room of one text to the other."""
    content_room = max(budget // 2, budget - len(reasoning))
    reasoning_room = max(budget - min(len(content), content_room), budget // 2)
    return min(content_room, budget), min(reasoning_room, budget)


def describe_checks(findings: list[Finding]) -> str:
    """List the findings, each marked as a fact, a judgment or an observation."""
    lines = []
    for finding in findings:
        if finding.kind == "fact":
            kind = "observation"
        elif finding.name in JUDGMENT_FLAGS:
            kind = "judgment"
        else:
            kind = "fact"
        lines.append(f"- {finding.name} ({kind}): {finding.evidence}")
    return "\n".join(lines) or "No check fired."


def _parameters(record: RunRecord) -> str:
    fields = (
        "temperature",
        "max_tokens",
        "max_completion_tokens",
        "top_p",
        "top_k",
        "min_p",
        "seed",
        "presence_penalty",
        "frequency_penalty",
        "repetition_penalty",
        "response_format",
        "stream",
    )
    values = {
        name: getattr(record, name)
        for name in fields
        if getattr(record, name) is not None
    }
    return json.dumps(values, ensure_ascii=False, default=str) if values else "none"


def render_record(
    prompts: JudgePrompts,
    record: RunRecord,
    findings: list[Finding],
    intent: str,
    is_baseline: bool,
    max_chars: int = DEFAULT_MAX_CHARS,
    paired: RunRecord | None = None,
) -> str:
    """Return the user message that shows one record to the judge."""
    content_budget, reasoning_budget = _share_budget(
        record.content, record.reasoning_content, max_chars
    )
    tokens = (
        f"{record.completion_tokens} completion of {record.token_budget} allowed"
        if record.completion_tokens is not None
        else "not recorded"
    )
    paired_text = ""
    if paired is not None:
        paired_text = (
            f"\n<record-paired-output>\nVariant {fence(paired.variant)} sent the same "
            "request and should match:\n"
            f"{fence(cut_middle(paired.content, max_chars // 4))}\n"
            "</record-paired-output>\n"
        )
    values = {
        "variant": fence(record.variant),
        "model": fence(record.base_model),
        "baseline": "yes" if is_baseline else "no",
        "afm_args": fence(record.afm_args or "none"),
        "parameters": fence(_parameters(record)),
        "stops": fence(json.dumps(stop_strings(record), ensure_ascii=False)),
        "status": record.status,
        "error": fence(record.error or "none"),
        "finish_reason": fence(str(record.finish_reason)),
        "tokens": tokens,
        "intent": fence(intent or "not given"),
        "system_prompt": fence(record.system_prompt or "none"),
        "prompt": fence(cut_middle(record.prompt or "(not recorded)", max_chars // 4)),
        "checks": fence(describe_checks(findings)),
        "reasoning": fence(cut_middle(record.reasoning_content, reasoning_budget))
        or "(empty)",
        "content": fence(cut_middle(record.content, content_budget)) or "(empty)",
        "paired": paired_text,
    }
    try:
        return prompts.record.substitute(values)
    except (KeyError, ValueError) as exc:
        raise PromptError(
            f"record template of {prompts.source} is invalid: {exc}"
        ) from exc
