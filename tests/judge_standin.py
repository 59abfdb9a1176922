"""A scripted OpenAI-compatible judge for grade's fault and speed tests.

Run: python tests/judge_standin.py PORT SCRIPT_JSON

SCRIPT_JSON is an object:
- "actions": list of actions used in turn, one per chat request:
  "ok" (a valid verdict), "ok:SCORE:CATEGORY", "429:SECONDS" (rate limited with
  Retry-After), "500", "hang:SECONDS" (sleeps, then answers ok), "invalid_json"
  (tool arguments that are not JSON), "score7" (a score outside 1-5);
- "default": the action once the list is used up (default "ok");
- "latency_s": seconds every request waits before it is answered;
- "log": a file that gets one JSON line per request body.

The verdict comes back as a tool call when the request offers tools (instructor's
TOOLS mode) and as message content otherwise. Serves only 127.0.0.1.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

USAGE = {"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150}


class Script:
    def __init__(self, config: dict) -> None:
        self.actions = list(config.get("actions", []))
        self.default = config.get("default", "ok")
        self.latency_s = float(config.get("latency_s", 0))
        self.log_path = config.get("log")
        self.lock = threading.Lock()

    def next_action(self, body: dict) -> str:
        with self.lock:
            if self.log_path:
                with open(self.log_path, "a", encoding="utf-8") as log:
                    log.write(json.dumps(body) + "\n")
            return self.actions.pop(0) if self.actions else self.default


def quote_from(body: dict) -> str:
    """Return the first words of the record's content, as a judge would quote them."""
    for message in body.get("messages", []):
        text = message.get("content") or ""
        if message.get("role") == "user" and "<record-content>\n" in text:
            inside = text.split("<record-content>\n", 1)[1]
            inside = inside.split("\n</record-content>")[0]
            return "" if inside == "(empty)" else inside[:40]
    return ""


def verdict_arguments(
    score: object = 4, category: str = "ok", evidence: str = ""
) -> str:
    return json.dumps(
        {
            "evidence": evidence,
            "reason": "Scripted verdict.",
            "category": category,
            "score": score,
            "coherence": 4,
            "relevance": 4,
            "overruled": [],
            "overrule_reason": "",
        }
    )


def completion(body: dict, arguments: str) -> dict:
    message: dict = {"role": "assistant", "content": None}
    finish = "stop"
    tools = body.get("tools") or []
    if tools:
        name = tools[0]["function"]["name"]
        message["tool_calls"] = [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": name, "arguments": arguments},
            }
        ]
        finish = "tool_calls"
    else:
        message["content"] = arguments
    return {
        "id": "chatcmpl-standin",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "standin"),
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": USAGE,
    }


def make_handler(script: Script) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes; with Nagle's algorithm on,
        # the body then waits for the client's delayed ACK (about 40 ms).
        disable_nagle_algorithm = True

        def log_message(self, *_: object) -> None:
            pass

        def send_json(
            self, status: int, payload: dict, headers: dict | None = None
        ) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            try:
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                # The client gave up (a timeout test); nothing to answer.
                pass

        def do_GET(self) -> None:
            if self.path in ("/health", "/v1/models"):
                self.send_json(200, {"object": "list", "data": [{"id": "standin"}]})
            else:
                self.send_json(404, {"error": "not found"})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            body = json.loads(self.rfile.read(length) or b"{}")
            action = script.next_action(body)
            if script.latency_s:
                time.sleep(script.latency_s)
            kind, _, argument = action.partition(":")
            quote = quote_from(body)
            if kind == "429":
                self.send_json(
                    429,
                    {"error": {"message": "rate limited", "type": "rate_limit"}},
                    {"Retry-After": argument or "1"},
                )
            elif kind == "500":
                self.send_json(500, {"error": {"message": "boom", "type": "server"}})
            elif kind == "hang":
                time.sleep(float(argument or 30))
                self.send_json(200, completion(body, verdict_arguments(evidence=quote)))
            elif kind == "invalid_json":
                self.send_json(200, completion(body, '{"score": 4, "reason": '))
            elif kind == "score7":
                arguments = verdict_arguments(score=7, evidence=quote)
                self.send_json(200, completion(body, arguments))
            else:
                score, _, category = argument.partition(":")
                arguments = verdict_arguments(int(score or 4), category or "ok", quote)
                self.send_json(200, completion(body, arguments))

    return Handler


def main() -> None:
    port = int(sys.argv[1])
    with open(sys.argv[2], encoding="utf-8") as handle:
        script = Script(json.load(handle))
    server = ThreadingHTTPServer(("127.0.0.1", port), make_handler(script))
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
