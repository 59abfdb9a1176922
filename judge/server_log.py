"""Pick the line of a server log that explains why the server failed."""

from __future__ import annotations

import re

from judge.records import clean_error

# Words that mark a line as an error report rather than progress or banner text.
_ERROR_WORDS = re.compile(
    r"\b(error|exception|fatal|failed|failure|unknown option|unrecognized|"
    r"invalid|not found|no such file|cannot|can't|unable)\b",
    re.IGNORECASE,
)
# Python traceback frames and the header line: never the useful line.
_TRACEBACK_NOISE = re.compile(
    r'^(Traceback \(most recent call last\)|File ".*", line \d+)'
)


def summarize_server_log(text: str) -> str:
    """Return the last error-like line of `text`, or its last line if none is.

    ANSI escapes and progress-bar frames are removed first, so the result is
    the line a person would quote, for example "Error: Unknown option '--stop'".
    An empty log gives an empty string.
    """
    lines = [
        line
        for line in clean_error(text).splitlines()
        if not _TRACEBACK_NOISE.match(line)
    ]
    if not lines:
        return ""
    for line in reversed(lines):
        if _ERROR_WORDS.search(line):
            return line
    return lines[-1]
