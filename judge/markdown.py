"""Markdown helpers that keep record text from breaking the report's structure."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def inline(text: object, limit: int | None = None) -> str:
    """Render untrusted text on one line, safe inside a table cell or heading.

    Newlines fold to spaces so the text cannot start a heading or a score line,
    "<" becomes an entity so it cannot open an HTML comment (AFM's report
    generator reads scores from one), and "|" is escaped for tables.
    """
    flat = " ".join(str(text).split())
    if limit is not None and len(flat) > limit:
        flat = flat[: limit - 1].rstrip() + "…"
    return flat.replace("&", "&amp;").replace("<", "&lt;").replace("|", "\\|")


def code(text: object, limit: int | None = None) -> str:
    """Render a short value as inline code, or as plain text if it has backticks."""
    value = inline(text, limit)
    if "`" in value or not value:
        return value or "(empty)"
    return f"`{value}`"


def table(
    headers: Sequence[str], rows: Iterable[Sequence[object]], align: str = ""
) -> str:
    """Return a pipe table; `align` has one letter per column ("l" or "r")."""
    lines = ["| " + " | ".join(headers) + " |"]
    separators = []
    for position in range(len(headers)):
        right = position < len(align) and align[position] == "r"
        separators.append("---:" if right else "---")
    lines.append("|" + "|".join(separators) + "|")
    for row in rows:
        lines.append("| " + " | ".join(str(cell) for cell in row) + " |")
    return "\n".join(lines)


def names(values: Iterable[str], limit: int = 6) -> str:
    """List distinct values in first-seen order as code spans, capped at `limit`."""
    distinct = list(dict.fromkeys(value for value in values if value))
    listed = [code(value, 60) for value in distinct[:limit]]
    if len(distinct) > limit:
        listed.append(f"+{len(distinct) - limit} more")
    return ", ".join(listed) or "—"


def plural(count: int, noun: str) -> str:
    """Return "1 record" or "3 records" (nouns that take an s)."""
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {noun}s"
