"""collect against responses that are not chat completions: FAIL records, no crash."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from collect_support import (
    afm_collect_args,
    make_afm_wrapper,
    run_cli,
    standin_env,
    write_cases,
)

from judge.chat_response import ResponseError, read_completion, read_stream
from judge.runs import load_run

INVALID = "invalid response from the server: "

# Prompt markers of the stand-in's "malformed" scenario, with the error that
# each one must give. Requests without a marker get a normal response.
PLAIN_CASES = [
    (
        "HTML",
        INVALID + "expected a chat completion, got text/html: "
        "'<html><body><h1>Sign in</h1></body></html>'",
    ),
    ("JSONLIST", INVALID + "expected a chat completion object, got a list"),
    ("EMPTYOBJECT", INVALID + "expected a chat completion, got an empty JSON object"),
    ("NOCHOICES", INVALID + "the chat completion has no choices"),
    ("ERROR200", "the server returned an error with status 200: model is loading"),
]
STREAM_CASES = [
    (
        "HTML",
        INVALID + "expected a server-sent event stream, got text/html: "
        "'<html><body><h1>Sign in</h1></body></html>'",
    ),
    ("NOTJSON", INVALID + "stream event 2 is not JSON: '{not json}'"),
    (
        "CUTSHORT",
        INVALID + "the stream ended after 2 events without a "
        "finish_reason or data: [DONE]",
    ),
    (
        "NODONE",
        INVALID + "the stream ended without data: [DONE] after "
        "finish_reason 'stop' (3 events)",
    ),
    (
        "NOFINISH",
        INVALID + "the stream sent data: [DONE] after 2 events, none "
        "with a finish_reason",
    ),
]


def malformed_suite() -> str:
    """Return a case file where every broken request is followed by a good one."""
    plain = "\n".join(
        f"{marker} then answer.\nAnswer normally." for marker, _ in PLAIN_CASES
    )
    streamed = "\n".join(
        f"{marker} then answer.\nAnswer normally." for marker, _ in STREAM_CASES
    )
    return (
        "max_tokens: 32\n\n"
        f"[test/malformed @ plain]\n{plain}\nSTATUS500 then answer.\n\n"
        f"[test/malformed @ streamed]\nstream: true\n{streamed}\n"
    )


def test_malformed_responses_fail_and_continue(tmp_path: Path) -> None:
    wrapper = make_afm_wrapper(tmp_path)
    cases = write_cases(tmp_path, malformed_suite())
    output = tmp_path / "run.jsonl"
    result = run_cli(
        afm_collect_args(cases, wrapper, output), env=standin_env("malformed")
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr

    records = load_run(output).records
    expected_errors: list[str | None] = []
    for _, error in PLAIN_CASES:
        expected_errors += [error, None]
    expected_errors.append(None)  # STATUS500, checked below
    for _, error in STREAM_CASES:
        expected_errors += [error, None]
    assert len(records) == len(expected_errors)

    status_500 = records[len(PLAIN_CASES) * 2]
    assert status_500.status == "FAIL"
    assert status_500.error.startswith("Error code: 500")
    assert "internal failure" in status_500.error
    for record, error in zip(records, expected_errors, strict=True):
        if record is status_500:
            continue
        if error is None:
            assert record.status == "OK", (record.prompt, record.error)
            assert record.content.startswith("1. Red")
            assert record.finish_reason == "stop"
        else:
            assert record.status == "FAIL", record.prompt
            assert record.error == error, record.prompt
    assert all(record.stream for record in records[len(PLAIN_CASES) * 2 + 1 :])


# Reading a non-streamed body


def completion(**changes: object) -> dict:
    body: dict = {
        "id": "x",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "system_fingerprint": "fp",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hi."},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    }
    body.update(changes)
    return body


def encode(value: object) -> bytes:
    return json.dumps(value).encode()


def test_completion_fields_read() -> None:
    outcome = read_completion(encode(completion()), "application/json")
    assert outcome.content == "Hi."
    assert outcome.finish_reason == "stop"
    assert outcome.system_fingerprint == "fp"
    assert outcome.prompt_tokens == 3
    assert outcome.completion_tokens == 2
    assert outcome.total_tokens == 5
    assert outcome.usage_source == "server"


def test_completion_null_content_is_empty() -> None:
    body = completion()
    body["choices"][0]["message"]["content"] = None
    outcome = read_completion(encode(body), "application/json")
    assert outcome.content == ""
    assert outcome.finish_reason == "stop"


def message_with(**fields: object) -> bytes:
    body = completion()
    body["choices"][0]["message"].update(fields)
    return encode(body)


@pytest.mark.parametrize(
    ("body", "content_type", "error"),
    [
        (
            b"",
            "application/json",
            "expected a chat completion, got an empty body (application/json)",
        ),
        (
            b"{oops",
            "application/json; charset=utf-8",
            "the body is not valid JSON (application/json): '{oops'",
        ),
        (
            b"plain words",
            "",
            "expected a chat completion, got no content type: 'plain words'",
        ),
        (
            b'"text"',
            "application/json",
            "expected a chat completion object, got a string",
        ),
        (
            encode({"object": "list", "data": []}),
            "application/json",
            "expected a chat completion, got a JSON object without choices "
            "(keys: data, object)",
        ),
        (
            encode(completion(choices={"0": {}})),
            "application/json",
            "the completion.choices is an object, not a list",
        ),
        (
            encode(completion(choices=[7])),
            "application/json",
            "choices[0] is a number, not an object",
        ),
        (
            encode(completion(choices=[{"index": 0}])),
            "application/json",
            "choices[0] has no message object",
        ),
        (
            message_with(content=5),
            "application/json",
            "choices[0].message.content is a number, not a string",
        ),
        (
            message_with(tool_calls="none"),
            "application/json",
            "choices[0].message.tool_calls is a string, not a list",
        ),
    ],
)
def test_completion_invalid_body(body: bytes, content_type: str, error: str) -> None:
    with pytest.raises(ResponseError) as raised:
        read_completion(body, content_type)
    assert str(raised.value) == INVALID + error


def test_completion_error_object() -> None:
    with pytest.raises(ResponseError) as raised:
        read_completion(encode({"error": "busy"}), "application/json")
    assert str(raised.value) == "the server returned an error with status 200: busy"


def test_completion_long_body_shortened() -> None:
    body = b"<html>" + b"x" * 500 + b"</html>"
    with pytest.raises(ResponseError) as raised:
        read_completion(body, "text/html; charset=utf-8")
    message = str(raised.value)
    assert message.startswith(INVALID + "expected a chat completion, got text/html: ")
    assert message.endswith("…'")
    assert len(message) < 200


# Reading a stream


def sse_lines(*events: object) -> list[str]:
    """Return the lines of a stream with one `data:` event per item."""
    lines = []
    for event in events:
        text = event if isinstance(event, str) else json.dumps(event)
        lines += [f"data: {text}", ""]
    return lines


def chunk(delta: dict, finish_reason: str | None = None) -> dict:
    return {
        "id": "x",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }


def test_stream_joins_deltas() -> None:
    lines = [": keep-alive comment", ""] + sse_lines(
        chunk({"role": "assistant"}),
        chunk({"content": "1. Red"}),
        chunk({"content": "\n2. Blue"}),
        chunk({}, "length"),
        {
            "id": "x",
            "choices": [],
            "usage": {"prompt_tokens": 4, "completion_tokens": 6, "total_tokens": 10},
        },
        "[DONE]",
    )
    outcome = read_stream(lines, "text/event-stream", time.monotonic())
    assert outcome.content == "1. Red\n2. Blue"
    assert outcome.finish_reason == "length"
    assert outcome.completion_tokens == 6
    assert outcome.usage_source == "server"
    assert outcome.ttft_s is not None


def test_stream_without_usage_counts_chunks() -> None:
    lines = sse_lines(
        chunk({"content": "a"}), chunk({"content": "b"}), chunk({}, "stop"), "[DONE]"
    )
    outcome = read_stream(lines, "text/event-stream", time.monotonic())
    assert outcome.completion_tokens == 2
    assert outcome.usage_source == "stream_chunks"


def test_stream_multiline_data_joined() -> None:
    # One event whose JSON is split over two data: lines, between two keys.
    text = json.dumps(chunk({"content": "x"}, "stop"))
    split = text.index(' "choices"')
    lines = [f"data: {text[:split]}", f"data:{text[split:]}", ""]
    lines += sse_lines("[DONE]")
    # The SSE format joins the lines with a newline, which JSON reads as space.
    outcome = read_stream(lines, "text/event-stream", time.monotonic())
    assert outcome.content == "x"


def test_stream_tool_call_fragments_merged() -> None:
    lines = sse_lines(
        chunk(
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "get", "arguments": ""},
                    }
                ]
            }
        ),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"a": '}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]}),
        chunk({}, "tool_calls"),
        "[DONE]",
    )
    outcome = read_stream(lines, "text/event-stream", time.monotonic())
    assert outcome.tool_calls == [
        {
            "id": "c1",
            "type": "function",
            "function": {"name": "get", "arguments": '{"a": 1}'},
        }
    ]


@pytest.mark.parametrize(
    ("lines", "error"),
    [
        ([], "expected a server-sent event stream, got text/event-stream, empty"),
        (
            ["event: ping", ""],
            "expected a server-sent event stream, got text/event-stream: 'event: ping'",
        ),
        (sse_lines("[1, 2]"), "stream event 1 is a list, not a chat completion chunk"),
        (
            sse_lines({"choices": "none"}),
            "stream event 1.choices is a string, not a list",
        ),
        (
            sse_lines({"choices": [3]}),
            "stream event 1: choices[0] is a number, not an object",
        ),
        (
            sse_lines({"choices": [{"delta": []}]}),
            "stream event 1: choices[0].delta is a list, not an object",
        ),
        (
            sse_lines({"choices": [{"delta": {"content": 1}}]}),
            "stream event 1: choices[0].delta.content is a number, not a string",
        ),
        (
            sse_lines(chunk({"content": "a"})),
            "the stream ended after 1 event without a finish_reason or data: [DONE]",
        ),
        (
            sse_lines("[DONE]"),
            "the stream sent data: [DONE] after 0 events, none with a finish_reason",
        ),
    ],
)
def test_stream_invalid(lines: list[str], error: str) -> None:
    with pytest.raises(ResponseError) as raised:
        read_stream(lines, "text/event-stream", time.monotonic())
    assert str(raised.value) == INVALID + error


def test_stream_error_event() -> None:
    lines = sse_lines(chunk({"content": "a"}), {"error": {"message": "out of memory"}})
    with pytest.raises(ResponseError) as raised:
        read_stream(lines, "text/event-stream", time.monotonic())
    assert str(raised.value) == (
        "the server returned an error in stream event 2: out of memory"
    )
