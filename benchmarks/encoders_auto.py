"""`--encoders auto` against `--encoders 1` (and any other counts), end to end, interleaved.

Renders the demo model (256 px, H.264 crf 18 medium, segments of 1 s) through `renderer.render` on the
CPU with each encoder setting in turn, alternating the order every repeat, and reports the medians
of generate_and_encode fps and total seconds, with what auto measured and chose (from the sidecar).
On a 2-core CPU auto plans exactly what --encoders 1 does (renderer.jobs.threads.plan_threads), so
the ratio shows only the cost of measuring.

    python benchmarks/encoders_auto.py [--seconds 4] [--repeats 3] [--encoders 1 auto]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from common import machine_info, write_results  # benchmarks/common.py, beside this script

from renderer.jobs.job import RenderSettings
from renderer.jobs.render import render
from renderer.jobs.threads import plan_threads
from renderer.plan.script import parse_script

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--fps", type=float, default=12.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--encoders", nargs="+", default=["1", "auto"])
    parser.add_argument("-o", "--output", type=Path, default=ROOT / "benchmarks" / "results" / "encoders_auto.json")
    args = parser.parse_args(argv)
    choices: list[int | str] = [c if c == "auto" else int(c) for c in args.encoders]
    keys = [{"time": f"{t}s", "seed": i + 1, "psi": 0.7} for i, t in enumerate(range(0, int(args.seconds) + 1, 2))]
    data = {"fps": args.fps, "models": {"base": "demo"}, "duration": f"{args.seconds:g}s",
            "output": {"segment": "1s"}, "keyframes": keys}
    runs: dict[str, list[dict[str, Any]]] = {str(c): [] for c in choices}
    with tempfile.TemporaryDirectory(prefix="renderer-encoders-") as tmp:
        script = parse_script(data)
        render(script, RenderSettings(device="cpu", output={"file": Path(tmp) / "warm.mp4"}))  # warm-up
        for repeat in range(args.repeats):
            for choice in choices if repeat % 2 == 0 else choices[::-1]:
                out = Path(tmp) / f"out-{choice}-{repeat}.mp4"
                t0 = time.perf_counter()
                result = render(script, RenderSettings(device="cpu", encoders=choice, output={"file": out}))  # type: ignore[arg-type]
                wall = time.perf_counter() - t0
                facts = json.loads(result.sidecar.read_text())
                runs[str(choice)].append({"fps": result.num_frames / result.timings["generate_and_encode_s"],
                                          "total_s": wall, "encoders": facts["encoders"]})
    rows = []
    for choice, measured in runs.items():
        row: dict[str, Any] = {"encoders": choice, "repeats": len(measured),
                               "fps": statistics.median(m["fps"] for m in measured),
                               "total_s": statistics.median(m["total_s"] for m in measured),
                               "ran": sorted({m["encoders"]["ran"] for m in measured})}
        if choice == "auto":
            row["measured"] = [{k: m["encoders"].get(k) for k in ("bound", "generation_fps", "encoder_fps")} for m in measured]
        rows.append(row)
    base = rows[0]
    for row in rows:
        row["fps_vs_first"] = row["fps"] / base["fps"]
    plan = plan_threads("cpu", encoders="auto", work_pixels=256 * 256)
    print("| --encoders | encoders run | generate+encode fps | total s | fps vs first |")
    print("|---|---|---:|---:|---:|")
    for r in rows:
        print(f"| {r['encoders']} | {r['ran']} | {r['fps']:.2f} | {r['total_s']:.2f} | {r['fps_vs_first']:.3f}x |")
    write_results(args.output, machine_info("cpu", auto_plan={"torch": plan.torch, "encoders": plan.encoders}), rows)
    return rows


if __name__ == "__main__":
    main()
