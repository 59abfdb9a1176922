"""Normalise request errors into a small set of types with a likely cause."""

from __future__ import annotations

import re
from dataclasses import dataclass

from judge.verdict import Category


@dataclass(frozen=True)
class ErrorType:
    """A kind of failure, the category it usually means and a cause template."""

    name: str
    title: str
    category: Category
    cause: str


ERROR_TYPES: dict[str, ErrorType] = {
    error.name: error
    for error in (
        ErrorType(
            "unknown_option",
            "unknown CLI option",
            "afm_bug",
            "AFM rejects the server flag {detail} that the test passes",
        ),
        ErrorType(
            "chat_template",
            "chat-template error",
            "afm_bug",
            "AFM failed to render the chat template for this request",
        ),
        ErrorType(
            "unreachable",
            "server unreachable",
            "test_config",
            "no server answered at the address ({detail}); check --base-url or "
            "that the server started",
        ),
        ErrorType(
            "connection_lost",
            "connection lost",
            "afm_bug",
            "the server dropped the connection mid-request (crash or hang)",
        ),
        ErrorType(
            "timeout",
            "request timed out",
            "afm_bug",
            "the server did not answer within the client's timeout",
        ),
        ErrorType(
            "server_died",
            "server died at load",
            "afm_bug",
            "the server process exited before serving the request",
        ),
        ErrorType(
            "download_failed",
            "model download failed",
            "test_config",
            "the model could not be downloaded: {detail}",
        ),
        ErrorType(
            "load_failed",
            "model load failed / unsupported architecture",
            "model_incompat",
            "AFM cannot load this model: {detail}",
        ),
        ErrorType(
            "media_failed",
            "media load failed",
            "test_config",
            "a media file of the request could not be loaded: {detail}",
        ),
        ErrorType(
            "invalid_response",
            "invalid response",
            "afm_bug",
            "the server's response does not follow the OpenAI chat format: {detail}",
        ),
        ErrorType(
            "http_error",
            "HTTP error from the server",
            "afm_bug",
            "the server returned an error status: {detail}",
        ),
        ErrorType(
            "other",
            "other error",
            "afm_bug",
            "unclassified failure: {detail}",
        ),
    )
}

# Checked in order; the first pattern that matches decides the type. Patterns
# are matched against the cleaned error (see records.clean_error).
_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("unknown_option", re.compile(r"Unknown option '?(?P<detail>--?[\w-]+)'?", re.I)),
    (
        "chat_template",
        re.compile(r"(?P<detail>Jinja\.?TemplateException|chat[ _-]?template)", re.I),
    ),
    (
        "download_failed",
        re.compile(r"downloadFailed\(\"?(?P<detail>[^)\n]*)|download failed", re.I),
    ),
    (
        "load_failed",
        re.compile(
            r"(?P<detail>Unsupported model type:?\s*[\w.-]+|unsupported architecture"
            r"[^\n]*|loadFailed\(\"?[^)\n]*)",
            re.I,
        ),
    ),
    (
        "media_failed",
        re.compile(
            r"(?P<detail>(?:image|video|audio|media)[^\n]{0,40}(?:load|decode|"
            r"read|open)[^\n]*|failed to (?:load|decode) (?:image|video|audio|"
            r"media)[^\n]*)",
            re.I,
        ),
    ),
    (
        "server_died",
        re.compile(
            r"(?P<detail>Server process died|server (?:exited|died)|Error starting "
            r"MLX server|never became healthy|exited with code[^\n]*)",
            re.I,
        ),
    ),
    ("timeout", re.compile(r"(?P<detail>timed? ?out|timeout)", re.I)),
    (
        "unreachable",
        re.compile(
            r"(?P<detail>Connection refused|All connection attempts failed|Name or "
            r"service not known|nodename nor servname|Temporary failure in name "
            r"resolution|No address associated|Invalid URL|unsupported protocol|"
            r"Request URL is missing)",
            re.I,
        ),
    ),
    (
        "connection_lost",
        re.compile(
            r"(?P<detail>Connection (?:error|reset|refused|aborted)|RemoteDisconnected|"
            r"Server disconnected|peer closed|incomplete chunked read)",
            re.I,
        ),
    ),
    (
        "invalid_response",
        re.compile(r"invalid response from the server: (?P<detail>[^\n]{0,120})", re.I),
    ),
    ("http_error", re.compile(r"(?P<detail>Error code: \d{3})", re.I)),
]


def classify_error(error: str) -> tuple[ErrorType, str]:
    """Return the error type of a cleaned error message and the matched detail."""
    for name, pattern in _PATTERNS:
        match = pattern.search(error)
        if match:
            detail = (match.groupdict().get("detail") or match.group(0)).strip()
            return ERROR_TYPES[name], detail.rstrip('"\\ ')
    first_line = error.strip().splitlines()[0] if error.strip() else "no error text"
    return ERROR_TYPES["other"], first_line[:80]


def describe_cause(error_type: ErrorType, detail: str) -> str:
    return error_type.cause.format(detail=f"`{detail}`" if detail else "")
