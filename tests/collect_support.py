"""Helpers for collect's tests: the stand-in as an AFM binary, CLI runs, processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

TESTS_DIR = Path(__file__).resolve().parent
STANDIN = TESTS_DIR / "standin_server.py"
# The console script that pip installs next to the interpreter: the real entry.
_SCRIPT = Path(sys.executable).parent / "afm-judge"
AFM_JUDGE = (
    [str(_SCRIPT)]
    if _SCRIPT.exists()
    else [sys.executable, "-c", "from judge.cli import main; main()"]
)


def make_afm_wrapper(folder: Path) -> Path:
    """Write an executable `afm` script that runs the stand-in with its arguments."""
    wrapper = folder / "afm"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{STANDIN}" "$@"\n')
    wrapper.chmod(0o755)
    return wrapper


def write_cases(folder: Path, text: str, name: str = "cases.txt") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def afm_collect_args(
    cases: Path, wrapper: Path, output: Path, *extra: str
) -> list[str]:
    """Return `collect` arguments that run CASES on the stand-in into OUTPUT."""
    return ["collect", str(cases), "--afm-bin", str(wrapper), "-o", str(output), *extra]


def standin_env(scenario: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["STANDIN_SCENARIO"] = scenario
    env.update(extra)
    return env


def run_cli(
    args: list[str], env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run `afm-judge ARGS` as a real process and return its result."""
    return subprocess.run(
        [*AFM_JUDGE, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def live_processes_with(marker: str, also: str = "") -> list[tuple[int, str]]:
    """Return (pid, command line) of running processes whose command line has
    `marker` and `also` in it; zombies are left out."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            status = (entry / "status").read_text()
        except OSError:
            continue
        if marker in cmdline and also in cmdline and "State:\tZ" not in status:
            found.append((int(entry.name), cmdline.strip()))
    return found


def wait_for_no_processes(
    marker: str, timeout_s: float = 10.0, also: str = ""
) -> list[tuple[int, str]]:
    """Wait until no process matches (see live_processes_with); return the rest."""
    deadline = time.monotonic() + timeout_s
    remaining = live_processes_with(marker, also)
    while remaining and time.monotonic() < deadline:
        time.sleep(0.1)
        remaining = live_processes_with(marker, also)
    return remaining
