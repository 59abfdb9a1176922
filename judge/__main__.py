"""Run the CLI as `python -m judge`."""

from judge.cli import main

main()
