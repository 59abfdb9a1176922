"""Read a chat-completion response body or event stream into a ChatOutcome.

collect parses the response itself instead of using the SDK's models, because
those accept any body (an HTML page comes back as a str, `{}` as an empty
completion). Here a 200 response that is not a chat completion, a stream
event that is not JSON, and a stream that ends before its finish_reason and
`data: [DONE]` raise ResponseError, so that collect writes a FAIL record with
the reason and goes on with the next request.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

# Characters of a body or event quoted in an error.
SNIPPET_CHARS = 80


class ResponseError(Exception):
    """A response that cannot be recorded as OK; the message is the record's error."""


@dataclass
class ChatOutcome:
    """The response to one request, with its timing."""

    content: str = ""
    reasoning_content: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    # "server" when the usage object was sent, "stream_chunks" when
    # completion_tokens counts the streamed chunks that carried text.
    usage_source: str = "server"
    logprobs_count: int = 0
    system_fingerprint: str | None = None
    gen_time_s: float = 0.0
    ttft_s: float | None = None


def _invalid(detail: str) -> ResponseError:
    return ResponseError(f"invalid response from the server: {detail}")


def _snippet(text: str | bytes) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    flat = " ".join(text.split())
    if len(flat) > SNIPPET_CHARS:
        flat = flat[: SNIPPET_CHARS - 1] + "…"
    return repr(flat)


def _json_kind(value: Any) -> str:
    """Name the JSON type of a decoded value, with its article."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    return "null"


def _events(count: int) -> str:
    return "1 event" if count == 1 else f"{count} events"


def _media_type(content_type: str) -> str:
    return content_type.split(";")[0].strip().lower() or "no content type"


def _raise_error_object(data: dict[str, Any], where: str) -> None:
    """Raise ResponseError when `data` is an error object instead of a result."""
    error = data.get("error")
    if not error:
        return
    message = error.get("message") if isinstance(error, dict) else error
    if not isinstance(message, str) or not message.strip():
        message = json.dumps(error)[:SNIPPET_CHARS]
    raise ResponseError(f"the server returned an error {where}: {message}")


def _optional_text(container: dict[str, Any], name: str, where: str) -> str:
    """Return a string field that may be missing or null; other types are invalid."""
    value = container.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _invalid(f"{where}.{name} is {_json_kind(value)}, not a string")
    return value


def _optional_object(
    container: dict[str, Any], name: str, where: str
) -> dict[str, Any]:
    value = container.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _invalid(f"{where}.{name} is {_json_kind(value)}, not an object")
    return value


def _optional_list(container: dict[str, Any], name: str, where: str) -> list[Any]:
    value = container.get(name)
    if value is None:
        return []
    if not isinstance(value, list):
        raise _invalid(f"{where}.{name} is {_json_kind(value)}, not a list")
    return value


def _count(value: Any) -> int | None:
    """Return a token count, or None for anything that is not a whole number."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def _read_usage(outcome: ChatOutcome, usage: Any) -> None:
    if not isinstance(usage, dict):
        return
    outcome.prompt_tokens = _count(usage.get("prompt_tokens"))
    outcome.completion_tokens = _count(usage.get("completion_tokens"))
    outcome.total_tokens = _count(usage.get("total_tokens"))
    outcome.usage_source = "server"


def _logprobs_count(choice: dict[str, Any]) -> int:
    logprobs = choice.get("logprobs")
    if isinstance(logprobs, dict) and isinstance(logprobs.get("content"), list):
        return len(logprobs["content"])
    return 0


def _fingerprint(data: dict[str, Any]) -> str | None:
    value = data.get("system_fingerprint")
    return value if isinstance(value, str) else None


def _decode_body(body: bytes, content_type: str) -> Any:
    media_type = _media_type(content_type)
    if not body.strip():
        raise _invalid(f"expected a chat completion, got an empty body ({media_type})")
    try:
        return json.loads(body)
    except ValueError:
        if "json" in media_type:
            raise _invalid(
                f"the body is not valid JSON ({media_type}): {_snippet(body)}"
            ) from None
        raise _invalid(
            f"expected a chat completion, got {media_type}: {_snippet(body)}"
        ) from None


def _first_choice(data: dict[str, Any]) -> dict[str, Any]:
    if not data:
        raise _invalid("expected a chat completion, got an empty JSON object")
    if "choices" not in data:
        keys = ", ".join(sorted(data)[:8])
        raise _invalid(
            f"expected a chat completion, got a JSON object without choices "
            f"(keys: {keys})"
        )
    choices = _optional_list(data, "choices", "the completion")
    if not choices:
        raise _invalid("the chat completion has no choices")
    choice = choices[0]
    if not isinstance(choice, dict):
        raise _invalid(f"choices[0] is {_json_kind(choice)}, not an object")
    return choice


def read_completion(body: bytes, content_type: str) -> ChatOutcome:
    """Read a non-streamed response body; raise ResponseError when it is unusable."""
    data = _decode_body(body, content_type)
    if not isinstance(data, dict):
        raise _invalid(f"expected a chat completion object, got {_json_kind(data)}")
    _raise_error_object(data, "with status 200")
    choice = _first_choice(data)
    if not isinstance(choice.get("message"), dict):
        raise _invalid("choices[0] has no message object")
    message = choice["message"]
    where = "choices[0].message"

    outcome = ChatOutcome(system_fingerprint=_fingerprint(data))
    outcome.content = _optional_text(message, "content", where)
    outcome.reasoning_content = _optional_text(message, "reasoning_content", where)
    calls = _optional_list(message, "tool_calls", where)
    if not all(isinstance(call, dict) for call in calls):
        raise _invalid(f"{where}.tool_calls has an item that is not an object")
    outcome.tool_calls = calls
    finish_reason = choice.get("finish_reason")
    outcome.finish_reason = finish_reason if isinstance(finish_reason, str) else None
    outcome.logprobs_count = _logprobs_count(choice)
    _read_usage(outcome, data.get("usage"))
    return outcome


class _SseLines:
    """The `data:` payloads of a server-sent event stream, one per event.

    Follows the SSE format: an event ends at a blank line, its `data:` lines
    are joined with newlines, and comment lines (`:`) and other fields are
    skipped. An event without the closing blank line at the end of the body
    is still returned.
    """

    def __init__(self, lines: Iterable[str]) -> None:
        self._lines = lines
        self.first_line = ""

    def __iter__(self) -> Iterator[str]:
        data: list[str] = []
        for line in self._lines:
            if not self.first_line and line.strip():
                self.first_line = line
            if not line:
                if data:
                    yield "\n".join(data)
                    data = []
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            if name == "data":
                data.append(value[1:] if value.startswith(" ") else value)
        if data:
            yield "\n".join(data)


class _StreamState:
    """Text, tool calls and usage gathered from the chunks of a stream so far."""

    def __init__(self, started: float) -> None:
        self.started = started
        self.outcome = ChatOutcome()
        self.content: list[str] = []
        self.reasoning: list[str] = []
        self.calls: dict[int, dict[str, Any]] = {}
        self.text_chunks = 0
        self.usage: dict[str, Any] | None = None

    def add(self, chunk: dict[str, Any], number: int) -> None:
        where = f"stream event {number}"
        _raise_error_object(chunk, f"in {where}")
        self.outcome.system_fingerprint = (
            _fingerprint(chunk) or self.outcome.system_fingerprint
        )
        if isinstance(chunk.get("usage"), dict):
            self.usage = chunk["usage"]
        for position, choice in enumerate(_optional_list(chunk, "choices", where)):
            choice_where = f"{where}: choices[{position}]"
            if not isinstance(choice, dict):
                raise _invalid(f"{choice_where} is {_json_kind(choice)}, not an object")
            self._add_choice(choice, choice_where)

    def _add_choice(self, choice: dict[str, Any], where: str) -> None:
        delta = _optional_object(choice, "delta", where)
        got_text = False
        text = _optional_text(delta, "content", f"{where}.delta")
        if text:
            self.content.append(text)
            got_text = True
        reasoning = _optional_text(delta, "reasoning_content", f"{where}.delta")
        if reasoning:
            self.reasoning.append(reasoning)
            got_text = True
        for call in _optional_list(delta, "tool_calls", f"{where}.delta"):
            if not isinstance(call, dict):
                raise _invalid(
                    f"{where}.delta.tool_calls has an item that is not an object"
                )
            _merge_tool_call(self.calls, call)
            got_text = True
        if got_text:
            self.text_chunks += 1
            if self.outcome.ttft_s is None:
                self.outcome.ttft_s = time.monotonic() - self.started
        self.outcome.logprobs_count += _logprobs_count(choice)
        finish_reason = choice.get("finish_reason")
        if isinstance(finish_reason, str) and finish_reason:
            self.outcome.finish_reason = finish_reason

    def finish(self) -> ChatOutcome:
        outcome = self.outcome
        outcome.gen_time_s = time.monotonic() - self.started
        outcome.content = "".join(self.content)
        outcome.reasoning_content = "".join(self.reasoning)
        outcome.tool_calls = [self.calls[index] for index in sorted(self.calls)]
        if self.usage is not None:
            _read_usage(outcome, self.usage)
        else:
            # NOTE: llama-cpp-python 0.3 ignores stream_options and sends no
            # usage chunk. It sends one token per chunk, so the count matches
            # its usage except for the tokens of a matched stop string, which
            # it generates but does not send. Other servers may put several
            # tokens in a chunk.
            outcome.completion_tokens = self.text_chunks
            outcome.usage_source = "stream_chunks"
        return outcome


def read_stream(lines: Iterable[str], content_type: str, started: float) -> ChatOutcome:
    """Read a streamed response line by line; raise ResponseError when it is unusable.

    A complete stream has a chunk with a finish_reason and ends with
    `data: [DONE]`, as the OpenAI streaming format defines. `started` is the
    time.monotonic() at which the request was sent, for ttft_s and gen_time_s.
    """
    events = _SseLines(lines)
    state = _StreamState(started)
    count = 0
    done = False
    for data in events:
        count += 1
        if data.strip() == "[DONE]":
            done = True
            break
        try:
            chunk = json.loads(data)
        except ValueError:
            raise _invalid(
                f"stream event {count} is not JSON: {_snippet(data)}"
            ) from None
        if not isinstance(chunk, dict):
            raise _invalid(
                f"stream event {count} is {_json_kind(chunk)}, not a chat "
                "completion chunk"
            )
        state.add(chunk, count)

    if count == 0:
        media_type = _media_type(content_type)
        if events.first_line:
            detail = f"{media_type}: {_snippet(events.first_line)}"
        else:
            detail = f"{media_type}, empty"
        raise _invalid(f"expected a server-sent event stream, got {detail}")
    finish_reason = state.outcome.finish_reason
    if not done and finish_reason is None:
        raise _invalid(
            f"the stream ended after {_events(count)} without a finish_reason "
            "or data: [DONE]"
        )
    if not done:
        raise _invalid(
            f"the stream ended without data: [DONE] after finish_reason "
            f"{finish_reason!r} ({_events(count)})"
        )
    if finish_reason is None:
        raise _invalid(
            f"the stream sent data: [DONE] after {_events(count - 1)}, none "
            "with a finish_reason"
        )
    return state.finish()


def _merge_tool_call(
    calls: dict[int, dict[str, Any]], fragment: dict[str, Any]
) -> None:
    """Add a streamed tool-call fragment to the call with the same index."""
    index = fragment.get("index")
    if not isinstance(index, int):
        index = 0
    call = calls.setdefault(
        index,
        {"id": None, "type": "function", "function": {"name": "", "arguments": ""}},
    )
    if isinstance(fragment.get("id"), str) and fragment["id"]:
        call["id"] = fragment["id"]
    if isinstance(fragment.get("type"), str) and fragment["type"]:
        call["type"] = fragment["type"]
    function = fragment.get("function")
    if isinstance(function, dict):
        for name in ("name", "arguments"):
            part = function.get(name)
            if isinstance(part, str):
                call["function"][name] += part
