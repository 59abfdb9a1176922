"""Benchmark compose on large synthetic runs built from AFM's real runs.

Builds runs of 1,000, 5,000 and 10,000 records by cycling through the records
of every file in the shared runs folder; each copy gets its own label suffix.
Grades each run once, then times `afm-judge compose` in a fresh process and
reads its peak resident memory. Goal: 10,000 records composed in under 2 s, with
memory that grows far slower than the run file.

Usage: python bench/bench_compose.py [--shared DIR] [--repeat N]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

REPO = Path(__file__).resolve().parents[1]
SIZES = (1_000, 5_000, 10_000)

# Runs in the child process: compose, then print wall time and peak RSS.
# The peak comes from VmHWM in /proc/self/status because Linux carries
# ru_maxrss over from the parent across fork and exec, and the parent has
# just graded a large run.
CHILD = """
import sys, time
from pathlib import Path
started = time.perf_counter()
from judge.compose import compose_report
compose_report(Path(sys.argv[1]))
elapsed = time.perf_counter() - started
status = Path("/proc/self/status").read_text()
peak_kib = next(l.split()[1] for l in status.splitlines() if l.startswith("VmHWM"))
print(elapsed, peak_kib)
"""


def shared_records(shared: Path) -> list[dict]:
    records = []
    for path in sorted((shared / "afm-runs").glob("*.jsonl")):
        for line in path.read_bytes().splitlines():
            if not line.strip():
                continue
            data = orjson.loads(line)
            if not data.get("_meta"):
                records.append(data)
    return records


def build_run(records: list[dict], size: int, path: Path) -> None:
    with path.open("wb") as handle:
        handle.write(orjson.dumps({"_meta": True, "afm_version": "bench"}) + b"\n")
        for copy, record in zip(range(size), itertools.cycle(records)):
            suffix = copy // len(records)
            label = (record.get("label") or "").strip() or "nolabel"
            model = str(record.get("model", "")).split(" @ ")[0].strip()
            clone = dict(
                record, label=f"{label}-{suffix}", model=f"{model} @ {label}-{suffix}"
            )
            handle.write(orjson.dumps(clone) + b"\n")


def measure(out_dir: Path) -> tuple[float, int]:
    """Return wall seconds (process start to exit) and the child's peak RSS in KiB."""
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(out_dir)],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    wall = time.perf_counter() - started
    _, peak_kib = result.stdout.split()
    return wall, int(peak_kib)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    sys.path.insert(0, str(REPO))
    from judge.grade import grade_run

    records = shared_records(args.shared)
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        for size in SIZES:
            run = Path(scratch) / f"synthetic-{size}.jsonl"
            build_run(records, size, run)
            out_dir = Path(scratch) / f"out-{size}"
            started = time.perf_counter()
            grade_run(run, out_dir)
            grade_seconds = time.perf_counter() - started
            walls, peaks = [], []
            for _ in range(args.repeat):
                wall, peak = measure(out_dir)
                walls.append(wall)
                peaks.append(peak)
            results.append(
                {
                    "records": size,
                    "run_mib": round(run.stat().st_size / 2**20, 1),
                    "grades_mib": round(
                        (out_dir / "grades.jsonl").stat().st_size / 2**20, 1
                    ),
                    "grade_s": round(grade_seconds, 2),
                    "compose_wall_s": [round(w, 2) for w in walls],
                    "compose_median_s": round(statistics.median(walls), 2),
                    "peak_rss_mib": round(max(peaks) / 1024, 1),
                }
            )
            print(json.dumps(results[-1]), flush=True)


if __name__ == "__main__":
    main()
