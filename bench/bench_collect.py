"""Benchmark collect's overhead on the embedded engine.

Runs `afm-judge collect` on AFM's stop-sequence suite with --server llama-cpp
(SmolLM2-135M-Instruct on the CPU) and --max-tokens 256, several times, and
reports for each run:

- wall: the whole command, from process start to exit;
- gen: the sum of the records' gen_time_s (request sent to last byte read);
- start: the sum of the records' load_time_s (server start until healthy);
- ratio: wall / (gen + start), goal <= 1.3;
- total overhead: (wall - gen - start) / gen, everything that is not
  generation or a server start, process startup included;
- per-request overhead: the same without the one-time process startup
  (interpreter and imports, timed separately as `python -c "import
  judge.cli"`), so it is the time between requests relative to generation
  time, goal <= 5 %.

Usage: .venv/bin/python bench/bench_collect.py [--runs 3] [--cases FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
SUITE_NAME = "test-stop-sequences.txt"
MAX_TOKENS = 256
RATIO_GOAL = 1.3
OVERHEAD_GOAL = 0.05


@dataclass
class Measurement:
    requests: int
    failed: int
    wall_s: float
    gen_s: float
    start_s: float
    # Process startup (interpreter and imports), measured apart from the run.
    startup_s: float

    @property
    def ratio(self) -> float:
        return self.wall_s / (self.gen_s + self.start_s)

    @property
    def total_overhead(self) -> float:
        return (self.wall_s - self.gen_s - self.start_s) / self.gen_s

    @property
    def request_overhead(self) -> float:
        loop_s = self.wall_s - self.startup_s - self.gen_s - self.start_s
        return loop_s / self.gen_s


def default_cases() -> Path:
    """Return AFM's stop-sequence suite from AFM_JUDGE_SHARED or ../shared."""
    shared = os.environ.get("AFM_JUDGE_SHARED") or str(REPO.parent / "shared")
    return Path(shared) / "afm-cases" / SUITE_NAME


def afm_judge_command() -> list[str]:
    script = Path(sys.executable).parent / "afm-judge"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from judge.cli import main; main()"]


def measure_startup(tries: int = 3) -> float:
    """Return the median time to start Python and import the CLI, in seconds."""
    timings = []
    for _ in range(tries):
        started = time.monotonic()
        subprocess.run([sys.executable, "-c", "import judge.cli"], check=True)
        timings.append(time.monotonic() - started)
    return sorted(timings)[len(timings) // 2]


def run_once(cases: Path, output: Path, startup_s: float) -> Measurement:
    command = [
        *afm_judge_command(),
        "collect",
        str(cases),
        "--server",
        "llama-cpp",
        "--max-tokens",
        str(MAX_TOKENS),
        "-o",
        str(output),
        "--force",
        "-q",
    ]
    started = time.monotonic()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    wall_s = time.monotonic() - started

    records = [
        json.loads(line)
        for line in output.read_text(encoding="utf-8").splitlines()
        if line.strip() and not json.loads(line).get("_meta")
    ]
    return Measurement(
        requests=len(records),
        failed=sum(record["status"] == "FAIL" for record in records),
        wall_s=wall_s,
        gen_s=sum(record.get("gen_time_s") or 0.0 for record in records),
        start_s=sum(record.get("load_time_s") or 0.0 for record in records),
        startup_s=startup_s,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="number of runs")
    parser.add_argument("--cases", type=Path, default=None, help="case file")
    args = parser.parse_args()
    cases = args.cases or default_cases()
    if not cases.is_file():
        parser.error(f"case file {cases} not found: pass --cases FILE")

    RESULTS.mkdir(parents=True, exist_ok=True)
    startup_s = measure_startup()
    print(f"process startup (python -c 'import judge.cli'): {startup_s:.2f} s")
    print(
        "| run | requests | FAIL | wall s | gen s | start s | ratio "
        "| total overhead | per-request overhead |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    measurements = []
    for number in range(1, args.runs + 1):
        result = run_once(cases, RESULTS / f"collect-{number}.jsonl", startup_s)
        measurements.append(result)
        print(
            f"| {number} | {result.requests} | {result.failed} "
            f"| {result.wall_s:.2f} | {result.gen_s:.2f} | {result.start_s:.2f} "
            f"| {result.ratio:.3f} | {result.total_overhead:.1%} "
            f"| {result.request_overhead:.1%} |",
            flush=True,
        )
    met = all(
        result.ratio <= RATIO_GOAL and result.request_overhead <= OVERHEAD_GOAL
        for result in measurements
    )
    print(
        f"goals (ratio <= {RATIO_GOAL}, per-request overhead <= "
        f"{OVERHEAD_GOAL:.0%}): " + ("met by every run" if met else "missed")
    )
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
