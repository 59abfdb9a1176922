"""Append records to a results JSONL file so that any interruption leaves it valid.

Each record is one `os.write` of a whole line to a file opened with O_APPEND.
Python runs signal handlers between bytecodes, never inside that call, so a
Ctrl-C lands before or after a line, not in the middle. Only a SIGKILL or a
crash during the call can cut a line short, and a resumed run truncates such a
partial last line before it appends.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

log = logging.getLogger(__name__)


class OutputFileError(Exception):
    """The output file cannot be used as requested; the message names the fix."""


@dataclass
class ExistingRun:
    """The `_meta` line and the records of a results file that a run continues."""

    meta: dict[str, Any] | None = None
    records: list[dict[str, Any]] = field(default_factory=list)
    # Bytes up to the end of the last whole line, and the bytes after it that
    # an interrupted write left without a newline.
    whole_lines_size: int = 0
    partial_line_size: int = 0

    @property
    def record_ids(self) -> set[str]:
        return {str(record["record_id"]) for record in self.records}


def read_existing_run(path: Path) -> ExistingRun:
    """Read the `_meta` line and the records of `path` for a resumed run.

    A partial last line (no newline at the end) is left out and measured, and
    the file is not changed. Raises OutputFileError for a line that is not JSON and for a file that has
    records but no `record_id`s, because such a file was not written by
    collect and cannot be resumed.
    """
    data = path.read_bytes()
    keep = data.rfind(b"\n") + 1
    existing = ExistingRun(whole_lines_size=keep, partial_line_size=len(data) - keep)
    data = data[:keep]
    without_id = 0
    for line_number, raw in enumerate(data.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            item = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise OutputFileError(
                f"{path}:{line_number}: invalid JSON ({exc}); this file cannot be "
                "resumed: pass --force to overwrite it or choose another -o FILE"
            ) from None
        if not isinstance(item, dict):
            continue
        if item.get("_meta"):
            existing.meta = existing.meta or item
        elif item.get("record_id"):
            existing.records.append(item)
        else:
            without_id += 1
    if without_id and not existing.records:
        raise OutputFileError(
            f"{path} has {without_id} records without a record_id, so it was not "
            "written by afm-judge collect and cannot be resumed: pass --force to "
            "overwrite it or choose another -o FILE"
        )
    return existing


class RunWriter:
    """An open results file; `write` appends one record line and returns."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd = fd

    @classmethod
    def open(
        cls,
        path: Path,
        meta: dict[str, Any],
        *,
        resume: bool,
        force: bool,
        check_resume: Callable[[ExistingRun], None] | None = None,
    ) -> tuple[RunWriter, set[str]]:
        """Open `path` for a new or resumed run; return the writer and done ids.

        A new run writes the `_meta` line first. Without `resume` or `force`, an
        existing non-empty file raises OutputFileError. When a run resumes,
        `check_resume` gets the file's contents before the file is changed in
        any way, and may raise OutputFileError to reject it.
        """
        path.parent.mkdir(parents=True, exist_ok=True)
        exists = path.is_file() and path.stat().st_size > 0
        done: set[str] = set()
        if exists and resume:
            existing = read_existing_run(path)
            if check_resume is not None:
                check_resume(existing)
            elif existing.meta is None:
                log.warning("%s has no _meta line; resuming without one", path)
            done = existing.record_ids
            if existing.partial_line_size:
                log.warning(
                    "%s: removing a partial last line (%d bytes) left by an "
                    "interrupted run",
                    path,
                    existing.partial_line_size,
                )
                with path.open("r+b") as handle:
                    handle.truncate(existing.whole_lines_size)
        elif exists and not force:
            raise OutputFileError(
                f"output file {path} already exists: pass --resume to continue "
                "that run or --force to overwrite it"
            )

        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
        if not resume:
            flags |= os.O_TRUNC
        fd = os.open(path, flags, 0o644)
        writer = cls(path, fd)
        if not (exists and resume):
            writer.write({"_meta": True, **meta})
        return writer, done

    def write(self, item: dict[str, Any]) -> None:
        line = orjson.dumps(item) + b"\n"
        written = os.write(self._fd, line)
        while written < len(line):
            written += os.write(self._fd, line[written:])

    def close(self) -> None:
        if self._fd >= 0:
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> RunWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
