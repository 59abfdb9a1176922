"""Build one chat-completion request from a planned request and send it.

Requests go through the openai SDK. Parameters that the OpenAI API does not
define (top_k, min_p, repetition_penalty) travel in `extra_body`. The SDK's
retries are off: a dropped connection must show up as a FAIL record.
"""

from __future__ import annotations

import base64
import mimetypes
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from judge.chat_response import ChatOutcome, read_completion, read_stream
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
    """Send one request and read the response.

    SDK errors (connection, timeout, error status) propagate, and so do
    httpx2 errors raised while the body is read. A 200 response that is not a
    chat completion raises chat_response.ResponseError.
    """
    standard = {name: body[name] for name in body if name in _STANDARD_PARAMS}
    extra = {name: body[name] for name in body if name not in _STANDARD_PARAMS}
    if stream:
        standard["stream"] = True
        standard["stream_options"] = {"include_usage": True}
    started = time.monotonic()
    # The streaming-response wrapper hands over the raw body, which
    # chat_response checks, instead of the SDK's unchecked models.
    with client.chat.completions.with_streaming_response.create(
        model=model, messages=messages, extra_body=extra or None, **standard
    ) as response:
        content_type = response.headers.get("content-type", "")
        if stream:
            return read_stream(response.iter_lines(), content_type, started)
        outcome = read_completion(response.read(), content_type)
    outcome.gen_time_s = time.monotonic() - started
    return outcome
