"""Time and peak memory of `personae datasets synth` at several sizes, each in a fresh process.

The control is the same process doing nothing but import the CLI: peak memory above it is what generating
costs. Bounded memory means that figure stays flat as users grow (chunks of --chunk-users users).

    nice -n 10 python bench/synth_scale.py --users 100000,1000000 --items 1000000 --topics 100
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from personae.experiment import write_json

CLI = "import sys; from personae.cli import main; sys.exit(main(sys.argv[1:]))"


def measure(argv: list[str]) -> dict:
    """Wall seconds, CPU seconds and peak RSS (MiB) of one fresh Python process running the CLI."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", CLI, *argv], capture_output=True, text=True, check=True,
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    wall = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # ru_maxrss: the largest child so far (KiB)
    cpu = (usage.ru_utime + usage.ru_stime) - (before.ru_utime + before.ru_stime)
    return {"wall_seconds": round(wall, 2), "cpu_seconds": round(cpu, 2),
            "peak_rss_mib": round(usage.ru_maxrss / 1024, 1), "last_line": (result.stdout.strip().splitlines() or [""])[-1]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", default="100000,1000000")
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--topics", type=int, default=100)
    parser.add_argument("--json", default="bench/results/synth_scale.json")
    args = parser.parse_args()
    control = measure(["--help"])  # imports the CLI, generates nothing; measured first (ru_maxrss only grows)
    runs = []
    for users in [int(u) for u in args.users.split(",")]:  # ascending sizes, so each peak is its own
        with tempfile.TemporaryDirectory() as folder:
            argv = ["datasets", "synth", "--users", str(users), "--items", str(args.items), "--topics",
                    str(args.topics), "--seed", "0", "--out", folder]
            entry = {"users": users, "items": args.items, "topics": args.topics, **measure(argv)}
            entry["bytes_on_disk"] = sum(p.stat().st_size for p in Path(folder).iterdir())
        entry["peak_above_control_mib"] = round(entry["peak_rss_mib"] - control["peak_rss_mib"], 1)
        runs.append(entry)
        print(json.dumps(entry))
    write_json(args.json, {"command": "personae datasets synth", "date": str(date.today()),
                           "machine": "2 cores, 24 GiB, shared with other jobs",
                           "control_import_only": control, "runs": runs})


if __name__ == "__main__":
    main()
