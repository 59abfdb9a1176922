"""Judge settings and result models, without importing the judge clients.

The CLI and compose need these types on every command. The openai and
instructor packages take about a second to import, so they stay in
judge_client.py and load only when a judge model runs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from pydantic import BaseModel, Field

# Structured-output modes of instructor that --judge-mode offers.
MODE_NAMES = ("json", "json_schema", "md_json", "tools")

# Default budget of characters of record text (content plus reasoning) that the
# judge sees. About 12,000 characters is some 3,000-4,000 tokens of English,
# which leaves room for the rubric and the answer in an 8k-token context.
DEFAULT_MAX_CHARS = 12_000


@dataclass
class JudgeEndpoint:
    """Address, credentials, mode and retry limits of one judge model."""

    model: str
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    mode: str | None = None
    timeout_s: float = 120.0
    max_attempts: int = 4
    max_reasks: int = 2
    backoff_s: float = 1.0
    max_backoff_s: float = 30.0
    max_tokens: int = 600
    # Requests this endpoint can usefully take at once; None means no limit.
    max_concurrency: int | None = None
    # Upper limit on the record characters shown to this judge; None keeps
    # the --max-chars value.
    max_chars: int | None = None

    @property
    def name(self) -> str:
        return self.model

    @property
    def endpoint(self) -> str:
        return (
            self.base_url
            or os.environ.get("OPENAI_BASE_URL")
            or "https://api.openai.com/v1"
        )

    def chosen_mode(self) -> str:
        """Return the structured-output mode: the override, else one per endpoint.

        OpenAI's own API enforces JSON schemas, so it gets json_schema. Other
        endpoints get tools: llama-cpp-python 0.3's server, for one, constrains
        forced tool arguments with a grammar but rejects json_schema
        response formats.
        """
        if self.mode:
            return self.mode
        host = urlparse(self.endpoint).hostname or ""
        return "json_schema" if host == "api.openai.com" else "tools"


class JudgeStatsInfo(BaseModel):
    """Call statistics of one judge: calls, retries, fallbacks and tokens."""

    name: str
    mode: str
    records: int
    calls: int
    cache_hits: int
    transport_retries: int
    reasks: int
    fallbacks: int
    prompt_tokens: int
    completion_tokens: int
    estimated_cost_usd: float | None


@dataclass
class JudgeOptions:
    """Settings with which grade runs the judge models."""

    judges: list[JudgeEndpoint | str] = field(default_factory=list)
    prompts_dir: Path | None = None
    cases: Path | None = None
    max_chars: int = DEFAULT_MAX_CHARS
    concurrency: int = 8
    cache_dir: Path | None = None
    use_cache: bool = True
    show_progress: bool = True
    log_dir: Path | None = None


class AgreementInfo(BaseModel):
    """Agreement between two judges over the records both graded."""

    judges: tuple[str, str]
    records: int
    exact: float
    within_one: float
    category_kappa: float | None


class Disagreement(BaseModel):
    """A record on which the judges differ by 2+ points or in category."""

    index: int
    scores: dict[str, int]
    categories: dict[str, str]


class PanelReport(BaseModel):
    agreement: list[AgreementInfo] = Field(default_factory=list)
    disagreements: list[Disagreement] = Field(default_factory=list)
