"""Benchmark grade with a judge model: concurrency against a fixed-latency judge.

Starts the scripted judge (tests/judge_standin.py) on loopback with a fixed
latency per request, grades AFM's 190-record comprehensive-qwen35 run with
--concurrency 8 and no cache, and compares the wall time with the ideal
190 x latency / 8. Goal: at most 1.25 x the ideal.

Usage: python bench/bench_judge.py [--shared DIR] [--latency 0.2] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RUN = "comprehensive-qwen35-f582ac5.jsonl"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_standin(folder: Path, latency: float) -> tuple[subprocess.Popen, str]:
    script = folder / "script.json"
    script.write_text(json.dumps({"latency_s": latency}))
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            str(REPO / "tests" / "judge_standin.py"),
            str(port),
            str(script),
        ]
    )
    for _ in range(200):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=1)
            return process, f"http://127.0.0.1:{port}/v1"
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("judge stand-in did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    sys.path.insert(0, str(REPO))
    from judge.grade import grade_run
    from judge.judge_config import JudgeEndpoint, JudgeOptions
    from judge.runs import load_run

    run_path = args.shared / "afm-runs" / RUN
    records = len(load_run(run_path).records)
    ideal = records * args.latency / args.concurrency
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        process, base_url = start_standin(folder, args.latency)
        try:
            walls = []
            for attempt in range(args.repeat):
                endpoint = JudgeEndpoint(model="bench", base_url=base_url, api_key="x")
                options = JudgeOptions(
                    judges=[endpoint],
                    concurrency=args.concurrency,
                    use_cache=False,
                    show_progress=False,
                )
                started = time.perf_counter()
                grade_run(run_path, folder / f"out-{attempt}", options)
                walls.append(time.perf_counter() - started)
        finally:
            process.kill()
            process.wait()
    median = statistics.median(walls)
    print(
        json.dumps(
            {
                "records": records,
                "latency_s": args.latency,
                "concurrency": args.concurrency,
                "ideal_s": round(ideal, 2),
                "goal_s": round(1.25 * ideal, 2),
                "wall_s": [round(w, 2) for w in walls],
                "median_s": round(median, 2),
                "ratio_to_ideal": round(median / ideal, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
