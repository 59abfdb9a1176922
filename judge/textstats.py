"""Measurements on generated text: special tokens, repetition, garbled scripts."""

from __future__ import annotations

import re
import unicodedata
import zlib
from dataclasses import dataclass

# Chat-template and reasoning markers that a server should never pass through
# into `content`: ChatML and Llama headers (<|im_end|>, <|eot_id|>), the
# harmony format of gpt-oss (<|channel|>analysis<|message|>), Gemma's turn
# markers and one-sided channel tags (<|channel>thought), think tags and their
# fragments (a bare "/think>"), and sentence-piece end markers.
_SPECIAL_TOKEN = re.compile(
    r"<\|[A-Za-z0-9_.-]{1,40}\|>"
    r"|<\|[a-z_]{2,30}>|<[a-z_]{2,30}\|>"
    r"|</?think>|(?<![<\w])/think>|^\s*think>"
    r"|<(?:start|end)_of_turn>|<eos>|<bos>|</s>"
    r"|\[/?INST\]"
    r"|<｜[^｜\n]{1,40}｜>",
    re.MULTILINE,
)


def find_special_tokens(text: str) -> list[str]:
    """Return the distinct special-token strings found in `text`, in order."""
    seen: dict[str, None] = {}
    for match in _SPECIAL_TOKEN.finditer(text):
        seen.setdefault(match.group(0).strip(), None)
    return list(seen)


# Repetition is measured on the last REPETITION_WINDOW characters as the zlib
# compression ratio (compressed size / raw size). Prose and code compress to
# about 0.3-0.5 at this size. In the AFM runs used for calibration, traces
# stuck in a loop ("Wait, I'll check...") compressed to 0.035-0.12, while
# values from 0.15 to 0.25 mixed loops with merely repetitive drafts, so the
# threshold errs towards not flagging.
REPETITION_WINDOW = 4000
REPETITION_MIN_CHARS = 1000
REPETITION_MAX_RATIO = 0.15
# A run of this many whitespace characters at the end is a degenerate loop too.
TRAILING_WHITESPACE_RUN = 200


@dataclass(frozen=True)
class Repetition:
    """A measured repetition loop and a sample of the repeated text."""

    ratio: float
    sample: str


def measure_repetition(text: str) -> Repetition | None:
    """Return the loop found in `text`, or None when it reads as ordinary text."""
    if len(text) < REPETITION_MIN_CHARS:
        return None
    stripped = text.rstrip()
    trailing = len(text) - len(stripped)
    if trailing >= TRAILING_WHITESPACE_RUN:
        return Repetition(0.0, f"ends with {trailing} whitespace characters")
    window = text[-REPETITION_WINDOW:].encode("utf-8")
    ratio = len(zlib.compress(window, 6)) / len(window)
    if ratio >= REPETITION_MAX_RATIO:
        return None
    return Repetition(round(ratio, 3), stripped[-100:])


def _script(char: str) -> str | None:
    try:
        name = unicodedata.name(char)
    except ValueError:
        return None
    first = name.split(" ", 1)[0]
    # Japanese mixes kanji and kana inside one word; count them as one script.
    if first in ("CJK", "HIRAGANA", "KATAKANA"):
        return "CJK"
    return first


_WORD = re.compile(r"[^\W\d_]+")

# Garbled output: many words that mix writing systems inside the word, across
# several scripts. Across the calibration runs, a model with a broken
# tokenizer produced 17-58 % mixed-script words over 4-5 scripts, and the
# multilingual answers stayed under 7 %.
GARBLED_MIN_WORDS = 8
GARBLED_MIXED_WORD_SHARE = 0.10
GARBLED_MIN_SCRIPTS = 4


@dataclass(frozen=True)
class Garbling:
    """Mixed-script statistics of a garbled text."""

    mixed_share: float
    scripts: int


def measure_garbling(text: str) -> Garbling | None:
    """Return script-mixing statistics when `text` looks garbled, else None."""
    words = _WORD.findall(text[:4000])
    if len(words) < GARBLED_MIN_WORDS:
        return None
    mixed = 0
    scripts: set[str] = set()
    for word in words:
        word_scripts = {_script(char) for char in word} - {None}
        scripts |= word_scripts  # type: ignore[arg-type]
        if len(word_scripts) > 1:
            mixed += 1
    share = mixed / len(words)
    if share < GARBLED_MIXED_WORD_SHARE or len(scripts) < GARBLED_MIN_SCRIPTS:
        return None
    return Garbling(round(share, 3), len(scripts))
