"""The thread policy before and after: whole `preview` and `project` processes, side by side.

Runs each command from two checkouts in turn (before, after, before, after, ...), as whole
processes, and records each run's wall time, CPU time (user + system, ffmpeg included) and peak RSS,
with the machine's load average at its start. Ratios are after / before, medians of the pairs.

    python benchmarks/threads.py --before ../old-checkout [--pairs 3] [--steps 40] [--end 8s] [-o results/threads.json]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import write_results  # benchmarks/common.py, beside this script

ROOT = Path(__file__).resolve().parent.parent


def timed(command: list[str], checkout: Path) -> dict[str, Any]:
    """Run `command` from `checkout`; its wall and CPU seconds (with its children) and peak RSS."""
    load = os.getloadavg()[0]
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=checkout, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"{' '.join(command)} failed in {checkout}: {process.stderr.read().decode()[-2000:] if process.stderr else ''}")
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "peak_rss_mib": usage.ru_maxrss / 1024, "load": load}


def commands(folder: Path, steps: int, end: str) -> dict[str, list[str]]:
    photo = folder / "photo.png"
    if not photo.exists():
        subprocess.run([sys.executable, "-c", (f"import numpy as n; from PIL import Image; Image.fromarray("
                        f"n.random.default_rng(0).integers(0, 255, (256, 256, 3), dtype=n.uint8)).save('{photo}')")], check=True)
    python = [sys.executable, "-m", "renderer"]
    return {
        "preview": [*python, "preview", str(ROOT / "examples" / "calm.toml"), "-o", str(folder / "preview"), "--no-plot",
                    "--end", end],
        "project": [*python, "project", str(photo), "-m", "demo", "-o", str(folder / "w.npz"), "--no-align",
                    "--steps", str(steps)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="a checkout of the version before")
    parser.add_argument("--after", type=Path, default=ROOT, help="the version after (default: this checkout)")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--steps", type=int, default=40, help="projection steps")
    parser.add_argument("--end", default="8s", help="the preview draft's end (calm.toml is 8 s long)")
    parser.add_argument("--only", nargs="*", default=["preview", "project"])
    parser.add_argument("-o", "--output", type=Path, default=ROOT / "benchmarks" / "results" / "threads.json")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, command in commands(Path(tmp), args.steps, args.end).items():
            if name not in args.only:
                continue
            runs: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
            for pair in range(args.pairs):
                for which, checkout in (("before", args.before), ("after", args.after)):
                    run = timed(command, checkout.resolve())
                    runs[which].append(run)
                    print(f"{name} pair {pair + 1} {which}: {run['wall_s']:.1f} s wall, {run['cpu_s']:.1f} s CPU, "
                          f"{run['peak_rss_mib']:.0f} MiB, load {run['load']:.1f}", flush=True)
            ratio = {key: statistics.median(a[key] / b[key] for a, b in zip(runs["after"], runs["before"], strict=True))
                     for key in ("wall_s", "cpu_s", "peak_rss_mib")}
            print(f"{name}: after / before, median of {args.pairs} pairs: wall {ratio['wall_s']:.2f}, CPU {ratio['cpu_s']:.2f}, "
                  f"RSS {ratio['peak_rss_mib']:.2f}")
            results.append({"command": name, "runs": runs, "after_over_before": ratio})
    machine = {"date": time.strftime("%Y-%m-%d"), "cpu_count": os.cpu_count(), "usable_cores": len(os.sched_getaffinity(0))}
    write_results(args.output, machine, results, before=str(args.before), after=str(args.after))


if __name__ == "__main__":
    main()
