"""A scripted OpenAI-compatible server for collect's fault tests.

It takes AFM's command line (`mlx -m MODEL -p PORT [-i SYSTEM] [FLAGS]`), so
tests can start it through `--server afm` with a wrapper script as the AFM
binary, and it serves /health, /v1/models and /v1/chat/completions (JSON or
server-sent events) on 127.0.0.1. The response content is a numbered list of
colours, cut at the first stop string. STANDIN_SCENARIO picks a fault:

- ok: no fault.
- drop: a request whose prompt contains "DROP" loses its connection (before
  any byte when not streaming, after two chunks when streaming).
- crash: a request whose prompt contains "CRASH" makes the server exit.
- slow-health: the server listens only after STANDIN_HEALTH_DELAY seconds.
- reasoning: the response carries `reasoning_content` (deltas when streaming).
- tools: a request with `tools` gets a call of the first tool, with the
  arguments {"city": "Paris"} (in three fragments when streaming).
- hang: every chat request waits STANDIN_HANG_S seconds before its response.
- malformed: a request whose prompt contains a word of MALFORMED_BODIES or
  MALFORMED_STREAMS gets status 200 with that body or that broken stream, and
  STATUS500 gets status 500. Other requests are answered normally.

Flags outside `KNOWN_FLAGS` make it exit at start with "Error: Unknown option
'FLAG'", the way an AFM build without that flag does. STANDIN_REQUEST_LOG, when
set, is a file that gets one JSON line per chat request body.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

KNOWN_FLAGS = {"-m", "-p", "-i", "--port", "--verbose", "--no-streaming", "--seed"}
FLAGS_WITH_VALUE = {"-m", "-p", "-i", "--port", "--seed"}
ANSWER = "1. Red\n2. Blue\n3. Green\n4. Yellow\n5. Purple"
REASONING = "The user wants colours. I will list five."
# Non-streamed 200 responses that are not chat completions: content type, body.
MALFORMED_BODIES = {
    "HTML": ("text/html", b"<html><body><h1>Sign in</h1></body></html>"),
    "JSONLIST": ("application/json", b"[1, 2]"),
    "EMPTYOBJECT": ("application/json", b"{}"),
    "NOCHOICES": (
        "application/json",
        b'{"id": "x", "object": "chat.completion", "created": 1, "model": "m", '
        b'"choices": []}',
    ),
    "ERROR200": ("application/json", b'{"error": {"message": "model is loading"}}'),
}
# Broken event streams, written by Handler._broken_stream.
MALFORMED_STREAMS = ("NOTJSON", "CUTSHORT", "NODONE", "NOFINISH")


def parse_command_line(argv: list[str]) -> dict[str, str]:
    """Read AFM's `mlx -m MODEL -p PORT ...` arguments; exit on an unknown flag."""
    options: dict[str, str] = {}
    position = 1 if argv and argv[0] == "mlx" else 0
    while position < len(argv):
        flag = argv[position]
        if flag not in KNOWN_FLAGS:
            # AFM draws a progress bar before it parses flags; keep that noise
            # in the log so collect has to clean it.
            sys.stderr.write(
                "\r\x1b[2K[-        ]   --.-% loading model | mem 0.19 GB | 0.2s"
            )
            sys.stderr.write(f"\nError: Unknown option '{flag}'\n")
            sys.stderr.write("Usage: afm mlx -m MODEL [options]\n")
            sys.exit(64)
        if flag in FLAGS_WITH_VALUE:
            options[flag] = argv[position + 1]
            position += 2
        else:
            options[flag] = ""
            position += 1
    return options


def cut_at_stop(text: str, stop: list[str] | str | None) -> tuple[str, str]:
    """Return the text before the first stop string and the finish reason."""
    stops = [stop] if isinstance(stop, str) else list(stop or [])
    cut = len(text)
    for item in stops:
        found = text.find(item)
        if 0 <= found < cut:
            cut = found
    return text[:cut], "stop"


def completion_body(
    request: dict, message: dict, finish_reason: str, usage: dict
) -> dict:
    return {
        "id": "chatcmpl-standin",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.get("model", ""),
        "system_fingerprint": "standin_fp",
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
        "usage": usage,
    }


def chunk_body(request: dict, delta: dict, finish_reason: str | None = None) -> dict:
    return {
        "id": "chatcmpl-standin",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": request.get("model", ""),
        "system_fingerprint": "standin_fp",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "standin/1"

    def log_message(self, format: str, *args: object) -> None:
        sys.stdout.write("standin: " + (format % args) + "\n")
        sys.stdout.flush()

    def _send_json(self, status: int, payload: dict) -> None:
        body = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/health":
            self._send_json(200, {"status": "ok"})
        elif self.path == "/v1/models":
            model = self.server.model  # type: ignore[attr-defined]
            self._send_json(200, {"object": "list", "data": [{"id": model}]})
        else:
            self._send_json(404, {"error": {"message": f"no route {self.path}"}})

    def do_POST(self) -> None:
        if self.path != "/v1/chat/completions":
            self._send_json(404, {"error": {"message": f"no route {self.path}"}})
            return
        length = int(self.headers.get("Content-Length") or 0)
        request = json.loads(self.rfile.read(length) or b"{}")
        log_path = os.environ.get("STANDIN_REQUEST_LOG")
        if log_path:
            with open(log_path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(request) + "\n")

        scenario = os.environ.get("STANDIN_SCENARIO", "ok")
        prompt = json.dumps(request.get("messages", []))
        if scenario == "hang":
            time.sleep(float(os.environ.get("STANDIN_HANG_S", "5")))
        if scenario == "crash" and "CRASH" in prompt:
            sys.stdout.write("standin: fatal error: simulated crash\n")
            sys.stdout.flush()
            os._exit(70)
        if scenario == "malformed" and self._malformed(request, prompt):
            return
        drop = scenario == "drop" and "DROP" in prompt
        if drop and not request.get("stream"):
            self.close_connection = True
            self.connection.close()
            return

        content, finish_reason = cut_at_stop(ANSWER, request.get("stop"))
        reasoning = REASONING if scenario == "reasoning" else ""
        if scenario == "tools" and request.get("tools"):
            self._tool_call(request)
            return
        if request.get("stream"):
            self._stream(request, content, reasoning, finish_reason, drop)
        else:
            self._complete(request, content, reasoning, finish_reason)

    def _malformed(self, request: dict, prompt: str) -> bool:
        """Send the broken response that the prompt asks for; False for none."""
        if "STATUS500" in prompt:
            self._send_json(500, {"error": {"message": "internal failure"}})
            return True
        for marker, (content_type, body) in MALFORMED_BODIES.items():
            if marker in prompt:
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return True
        for marker in MALFORMED_STREAMS:
            if marker in prompt and request.get("stream"):
                self._broken_stream(request, marker)
                return True
        return False

    def _broken_stream(self, request: dict, marker: str) -> None:
        """Write a stream that is valid chunked HTTP but not a complete SSE reply."""
        self._start_stream()
        self._write_event(chunk_body(request, {"role": "assistant"}))
        if marker == "NOTJSON":
            self._write_event("{not json}")
            self._write_event("[DONE]")
        elif marker == "CUTSHORT":
            self._write_event(chunk_body(request, {"content": "1. Red"}))
        elif marker == "NODONE":
            self._write_event(chunk_body(request, {"content": "1. Red"}))
            self._write_event(chunk_body(request, {}, "stop"))
        elif marker == "NOFINISH":
            self._write_event(chunk_body(request, {"content": "1. Red"}))
            self._write_event("[DONE]")
        self._write_chunk(b"")

    def _tool_call(self, request: dict) -> None:
        name = request["tools"][0]["function"]["name"]
        arguments = '{"city": "Paris"}'
        if not request.get("stream"):
            call = {
                "id": "call_1",
                "type": "function",
                "function": {"name": name, "arguments": arguments},
            }
            message = {"role": "assistant", "content": None, "tool_calls": [call]}
            usage = self._usage(request, arguments, "")
            self._send_json(200, completion_body(request, message, "tool_calls", usage))
            return

        self._start_stream()
        fragments = [
            {
                "index": 0,
                "id": "call_1",
                "type": "function",
                "function": {"name": name, "arguments": ""},
            },
            {"index": 0, "function": {"arguments": '{"city": '}},
            {"index": 0, "function": {"arguments": '"Paris"}'}},
        ]
        for number, fragment in enumerate(fragments):
            delta = {"tool_calls": [fragment]}
            if number == 0:
                delta["role"] = "assistant"
            self._write_event(chunk_body(request, delta))
        self._write_event(chunk_body(request, {}, "tool_calls"))
        self._write_event("[DONE]")
        self._write_chunk(b"")

    def _usage(self, request: dict, content: str, reasoning: str) -> dict:
        prompt_tokens = len(json.dumps(request.get("messages", [])).split())
        completion_tokens = len((reasoning + " " + content).split())
        return {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }

    def _complete(
        self, request: dict, content: str, reasoning: str, finish_reason: str
    ) -> None:
        message = {"role": "assistant", "content": content}
        if reasoning:
            message["reasoning_content"] = reasoning
        usage = self._usage(request, content, reasoning)
        self._send_json(200, completion_body(request, message, finish_reason, usage))

    def _start_stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode("ascii") + data + b"\r\n")
        self.wfile.flush()

    def _write_event(self, payload: dict | str) -> None:
        text = payload if isinstance(payload, str) else json.dumps(payload)
        self._write_chunk(f"data: {text}\n\n".encode())

    def _stream(
        self,
        request: dict,
        content: str,
        reasoning: str,
        finish_reason: str,
        drop: bool,
    ) -> None:
        self._start_stream()
        self._write_event(chunk_body(request, {"role": "assistant"}))
        pieces = [
            ("reasoning_content", word) for word in reasoning.split(" ") if reasoning
        ]
        pieces += [("content", piece) for piece in content.split(" ") if content]
        for number, (field, piece) in enumerate(pieces):
            if drop and number == 2:
                # Close mid-body: the chunked encoding is left incomplete.
                self.close_connection = True
                self.connection.shutdown(2)
                return
            text = (
                piece if number == 0 or pieces[number - 1][0] != field else " " + piece
            )
            self._write_event(chunk_body(request, {field: text}))
        self._write_event(chunk_body(request, {}, finish_reason))
        if (request.get("stream_options") or {}).get("include_usage"):
            usage_chunk = chunk_body(request, {})
            usage_chunk["choices"] = []
            usage_chunk["usage"] = self._usage(request, content, reasoning)
            self._write_event(usage_chunk)
        self._write_event("[DONE]")
        self._write_chunk(b"")


def main(argv: list[str]) -> int:
    if argv[:1] == ["--version"]:
        print("afm standin 0.0.1")
        return 0
    options = parse_command_line(argv)
    port = int(options.get("-p") or options.get("--port") or 0)
    print(f"standin: model {options.get('-m', '')} on port {port}", flush=True)
    if os.environ.get("STANDIN_SCENARIO") == "slow-health":
        time.sleep(float(os.environ.get("STANDIN_HEALTH_DELAY", "30")))
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    server.model = options.get("-m", "standin")  # type: ignore[attr-defined]
    print(f"standin: listening on 127.0.0.1:{server.server_address[1]}", flush=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        thread.join()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
