"""Run records in AFM's results format: one JSON object per request.

AFM's harness writes a `_meta` line (version, command, timestamp) and then one
line per request. Field names here are AFM's own, so a file that collect writes
stays readable by AFM's HTML report generator. Fields that afm-judge adds
(`record_id`, `variant_intent`, `stream`, `ttft_s`, `server_log`) are optional
and ignored by AFM's tools.
"""

from __future__ import annotations

import hashlib
import math
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

LABEL_SEPARATOR = " @ "


def make_record_id(model: str, label: str, prompt: str | None, index: int) -> str:
    """Return a stable 16-hex-digit id for the record at `index`.

    The id hashes the model as written in the record (often already
    "org/model @ label"), the label, the prompt and the index, so re-reading or
    resuming a run gives every record the same id.
    """
    key = "\x1f".join([model.strip(), label.strip(), prompt or "", str(index)])
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


def _coerce_bool(value: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("true", "1", "yes"):
            return True
        if lowered in ("false", "0", "no", ""):
            return False
    if isinstance(value, (int, float)):
        return bool(value)
    return None


# JSON writers (orjson among them) handle integers up to 64 bits; counts and
# times beyond 2**53 are not real measurements either.
_MAX_NUMBER = 2**53


def _finite_number(value: Any) -> float:
    """Return `value` as a finite float; raise ValueError for anything else."""
    if isinstance(value, bool):
        raise ValueError(f"expected a number, not {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"expected a number, not {value!r}") from None
    if not math.isfinite(number) or abs(number) > _MAX_NUMBER:
        raise ValueError(f"number out of range: {value!r}")
    return number


class RunMeta(BaseModel):
    """The optional `_meta` line at the top of a results file."""

    model_config = ConfigDict(extra="allow")

    afm_version: str | None = None
    test_command: str | None = None
    afm_binary: str | None = None
    timestamp: str | None = None


class RunRecord(BaseModel):
    """One request and its response, as a line of a results file.

    Every field is optional because real files omit many of them (the oldest
    have no `label` and no `prompt`). Unknown fields are kept.
    """

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    # Position and identity, computed by the reader (not stored by AFM).
    index: int = Field(default=0, exclude=True)
    record_id: str = ""
    line: int = Field(default=0, exclude=True)

    model: str = ""
    label: str = ""
    prompt: str | None = None
    status: str = "OK"
    error: str = ""

    load_time_s: float | None = None
    gen_time_s: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    tokens_per_sec: float | None = None

    content: str = ""
    reasoning_content: str = ""
    content_preview: str | None = None
    finish_reason: str | None = None

    temperature: float | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    system_prompt: str = ""
    afm_args: str = ""

    stop: list[str] | None = None
    seed: int | None = None
    top_p: float | None = None
    top_k: int | None = None
    min_p: float | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    repetition_penalty: float | None = None
    response_format: str | dict[str, Any] | None = None
    media: list[str] | str | None = None

    is_valid_json: bool | None = None
    is_baseline: bool | None = None
    system_fingerprint: str | None = None
    logprobs_count: int | None = None

    # Fields that afm-judge's collect adds.
    tool_calls: list[dict[str, Any]] | None = None
    variant_intent: str | None = None
    stream: bool | None = None
    ttft_s: float | None = None
    server_log: str | None = None

    @field_validator("label", "afm_args", "system_prompt", mode="before")
    @classmethod
    def _strip_trailing(cls, value: Any) -> str:
        # AFM's harness leaves the section line's newline on labels and flags.
        if value is None:
            return ""
        return str(value).rstrip()

    @field_validator("model", mode="before")
    @classmethod
    def _strip_model(cls, value: Any) -> str:
        return "" if value is None else str(value).strip()

    @field_validator("content", "reasoning_content", "error", mode="before")
    @classmethod
    def _none_to_empty(cls, value: Any) -> str:
        return "" if value is None else str(value)

    @field_validator("status", mode="before")
    @classmethod
    def _normalise_status(cls, value: Any) -> str:
        if value is None:
            return "OK"
        status = str(value).strip().upper()
        if status not in ("OK", "FAIL"):
            raise ValueError(f"status must be OK or FAIL, not {value!r}")
        return status

    @field_validator("is_valid_json", "is_baseline", "stream", mode="before")
    @classmethod
    def _parse_bool(cls, value: Any) -> bool | None:
        return _coerce_bool(value)

    @field_validator("stop", mode="before")
    @classmethod
    def _stop_list(cls, value: Any) -> list[str] | None:
        if value is None:
            return None
        if isinstance(value, str):
            return [value]
        if isinstance(value, (list, tuple)) and all(isinstance(i, str) for i in value):
            return list(value)
        raise ValueError("stop must be a string or a list of strings")

    @field_validator(
        "seed",
        "top_k",
        "max_tokens",
        "max_completion_tokens",
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "logprobs_count",
        mode="before",
    )
    @classmethod
    def _int_or_none(cls, value: Any, info: ValidationInfo) -> int | None:
        if value is None or value == "":
            return None
        number = _finite_number(value)
        if number != int(number):
            raise ValueError(f"expected a whole number, not {value!r}")
        if info.field_name != "seed" and number < 0:
            raise ValueError(f"expected a count of zero or more, not {value!r}")
        return int(number)

    @field_validator(
        "load_time_s",
        "gen_time_s",
        "tokens_per_sec",
        "temperature",
        "top_p",
        "min_p",
        "presence_penalty",
        "frequency_penalty",
        "repetition_penalty",
        "ttft_s",
        mode="before",
    )
    @classmethod
    def _float_or_none(cls, value: Any) -> float | None:
        if value is None or value == "":
            return None
        return _finite_number(value)

    @property
    def failed(self) -> bool:
        return self.status == "FAIL"

    @property
    def base_model(self) -> str:
        """The model id without the " @ label" suffix, in "org/name" form.

        Old AFM sweeps name some models by their Hugging Face cache folder,
        "hub/models--org--name"; that becomes "org/name".
        """
        model = self.model.split(LABEL_SEPARATOR, 1)[0].strip()
        match = _HUB_CACHE_NAME.fullmatch(model)
        if match:
            return f"{match.group(1)}/{match.group(2)}"
        return model

    @property
    def display_name(self) -> str:
        """ "org/model @ label", with the label written once."""
        if not self.label:
            return self.model
        if self.model.endswith(LABEL_SEPARATOR + self.label):
            return self.model
        return f"{self.base_model}{LABEL_SEPARATOR}{self.label}"

    @property
    def variant(self) -> str:
        """The variant name: the label, or the model when there is none."""
        return self.label or self.model

    @property
    def token_budget(self) -> int | None:
        """The completion budget in force: max_completion_tokens, else max_tokens."""
        return self.max_completion_tokens or self.max_tokens


_HUB_CACHE_NAME = re.compile(r"(?:.*/)?models--([^/]+?)--([^/]+)")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")
# One frame of AFM's terminal progress bar, for example
# "[-        ]   --.-% loading model | mem 0.19 GB | 0.2s".
_PROGRESS_FRAME = re.compile(
    r"\[[^\]\n]{0,80}\]\s+[\d.\-]+%[^|\n]*(?:\|[^|\n]*){0,3}?\|\s*[\d.]+s"
)


def clean_error(text: str) -> str:
    """Strip ANSI escapes, progress-bar frames and escaped quotes from an error."""
    if not text:
        return ""
    cleaned = _ANSI.sub("", text)
    cleaned = _PROGRESS_FRAME.sub("", cleaned)
    cleaned = cleaned.replace("\r", "").replace('\\"', '"')
    lines = [line.strip() for line in cleaned.splitlines()]
    return "\n".join(line for line in lines if line).strip()
