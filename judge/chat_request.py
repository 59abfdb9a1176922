"""Build one chat-completion request from a planned request and send it.

Requests go through the openai SDK. Parameters that the OpenAI API does not
define (top_k, min_p, repetition_penalty) travel in `extra_body`. The SDK's
retries are off: a dropped connection must show up as a FAIL record.
"""

from __future__ import annotations

import base64
import mimetypes
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from judge.llama_flags import FlagTranslation
from judge.plan import RequestParams

if TYPE_CHECKING:
    # The SDK takes about a second to import, so collect loads it in the
    # background while the first server starts (see judge.server_pool).
    import openai

# Parameters sent as named arguments of `chat.completions.create`.
_STANDARD_PARAMS = (
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "seed",
    "logprobs",
    "top_logprobs",
    "presence_penalty",
    "frequency_penalty",
    "stop",
    "response_format",
    "tools",
)
# Parameters that only some servers (AFM, llama.cpp, vLLM) read.
_EXTRA_PARAMS = ("top_k", "min_p", "repetition_penalty")


class MediaError(ValueError):
    """A media file of the request cannot be read."""


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


def media_part(reference: str) -> dict[str, Any]:
    """Return the content part for a media path or URL.

    Local files are sent inline as data URLs. Images go in `image_url`, audio
    in `input_audio` (base64 without a data-URL prefix, as the OpenAI API
    expects) and video in `video_url`, the part type vLLM and AFM read.
    """
    if reference.startswith(("http://", "https://", "data:")):
        kind = "video" if _mime_type(reference).startswith("video/") else "image"
        return {"type": f"{kind}_url", f"{kind}_url": {"url": reference}}

    path = Path(reference)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise MediaError(
            f"media file {reference} cannot be read: {exc.strerror}"
        ) from exc
    mime = _mime_type(reference)
    encoded = base64.b64encode(data).decode("ascii")
    if mime.startswith("audio/"):
        audio_format = path.suffix.lstrip(".").lower() or "wav"
        return {
            "type": "input_audio",
            "input_audio": {"data": encoded, "format": audio_format},
        }
    kind = "video" if mime.startswith("video/") else "image"
    url = f"data:{mime};base64,{encoded}"
    return {"type": f"{kind}_url", f"{kind}_url": {"url": url}}


def _mime_type(reference: str) -> str:
    guessed, _ = mimetypes.guess_type(reference)
    return guessed or "application/octet-stream"


def build_messages(
    params: RequestParams, prompt: str, system_as_flag: bool
) -> list[dict[str, Any]]:
    """Return the messages: system, developer, then the user prompt with media."""
    messages: list[dict[str, Any]] = []
    if params.system and not system_as_flag:
        messages.append({"role": "system", "content": params.system})
    if params.developer:
        messages.append({"role": "developer", "content": params.developer})
    if params.media:
        parts: list[dict[str, Any]] = [{"type": "text", "text": prompt}]
        parts += [media_part(reference) for reference in params.media]
        messages.append({"role": "user", "content": parts})
    else:
        messages.append({"role": "user", "content": prompt})
    return messages


def build_body(params: RequestParams, translation: FlagTranslation) -> dict[str, Any]:
    """Return the request parameters that are set, after server-flag defaults."""
    body: dict[str, Any] = {}
    for name in _STANDARD_PARAMS + _EXTRA_PARAMS:
        value = getattr(params, name)
        if value is not None:
            body[name] = value
    for name, value in translation.defaults.items():
        body.setdefault(name, value)
    if translation.stop:
        merged = list(dict.fromkeys([*(body.get("stop") or []), *translation.stop]))
        body["stop"] = merged
    return body


def send_chat(
    client: openai.OpenAI,
    model: str,
    messages: list[dict[str, Any]],
    body: dict[str, Any],
    stream: bool,
) -> ChatOutcome:
    """Send one request and collect the response; SDK errors propagate."""
    standard = {name: body[name] for name in body if name in _STANDARD_PARAMS}
    extra = {name: body[name] for name in body if name not in _STANDARD_PARAMS}
    started = time.monotonic()
    if not stream:
        response = client.chat.completions.create(
            model=model, messages=messages, extra_body=extra or None, **standard
        )
        outcome = _read_completion(response)
        outcome.gen_time_s = time.monotonic() - started
        return outcome

    chunks = client.chat.completions.create(
        model=model,
        messages=messages,
        stream=True,
        stream_options={"include_usage": True},
        extra_body=extra or None,
        **standard,
    )
    return _read_stream(chunks, started)


def _extra_field(item: Any, name: str) -> Any:
    """Return a field the SDK's types do not declare (kept in `model_extra`)."""
    value = getattr(item, name, None)
    if value is None:
        value = (getattr(item, "model_extra", None) or {}).get(name)
    return value


def _read_completion(response: Any) -> ChatOutcome:
    outcome = ChatOutcome(system_fingerprint=response.system_fingerprint)
    if response.choices:
        choice = response.choices[0]
        message = choice.message
        outcome.content = message.content or ""
        outcome.reasoning_content = _extra_field(message, "reasoning_content") or ""
        outcome.tool_calls = [call.model_dump() for call in message.tool_calls or []]
        outcome.finish_reason = choice.finish_reason
        if choice.logprobs is not None and choice.logprobs.content:
            outcome.logprobs_count = len(choice.logprobs.content)
    _read_usage(outcome, response.usage)
    return outcome


def _read_usage(outcome: ChatOutcome, usage: Any) -> None:
    if usage is None:
        return
    outcome.prompt_tokens = usage.prompt_tokens
    outcome.completion_tokens = usage.completion_tokens
    outcome.total_tokens = usage.total_tokens
    outcome.usage_source = "server"


def _read_stream(chunks: Any, started: float) -> ChatOutcome:
    outcome = ChatOutcome()
    content: list[str] = []
    reasoning: list[str] = []
    calls: dict[int, dict[str, Any]] = {}
    text_chunks = 0
    usage = None

    with chunks:
        for chunk in chunks:
            outcome.system_fingerprint = chunk.system_fingerprint or (
                outcome.system_fingerprint
            )
            if chunk.usage is not None:
                usage = chunk.usage
            for choice in chunk.choices:
                delta = choice.delta
                got_text = False
                if delta.content:
                    content.append(delta.content)
                    got_text = True
                reasoning_part = _extra_field(delta, "reasoning_content")
                if reasoning_part:
                    reasoning.append(reasoning_part)
                    got_text = True
                for call in delta.tool_calls or []:
                    _merge_tool_call(calls, call)
                    got_text = True
                if got_text:
                    text_chunks += 1
                    if outcome.ttft_s is None:
                        outcome.ttft_s = time.monotonic() - started
                if choice.logprobs is not None and choice.logprobs.content:
                    outcome.logprobs_count += len(choice.logprobs.content)
                if choice.finish_reason:
                    outcome.finish_reason = choice.finish_reason

    outcome.gen_time_s = time.monotonic() - started
    outcome.content = "".join(content)
    outcome.reasoning_content = "".join(reasoning)
    outcome.tool_calls = [calls[index] for index in sorted(calls)]

    if usage is not None:
        _read_usage(outcome, usage)
    else:
        # NOTE: llama-cpp-python 0.3 ignores stream_options and sends no usage
        # chunk. It sends one token per chunk, so the count matches its usage
        # except for the tokens of a matched stop string, which it generates
        # but does not send. Other servers may put several tokens in a chunk.
        outcome.completion_tokens = text_chunks
        outcome.usage_source = "stream_chunks"
    return outcome


def _merge_tool_call(calls: dict[int, dict[str, Any]], delta_call: Any) -> None:
    """Add a streamed tool-call fragment to the call with the same index."""
    call = calls.setdefault(
        delta_call.index,
        {"id": None, "type": "function", "function": {"name": "", "arguments": ""}},
    )
    if delta_call.id:
        call["id"] = delta_call.id
    if delta_call.type:
        call["type"] = delta_call.type
    function = delta_call.function
    if function is not None:
        if function.name:
            call["function"]["name"] += function.name
        if function.arguments:
            call["function"]["arguments"] += function.arguments
