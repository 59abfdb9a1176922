"""Progress of a collect run on stderr: a rich bar and one line per request."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

# Characters of an error shown in a request's progress line.
ERROR_CHARS = 100


def describe_record(record: dict[str, Any]) -> str:
    """Return the one-line summary of a written record (rich markup)."""
    name = escape(record.get("label") or record.get("model") or "")
    if record.get("status") == "FAIL":
        error = " ".join(str(record.get("error", "")).split())[:ERROR_CHARS]
        return f"[red]FAIL[/red] {name}: {escape(error)}"
    tokens = record.get("completion_tokens")
    rate = record.get("tokens_per_sec")
    parts = [f"[green]OK[/green]   {name}"]
    parts.append(f"{tokens if tokens is not None else '?'} tok")
    if rate is not None:
        parts.append(f"{rate:.1f} tok/s")
    parts.append(f"{record.get('gen_time_s') or 0:.2f} s")
    return "  ".join(parts)


class CollectProgress:
    """A progress bar with counts and ETA; does nothing when `quiet`."""

    def __init__(self, total: int, done: int, quiet: bool) -> None:
        self.quiet = quiet
        self._progress: Progress | None = None
        self._task = None
        if quiet:
            return
        self._progress = Progress(
            TextColumn("[bold]collect[/bold]"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("•"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self._task = self._progress.add_task("collect", total=total, completed=done)

    def __enter__(self) -> CollectProgress:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def note(self, message: str) -> None:
        """Print a line above the bar (rich markup)."""
        if self._progress is not None:
            self._progress.console.print(message, highlight=False, soft_wrap=True)

    def record_written(self, record: dict[str, Any]) -> None:
        if self._progress is None:
            return
        self.note(describe_record(record))
        self._progress.advance(self._task)
