"""Read a results JSONL file into records, skipping lines that are not records."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from pydantic import ValidationError

from judge.records import RunMeta, RunRecord, clean_error, make_record_id

log = logging.getLogger(__name__)

# Unreadable lines beyond this many are counted in one warning, not one each.
MAX_LOGGED_SKIPS = 10


@dataclass(frozen=True)
class SkippedLine:
    """A line of the run file that could not be read as a record."""

    line: int
    reason: str


@dataclass
class Run:
    """A whole run: its `_meta` line (when present), records and skipped lines."""

    path: Path
    meta: RunMeta | None
    records: list[RunRecord]
    skipped: list[SkippedLine] = field(default_factory=list)
    sha256: str = ""

    @property
    def name(self) -> str:
        return self.path.stem


def iter_run(
    path: Path, skipped: list[SkippedLine] | None = None
) -> Iterator[RunMeta | RunRecord]:
    """Yield the `_meta` line and the records of a run file, in file order.

    Records get `index` (0-based position among non-`_meta` lines, the index
    AFM's HTML report uses) and `record_id`. A line that is not a JSON object
    is logged as "file:line: reason", appended to `skipped` and not counted in
    the index.
    NOTE: this assumes AFM's report generator also skips lines it cannot
    parse; if it counted them, its indices would shift after such a line.
    """
    index = 0
    logged = 0
    with path.open("rb") as handle:
        for line_number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            data, reason = _parse_line(raw, path, line_number)
            if reason is not None:
                logged += 1
                if logged <= MAX_LOGGED_SKIPS:
                    log.warning("%s:%d: %s; line skipped", path, line_number, reason)
                if skipped is not None:
                    skipped.append(SkippedLine(line_number, reason))
                continue

            if data.get("_meta"):
                yield RunMeta.model_validate(data)
                continue

            data.pop("index", None)
            data.pop("line", None)
            record = _validate_record(data, path, line_number)
            record.index = index
            record.line = line_number
            record.error = clean_error(record.error)
            record.record_id = make_record_id(
                record.model, record.label, record.prompt, index
            )
            index += 1
            yield record
    if logged > MAX_LOGGED_SKIPS:
        log.warning(
            "%s: %d more unreadable lines skipped", path, logged - MAX_LOGGED_SKIPS
        )


def _parse_line(raw: bytes, path: Path, line_number: int) -> tuple[dict, str | None]:
    """Parse one line into a JSON object, or return why it is not one.

    Bytes that are not UTF-8 become U+FFFD with a warning, so a record with
    one bad character keeps its other fields.
    """
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("utf-8", errors="replace")
            try:
                data = orjson.loads(text)
            except orjson.JSONDecodeError:
                return {}, f"invalid JSON ({exc.msg})"
            log.warning(
                "%s:%d: bytes that are not UTF-8 replaced with U+FFFD",
                path,
                line_number,
            )
        else:
            return {}, f"invalid JSON ({exc.msg})"
    if not isinstance(data, dict):
        return {}, f"expected a JSON object, found {type(data).__name__}"
    return data, None


def _validate_record(data: dict, path: Path, line_number: int) -> RunRecord:
    """Validate a record, dropping fields of the wrong type instead of the line.

    Keeping the line keeps the index aligned with AFM's report generator, which
    counts every JSON object that is not `_meta`.
    """
    try:
        return RunRecord.model_validate(data)
    except ValidationError as exc:
        bad_fields = sorted({str(error["loc"][0]) for error in exc.errors()})
    log.warning(
        "%s:%d: ignored field(s) with invalid values: %s",
        path,
        line_number,
        ", ".join(bad_fields),
    )
    valid_fields = {key: value for key, value in data.items() if key not in bad_fields}
    return RunRecord.model_validate(valid_fields)


def load_run(path: str | Path) -> Run:
    """Read a whole run file; raise FileNotFoundError if it does not exist."""
    run_path = Path(path)
    if not run_path.is_file():
        raise FileNotFoundError(f"run file not found: {run_path}")

    skipped: list[SkippedLine] = []
    meta: RunMeta | None = None
    records: list[RunRecord] = []
    for item in iter_run(run_path, skipped):
        if isinstance(item, RunMeta):
            meta = meta or item
        else:
            records.append(item)
    return Run(run_path, meta, records, skipped, file_sha256(run_path))


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
