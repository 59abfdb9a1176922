"""On-disk cache of judge answers, so re-grading an unchanged run makes no calls.

The key hashes everything that decides the answer: the judge model and
endpoint, the structured-output mode, the prompt files' hash and the rendered
messages (which contain the record and its check findings). The cache stores
the judge's raw answer; bounds are applied again on every grade, so a change
to the bounds table never needs a new call.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
from pathlib import Path

import orjson

# Bump when the answer schema changes, so old answers are not reused.
SCHEMA_VERSION = "1"


def default_cache_dir() -> Path:
    """Return $AFM_JUDGE_CACHE_DIR, else $XDG_CACHE_HOME/afm-judge or ~/.cache/afm-judge."""
    if os.environ.get("AFM_JUDGE_CACHE_DIR"):
        return Path(os.environ["AFM_JUDGE_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "afm-judge"


def cache_key(
    judge_model: str, endpoint: str, mode: str, prompt_hash: str, messages: list[dict]
) -> str:
    digest = hashlib.sha256()
    for part in (SCHEMA_VERSION, judge_model, endpoint, mode, prompt_hash):
        digest.update(part.encode("utf-8") + b"\0")
    digest.update(orjson.dumps(messages, option=orjson.OPT_SORT_KEYS))
    return digest.hexdigest()


class VerdictCache:
    """A SQLite table of answers by key; safe to share between threads."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / "verdicts.sqlite"
        self._lock = threading.Lock()
        self._connection = sqlite3.connect(self.path, check_same_thread=False)
        with self._lock, self._connection:
            self._connection.execute(
                "CREATE TABLE IF NOT EXISTS answers ("
                "key TEXT PRIMARY KEY, answer BLOB NOT NULL, usage BLOB NOT NULL)"
            )

    def get(self, key: str) -> tuple[dict, dict] | None:
        """Return (answer, usage) stored under `key`, or None."""
        with self._lock:
            row = self._connection.execute(
                "SELECT answer, usage FROM answers WHERE key = ?", (key,)
            ).fetchone()
        if row is None:
            return None
        return orjson.loads(row[0]), orjson.loads(row[1])

    def put(self, key: str, answer: dict, usage: dict) -> None:
        with self._lock, self._connection:
            self._connection.execute(
                "INSERT OR REPLACE INTO answers (key, answer, usage) VALUES (?, ?, ?)",
                (key, orjson.dumps(answer), orjson.dumps(usage)),
            )

    def close(self) -> None:
        with self._lock:
            self._connection.close()
