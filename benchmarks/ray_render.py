"""The Ray backend against the local render of the same script: throughput, fixed start-up cost, and
the per-segment overheads that the scaling model in RESULTS.md is built from.

Each render is the CLI in a fresh process (`python -m renderer render ... --json`), as a user runs it,
so the Ray figures include starting a local Ray. The variants run interleaved, pair after pair
(local, ray with a shared work folder, ray with segments sent back as bytes; the order rotates),
and the ratios are medians of the pairs. On the demo model (256 px), CPU, H.264 crf 18 preset medium.

  local            - renderer render (one process: torch on the cores the encoder leaves, one encoder)
  ray shared       - --backend ray --workers W --gpus-per-worker 0: W CPU workers of one core each,
                     segments written into the work folder
  ray bytes        - the same with --segment-storage bytes: each segment file sent back to the driver

Throughput is frames / rendering time: locally generate_and_encode_s (from the loaded model to the last
segment), on Ray rendering_s (from the first worker ready to the last segment). Start-up is what comes
before: locally load_s, on Ray workers_ready_s (starting a local Ray, the driver's load and keyframes,
the workers' processes and their model loads).

From the sidecar of every Ray render, per segment: wait_s (queued on its worker behind the segment
generating there), generate_s, tail_s (the encoder finishing after the last frame), other_s (the rest
of the worker's time: opening ffmpeg, queue hand-offs), and transfer_s (the driver's round trip less
the worker's time: Ray's scheduling, the result's transfer, storing bytes). Plus the round trip of an
empty actor call, on a local Ray started here.

    python benchmarks/ray_render.py [--seconds 12] [--fps 24] [--segment 2] [--workers 2] [--pairs 2]
                                    [--out benchmarks/results/ray_render.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import machine_info, write_results  # benchmarks/common.py, beside this script

REPO = Path(__file__).resolve().parents[1]


def write_script(folder: Path, seconds: float, fps: float, segment: float) -> Path:
    """A script of `seconds` on the demo model with a new seed every 2 s, psi 0.7."""
    lines = [f"fps = {fps:g}", f'duration = "{seconds:g}s"', '[models]\nbase = "demo"', f"[output]\nsegment = {segment:g}"]
    for i, t in enumerate(range(0, int(seconds), 2)):
        lines.append(f'[[keyframes]]\ntime = "{t}s"\nseed = {i + 1}\npsi = 0.7')
    path = folder / "bench.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def run_render(script: Path, out: Path, extra: list[str]) -> dict[str, Any]:
    command = [sys.executable, "-m", "renderer", "render", str(script), "-o", str(out), "--device", "cpu",
               "--json", "-q", *extra]
    t0 = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, check=False, cwd=REPO)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"render failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    summary = json.loads(proc.stdout[proc.stdout.index("{"):])
    sidecar = json.loads(Path(summary["sidecar"]).read_text())
    return {"wall_s": wall, "summary": summary, "backend": sidecar.get("backend")}


def segment_overheads(backend: dict[str, Any]) -> dict[str, float]:
    """Means over a Ray render's segments (seconds, and bytes sent back)."""
    rows = backend["segments"]

    def mean(values: list[float]) -> float:
        return statistics.fmean(values) if values else 0.0

    return {
        "segments": len(rows),
        "frames": mean([r["frames"] for r in rows]),
        "wait_s": mean([r["wait_s"] for r in rows]),
        "generate_s": mean([r["generate_s"] for r in rows]),
        "tail_s": mean([r["tail_s"] for r in rows]),
        "other_s": mean([r["wall_s"] - r["wait_s"] - r["generate_s"] - r["tail_s"] for r in rows]),
        "transfer_s": mean([r["roundtrip_s"] - r["wall_s"] for r in rows]),
        "bytes": mean([r["bytes"] for r in rows]),
    }


def empty_call_roundtrip(calls: int = 200) -> dict[str, float]:
    """ray.init of a local Ray (2 CPUs) and the median round trip of an empty actor call."""
    import ray

    t0 = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    init_s = time.perf_counter() - t0

    @ray.remote(num_cpus=0)
    class Echo:
        def ping(self) -> int:
            return 0

    echo = Echo.remote()
    ray.get(echo.ping.remote())
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        ray.get(echo.ping.remote())
        times.append(time.perf_counter() - t0)
    ray.shutdown()
    return {"ray_init_s": init_s, "empty_call_ms": 1000 * statistics.median(times)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--fps", type=float, default=24.0)
    parser.add_argument("--segment", type=float, default=2.0, help="segment length in seconds")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--pairs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "ray_render.json")
    args = parser.parse_args()

    variants = {
        "local": [],
        "ray shared": ["--backend", "ray", "--workers", str(args.workers), "--gpus-per-worker", "0"],
        "ray bytes": ["--backend", "ray", "--workers", str(args.workers), "--gpus-per-worker", "0", "--segment-storage", "bytes"],
    }
    names = list(variants)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    with tempfile.TemporaryDirectory() as tmp:
        script = write_script(Path(tmp), args.seconds, args.fps, args.segment)
        for pair in range(args.pairs):
            order = names[pair % len(names):] + names[: pair % len(names)]
            for name in order:
                run = run_render(script, Path(tmp) / f"{name.replace(' ', '_')}.mp4", variants[name])
                runs[name].append(run)
                t = run["summary"]["timings"]
                print(f"pair {pair + 1} {name:10s} wall {run['wall_s']:6.2f} s  total {t['total_s']:6.2f} s  "
                      f"generate+encode {t['generate_and_encode_s']:6.2f} s", flush=True)
    frames = runs["local"][0]["summary"]["frames"]
    roundtrip = empty_call_roundtrip()

    results = []
    for name in names:
        rows = []
        for i, run in enumerate(runs[name]):
            t = run["summary"]["timings"]
            local = runs["local"][i]["summary"]["timings"]
            # Rendering: locally from the loaded model, on Ray from the first worker ready. Start-up: until then
            # (on Ray: starting a local Ray, the driver's load, the workers' start and their model loads).
            rendering = t.get("rendering_s", t["generate_and_encode_s"])
            row = {
                "pair": i + 1, "wall_s": run["wall_s"], **t,
                "fps": frames / rendering,
                "throughput_ratio": local["generate_and_encode_s"] / rendering,
                "wall_ratio": runs["local"][i]["wall_s"] / run["wall_s"],
                "startup_s": t.get("workers_ready_s", t["load_s"]),
            }
            if run["backend"]:
                row["segments"] = segment_overheads(run["backend"])
            rows.append(row)
        results.append({"variant": name, "runs": rows})

    print(f"\n{frames} frames, {args.workers} Ray workers; ratios are local time / variant time (medians of {args.pairs} pairs)")
    print(f"{'variant':12s} {'fps':>6s} {'throughput':>10s} {'wall':>6s} {'start-up s':>10s} {'wall s':>7s}")
    for entry in results:
        rows = entry["runs"]
        med = {k: statistics.median(r[k] for r in rows) for k in ("fps", "throughput_ratio", "wall_ratio", "startup_s", "wall_s")}
        entry["median"] = med
        print(f"{entry['variant']:12s} {med['fps']:6.1f} {med['throughput_ratio']:10.2f} {med['wall_ratio']:6.2f} "
              f"{med['startup_s']:10.2f} {med['wall_s']:7.2f}")
    print("\nper segment (means over the Ray renders' segments, s):")
    for entry in results:
        segs = [r["segments"] for r in entry["runs"] if "segments" in r]
        if segs:
            keys = ("frames", "wait_s", "generate_s", "tail_s", "other_s", "transfer_s", "bytes")
            means = {k: statistics.fmean(s[k] for s in segs) for k in keys}
            entry["segment_means"] = means
            print(f"{entry['variant']:12s} " + "  ".join(f"{k} {v:.3f}" for k, v in means.items()))
    print(f"\nray.init of a local Ray {roundtrip['ray_init_s']:.2f} s; an empty actor call {roundtrip['empty_call_ms']:.2f} ms")
    write_results(
        args.out, machine_info("cpu", seconds=args.seconds, fps=args.fps, segment_s=args.segment, workers=args.workers,
                               pairs=args.pairs, frames=frames),
        results, roundtrip=roundtrip,
    )


if __name__ == "__main__":
    main()
