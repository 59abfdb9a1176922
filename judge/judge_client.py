"""Call a judge model through instructor, with transport retries around it.

Two layers, kept apart: instructor re-asks the model when its answer does not
validate (up to `max_reasks` times), and tenacity retries the whole call on
transport errors (429, 5xx, timeouts, lost connections) with exponential
backoff and jitter, honouring Retry-After. The openai client's own retries are
off so that only tenacity decides.
"""

from __future__ import annotations

import email.utils
import logging
import os
import random
import time
from dataclasses import dataclass
from typing import Any, TypeVar

import instructor
import openai
from instructor.core.exceptions import InstructorRetryException
from pydantic import BaseModel
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
)

from judge.judge_config import MODE_NAMES, JudgeEndpoint

log = logging.getLogger(__name__)

Answer = TypeVar("Answer", bound=BaseModel)

MODES = {
    "tools": instructor.Mode.TOOLS,
    "json": instructor.Mode.JSON,
    "md_json": instructor.Mode.MD_JSON,
    "json_schema": instructor.Mode.JSON_SCHEMA,
}
assert set(MODES) == set(MODE_NAMES)
# Maximum wait in seconds that a Retry-After header may impose.
MAX_RETRY_AFTER_S = 60.0


class JudgeCallError(Exception):
    """The judge gave no valid answer after every retry and re-ask."""

    def __init__(self, message: str, usage: dict[str, int] | None = None) -> None:
        super().__init__(message)
        self.usage = usage or {}


@dataclass
class CallStats:
    """Counters shared by every call of one judge."""

    calls: int = 0
    transport_retries: int = 0
    reasks: int = 0
    failures: int = 0
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def add_usage(self, usage: dict[str, int]) -> None:
        self.prompt_tokens += usage.get("prompt_tokens", 0)
        self.completion_tokens += usage.get("completion_tokens", 0)


def _transport_cause(exc: BaseException) -> BaseException:
    """Return the API error behind an instructor exception, or `exc` itself."""
    if isinstance(exc, InstructorRetryException) and exc.__cause__ is not None:
        return exc.__cause__
    return exc


def is_transport_error(exc: BaseException) -> bool:
    cause = _transport_cause(exc)
    if isinstance(cause, (openai.APITimeoutError, openai.APIConnectionError)):
        return True
    if isinstance(cause, openai.APIStatusError):
        return cause.status_code == 429 or cause.status_code >= 500
    return False


def backoff_delay(attempt: int, base_s: float, max_s: float) -> float:
    """Return the wait before retry number `attempt`: exponential, with jitter.

    The wait doubles from `base_s` per attempt up to `max_s`, plus a random
    jitter of up to `base_s`, so concurrent calls do not retry in lockstep.
    """
    exponential = base_s * 2 ** max(attempt - 1, 0)
    return min(exponential, max_s) + random.uniform(0, base_s)


def retry_after_seconds(exc: BaseException) -> float | None:
    """Read Retry-After (seconds or an HTTP date) or retry-after-ms from the error."""
    cause = _transport_cause(exc)
    response = getattr(cause, "response", None)
    headers = getattr(response, "headers", None)
    if not headers:
        return None
    if headers.get("retry-after-ms"):
        try:
            return float(headers["retry-after-ms"]) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value)
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


class JudgeClient:
    """An instructor client for one endpoint, with retry accounting."""

    def __init__(self, endpoint: JudgeEndpoint, stats: CallStats) -> None:
        self.endpoint = endpoint
        self.stats = stats
        api_key = endpoint.api_key or os.environ.get("OPENAI_API_KEY") or "not-needed"
        raw = openai.AsyncOpenAI(
            base_url=endpoint.endpoint,
            api_key=api_key,
            timeout=endpoint.timeout_s,
            max_retries=0,
        )
        self._raw = raw
        self.mode_name = endpoint.chosen_mode()
        self.client = instructor.from_openai(raw, mode=MODES[self.mode_name])
        self.client.on("parse:error", self._count_reask)

    async def close(self) -> None:
        """Close the HTTP connections while the event loop still runs."""
        await self._raw.close()

    def _count_reask(self, *_: Any, **__: Any) -> None:
        self.stats.reasks += 1

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        retry_after = retry_after_seconds(exc) if exc else None
        if retry_after is not None:
            return min(max(retry_after, 0.0), MAX_RETRY_AFTER_S)
        return backoff_delay(
            state.attempt_number, self.endpoint.backoff_s, self.endpoint.max_backoff_s
        )

    def _before_sleep(self, state: RetryCallState) -> None:
        # tenacity computes the wait even for the attempt that ends the
        # retries, so retries are counted here, where it really sleeps.
        self.stats.transport_retries += 1
        exc = state.outcome.exception() if state.outcome else None
        log.info(
            "judge %s: %s; retrying in %.1f s (attempt %d of %d)",
            self.endpoint.model,
            type(_transport_cause(exc)).__name__ if exc else "error",
            state.next_action.sleep if state.next_action else 0.0,
            state.attempt_number + 1,
            self.endpoint.max_attempts,
        )

    async def ask(
        self, response_model: type[Answer], messages: list[dict]
    ) -> tuple[Answer, dict[str, int]]:
        """Return the validated answer and its token usage; raise JudgeCallError."""
        retrying = AsyncRetrying(
            retry=retry_if_exception(is_transport_error),
            stop=stop_after_attempt(self.endpoint.max_attempts),
            wait=self._wait,
            before_sleep=self._before_sleep,
            reraise=True,
        )
        self.stats.calls += 1
        try:
            async for attempt in retrying:
                with attempt:
                    (
                        answer,
                        completion,
                    ) = await self.client.chat.completions.create_with_completion(
                        model=self.endpoint.model,
                        response_model=response_model,
                        messages=messages,
                        max_retries=self.endpoint.max_reasks,
                        temperature=0,
                        max_tokens=self.endpoint.max_tokens,
                    )
        except Exception as exc:  # every failure becomes a rules-judge fallback
            self.stats.failures += 1
            cause = _transport_cause(exc)
            if isinstance(exc, InstructorRetryException) and not is_transport_error(
                exc
            ):
                # The last invalid answer ended the call; it was not re-asked.
                self.stats.reasks -= 1
            usage = _usage_dict(getattr(exc, "total_usage", None))
            message = f"{type(cause).__name__}: {str(cause)[:200]}"
            raise JudgeCallError(message, usage) from exc

        usage = _usage_dict(getattr(answer, "_total_usage", None) or completion.usage)
        return answer, usage


def _usage_dict(usage: Any) -> dict[str, int]:
    if usage is None:
        return {}
    return {
        "prompt_tokens": int(getattr(usage, "prompt_tokens", 0) or 0),
        "completion_tokens": int(getattr(usage, "completion_tokens", 0) or 0),
    }
