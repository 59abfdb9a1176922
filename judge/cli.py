"""Command-line entry point: wires options to the collect, grade and compose stages."""

from __future__ import annotations

import logging

import click

from judge import __version__
from judge.cli_collect import collect
from judge.cli_grade import compose, grade


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="afm-judge")
@click.option("-v", "--verbose", count=True, help="Log more (-v info, -vv debug).")
def main(verbose: int) -> None:
    """Grade AFM test runs and write compatibility reports.

    collect runs a case file against AFM or another OpenAI-compatible server,
    grade gives every record a verdict, compose writes the report.
    """
    level = logging.WARNING
    if verbose == 1:
        level = logging.INFO
    elif verbose >= 2:
        level = logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    # instructor logs every failed attempt at ERROR and the HTTP clients log
    # every request at INFO; grade reports both in its own words.
    quiet_level = logging.DEBUG if verbose >= 2 else logging.CRITICAL
    logging.getLogger("instructor").setLevel(quiet_level)
    for name in ("httpx", "httpx2", "httpcore", "openai"):
        logging.getLogger(name).setLevel(max(quiet_level, logging.WARNING))


main.add_command(collect)
main.add_command(grade)
main.add_command(compose)
