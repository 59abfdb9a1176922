"""The `collect` command (placeholder until collect lands)."""

from __future__ import annotations

import click


@click.command()
@click.argument("cases", type=click.Path(dir_okay=False))
def collect(cases: str) -> None:
    """Run a case file against a server and write a results JSONL."""
    raise click.ClickException("collect is not implemented yet")
