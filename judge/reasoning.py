"""Read the end of a reasoning trace: finished, or cut mid-thought?

When a reasoning model's answer comes back empty and its reasoning ends early
with finish_reason "stop", one of two things happened. Either the server
matched a stop string inside the hidden reasoning (a server bug: stop strings
apply to the answer only), or the reasoning finished and the stop string
matched the first characters of the answer, which the server did correctly.
The tail of the trace tells them apart as far as the text allows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# A short lowercase run glued to closing punctuation at the very end of a
# trace ("Let's go with the draft.cw"). Seen as reasoning-parser leftovers.
_GLUED_SUFFIX = re.compile(r"(?<=[.!?)\]*\"'`:])([a-z]{1,4})$")

_BARE_LIST_MARKER = re.compile(r"^\s*(?:\d+[.)]|[-*•]|#+)?\s*\**\s*$")
_TERMINAL_CLOSERS = ")]}*\"'`_ \t"

_FINAL_MARKERS = re.compile(
    r"\bfinal (?:output|answer|response|polish|check|review|selection|"
    r"verification|version|decision|draft|plan|result)\b"
    r"|^\s*(?:\d+\.\s*)?\**\s*(?:output|answer|response)(?: generation)?\s*\**\s*[:.]"
    r"|\b(?:ready|proceed(?:ing)?|done thinking|i'?m done)\b"
    r"|\blet'?s (?:go|write|do|output|generate|assemble|execute|start|finali[sz]e)\b"
    r"|\blet me (?:go with|write|output|provide|start|answer|respond)\b"
    r"|\bi(?:'ll| will) (?:now )?(?:write|output|generate|provide|go with|"
    r"produce|answer|respond|present|structure|use this)\b"
    r"|\b(?:generat|writ|produc|construct)(?:e|ing) (?:the )?(?:final )?"
    r"(?:response|output|answer|code|list)\b"
    r"|\blooks good\b|\bperfect\b",
    re.IGNORECASE | re.MULTILINE,
)

_NUMBER = re.compile(r"\d+")


def glued_suffix(trace: str) -> str | None:
    """Return the short lowercase run glued to the trace's final punctuation."""
    # Only the last characters matter; slicing keeps this cheap on long traces.
    match = _GLUED_SUFFIX.search(trace.rstrip("\n")[-16:])
    return match.group(1) if match else None


def strip_glued_suffix(trace: str, suffix: str | None = None) -> str:
    """Remove a glued suffix (the given one, or any up to 3 letters)."""
    text = trace.rstrip()
    found = glued_suffix(text)
    if found and (found == suffix or (suffix is None and len(found) <= 3)):
        return text[: -len(found)]
    return text


@dataclass(frozen=True)
class TailReading:
    """The reading of a trace: finished or not, a confidence and an explanation."""

    finished: bool
    confidence: str  # "high", "medium" or "low"
    explanation: str


def _ends_mid_sentence(trace: str) -> bool:
    last_line = trace.rstrip().rsplit("\n", 1)[-1]
    if _BARE_LIST_MARKER.match(last_line):
        return True
    bare = last_line.rstrip(_TERMINAL_CLOSERS)
    return not bare or bare[-1] not in ".!?"


def _next_numbered_stop(trace: str, stops: list[str]) -> str | None:
    """Return a numbered stop string ("3.", "Step 3") whose predecessor is in the trace."""
    for stop in stops:
        match = _NUMBER.search(stop)
        if not match or stop in trace:
            continue
        number = int(match.group(0))
        if number < 2:
            continue
        previous = stop[: match.start()] + str(number - 1) + stop[match.end() :]
        if previous in trace:
            return stop
    return None


def read_tail(trace: str, stops: list[str]) -> TailReading:
    """Judge whether `trace` finished before a stop string ended the response."""
    text = strip_glued_suffix(trace)
    tail = text[-300:]

    inside = [stop for stop in stops if stop and stop in trace]
    if inside:
        return TailReading(
            True,
            "high",
            f"the stop string {inside[0]!r} occurs in the reasoning, so the server "
            "did not match it there",
        )

    following = _next_numbered_stop(text, stops)
    if following:
        return TailReading(
            False,
            "high",
            f"the stop string {following!r} would be the reasoning's next "
            "numbered item",
        )

    marker = _FINAL_MARKERS.search(tail)
    if marker:
        return TailReading(
            True,
            "medium",
            f"the reasoning ends with a finished plan ({marker.group(0).strip()!r})",
        )

    if _ends_mid_sentence(text):
        return TailReading(False, "high", "the reasoning ends unfinished")

    return TailReading(False, "low", "nothing shows that the reasoning finished")
