"""Rendering a script to MP4: generation alone, encoding alone, the overlapped render, and its peak memory.

Four measurements on the demo model (256 px), batch 1, H.264 crf 18 preset medium, segments of 4 s:
  generation  - frames/s of FramePipeline alone (mapping, synthesis, uint8 on the host), after a warm-up,
                with the torch threads a render uses
  encoding    - frames/s of a segment writer alone, fed frames already in memory (the first 5 s of the
                script, generated once and repeated), one writer per segment as render() opens them
  render      - frames/s of render() in a fresh subprocess per length: frames / generate_and_encode_s
                (generation overlapped with encoding) and frames / total_s (also loading and the join).
                The issue's target: generate_and_encode fps >= 0.85 x min(generation, encoding)
  peak memory - per render length: the render process's own peak RSS (its RUSAGE_SELF ru_maxrss, model
                and torch included), the largest ffmpeg's own peak (VmHWM, sampled from /proc) and the
                largest sampled sum of the render process and its live ffmpeg processes.
                The issue's target: peak RSS of the longest render <= 1.15 x that of the shortest

RUSAGE_CHILDREN is not used for ffmpeg: Linux carries the parent's high-water RSS into a child across
its exec, so an ffmpeg started by a 500 MiB Python process reports at least 500 MiB there.

With --repeats N every measurement runs N times and the fastest is kept (the shared VM's neighbours
only ever slow a run down). On a CPU, render() gives each encoder one core and one x264 thread and
torch the remaining cores (renderer.jobs.threads.plan_threads); the stages alone are measured the
same way, and generation with every core is printed for reference. --torch-threads N overrides the
torch threads of the renders and of generation alone.

    python benchmarks/render.py [--seconds 5 60] [--fps 24] [--repeats 3] [--torch-threads 1]
                                [--out benchmarks/results/render.json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from common import machine_info, write_results  # benchmarks/common.py, beside this script

RESULT_PREFIX = "RENDER-RESULT "
SEGMENT_S = 4


def make_script(seconds: float, fps: float, model: str) -> Any:
    """A script of `seconds` with a keyframe (a new seed) every 2 s; psi 0.7 throughout."""
    from renderer.plan.script import parse_script

    times = range(0, int(np.ceil(seconds)), 2)
    keyframes = [{"time": f"{t}s", "seed": i + 1, "psi": 0.7} for i, t in enumerate(times)]
    data = {
        "fps": fps,
        "models": {"base": model},
        "duration": f"{seconds:g}s",
        "output": {"segment": f"{SEGMENT_S}s"},
        "keyframes": keyframes,
    }
    return parse_script(data, base_dir=Path.cwd())


def busy_cpu_s() -> float:
    """CPU seconds all processes on the machine have spent (user, nice, system, irq), from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    return (fields[0] + fields[1] + fields[2] + fields[5] + fields[6]) / os.sysconf("SC_CLK_TCK")


def own_cpu_s() -> float:
    """CPU seconds of this process and its reaped children (the renders and ffmpegs)."""
    return sum(
        r.ru_utime + r.ru_stime
        for r in (resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN))
    )


class OtherLoad:
    """CPU seconds that other processes on the machine spent while the `with` block ran."""

    def __enter__(self) -> OtherLoad:
        self.busy, self.own, self.wall = busy_cpu_s(), own_cpu_s(), time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.others = max(0.0, (busy_cpu_s() - self.busy) - (own_cpu_s() - self.own))


# -- memory of a render, in its own process -------------------------------------------------------


def _status_kib(pid: int | str, field: str) -> int:
    """A `VmRSS` / `VmHWM` line of /proc/PID/status in KiB; 0 when the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _ffmpeg_children() -> list[int]:
    """Child processes already running ffmpeg; one caught between fork and exec still shares
    (and reports) this process's memory, so it is skipped."""
    pids: list[int] = []
    for task in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task}/children") as f:
                children = [int(p) for p in f.read().split()]
        except OSError:
            continue
        for pid in children:
            try:
                with open(f"/proc/{pid}/comm") as f:
                    if f.read().startswith("ffmpeg"):
                        pids.append(pid)
            except OSError:
                continue
    return pids


class MemorySampler(threading.Thread):
    """Polls the memory of this process and of its ffmpeg child processes every `interval` s."""

    def __init__(self, interval: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.interval = interval
        self.stop = threading.Event()
        self.child_hwm_kib: dict[int, int] = {}  # per ffmpeg: its VmHWM at the last sample before it exited
        self.peak_tree_kib = 0  # largest VmRSS(self) + sum of VmRSS(children) seen in one sample
        self.samples = 0

    def run(self) -> None:
        while not self.stop.is_set():
            tree = _status_kib("self", "VmRSS")
            for pid in _ffmpeg_children():
                rss, hwm = _status_kib(pid, "VmRSS"), _status_kib(pid, "VmHWM")
                tree += rss
                if hwm:
                    self.child_hwm_kib[pid] = max(self.child_hwm_kib.get(pid, 0), hwm)
            self.peak_tree_kib = max(self.peak_tree_kib, tree)
            self.samples += 1
            self.stop.wait(self.interval)


def child_render(seconds: float, out: Path, fps: float, model: str, torch_threads: int | None) -> None:
    """Render `seconds` to `out` and print one JSON line of timings and memory (run in a fresh process)."""
    import torch  # counted in the baseline below, as any render imports it

    if torch_threads:
        torch.set_num_threads(torch_threads)

    from renderer.jobs.job import RenderSettings
    from renderer.jobs.render import render

    rss_after_import = _status_kib("self", "VmRSS")
    script = make_script(seconds, fps, model)
    sampler = MemorySampler()
    sampler.start()
    result = render(script, RenderSettings(device="cpu", output={"file": out}))
    sampler.stop.set()
    sampler.join()
    report = {
        "seconds": seconds,
        "num_frames": result.num_frames,
        "segments": result.segments_rendered,
        "timings": result.timings,
        "rss_after_import_kib": rss_after_import,
        "peak_rss_self_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "ffmpeg_processes_sampled": len(sampler.child_hwm_kib),
        "ffmpeg_peak_hwm_kib": max(sampler.child_hwm_kib.values(), default=0),
        "peak_tree_rss_sampled_kib": sampler.peak_tree_kib,
        "memory_samples": sampler.samples,
        "output_bytes": out.stat().st_size,
    }
    print(RESULT_PREFIX + json.dumps(report), flush=True)


def run_child(seconds: float, folder: Path, fps: float, model: str, torch_threads: int | None) -> dict[str, Any]:
    out = folder / f"render-{seconds:g}s.mp4"
    command = [sys.executable, __file__, "--child-render", str(seconds), str(out), "--fps", str(fps), "--model", model]
    command += ["--torch-threads", str(torch_threads)] if torch_threads else []
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"render of {seconds} s failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    line = next(line for line in proc.stdout.splitlines() if line.startswith(RESULT_PREFIX))
    for leftover in (out, Path(f"{out}.json")):
        leftover.unlink(missing_ok=True)
    return json.loads(line.removeprefix(RESULT_PREFIX))


# -- generation and encoding alone -----------------------------------------------------------------


def generation_fps(script: Any, model: str, frames: int, keep: int, torch_threads: int) -> tuple[float, np.ndarray]:
    """frames/s of FramePipeline at batch 1 over `frames` frames, and the first `keep` frames it made."""
    import torch  # only now: the render children were started from a process without it

    torch.set_num_threads(torch_threads)
    from renderer import load_generator
    from renderer.frames.latents import build_timeline
    from renderer.frames.pipeline import FramePipeline

    G = load_generator(model, device="cpu")
    pipeline = FramePipeline(build_timeline(script, G), G, batch_size=1)
    for _ in pipeline.frames(0, 8):  # warm-up: kernels, allocator
        pass
    kept: list[np.ndarray] = []
    count = 0
    t0 = time.perf_counter()
    for batch in pipeline.frames(0, frames):
        count += len(batch)
        if sum(len(b) for b in kept) < keep:
            kept.append(batch)
    seconds = time.perf_counter() - t0
    return count / seconds, np.concatenate(kept)[:keep] if kept else np.empty((0,))


def encoding_fps(pool: np.ndarray, frames: int, fps: float, folder: Path, threads: int | None) -> float:
    """frames/s of a segment writer (H.264 crf 18, x264 `threads`) fed one frame per write from `pool`, repeated."""
    from renderer.jobs.job import plan_segments
    from renderer.output.writers import open_segment
    from renderer.plan.encoding import EncoderSettings

    height, width = pool.shape[1:3]
    segments = plan_segments(frames, round(SEGMENT_S * fps))
    t0 = time.perf_counter()
    for index, (start, stop) in enumerate(segments):
        path = folder / f"encode{index:05d}.mp4"
        writer = open_segment(path, kind="mp4", width=width, height=height, fps=fps, settings=EncoderSettings(threads=threads))
        for i in range(start, stop):
            writer.write(pool[i % len(pool)][None])
        writer.close()
    seconds = time.perf_counter() - t0
    for index in range(len(segments)):
        (folder / f"encode{index:05d}.mp4").unlink(missing_ok=True)
    return frames / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="demo")
    parser.add_argument("--seconds", type=float, nargs="+", default=[5, 60], help="render lengths, shortest first")
    parser.add_argument("--fps", type=float, default=24)
    parser.add_argument("--gen-frames", type=int, default=480, help="frames timed for generation alone")
    parser.add_argument("--encode-frames", type=int, default=None, help="frames timed for encoding alone "
                        "(default: the longest render's)")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each measurement; the fastest is kept")
    parser.add_argument("--torch-threads", type=int, default=None, help="torch threads of the renders and of "
                        "generation alone (default: render()'s own rule, the cores less one for the encoder)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/render.json"))
    parser.add_argument("--child-render", nargs=2, metavar=("SECONDS", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child_render:
        child_render(float(args.child_render[0]), Path(args.child_render[1]), args.fps, args.model, args.torch_threads)
        return

    from rich.console import Console
    from rich.table import Table

    seconds = sorted(args.seconds)
    longest = make_script(seconds[-1], args.fps, args.model)
    encode_frames = args.encode_frames or longest.num_frames
    # Other processes' CPU time during each measurement: a busy machine slows everything, generation
    # most (its OpenMP threads wait on each other when a core is taken away).
    others: dict[str, float] = {}
    with OtherLoad() as whole, tempfile.TemporaryDirectory(prefix="render-bench-") as scratch:
        folder = Path(scratch)
        # The renders first, each in a fresh process, while this one has not loaded a model yet.
        renders = []
        for s in seconds:
            with OtherLoad() as load:
                runs = [run_child(s, folder, args.fps, args.model, args.torch_threads) for _ in range(args.repeats)]
            others[f"render_{s:g}s"] = load.others
            # Best of the repeats for speed (this VM's neighbours only ever slow a run down); the
            # highest of their peaks for memory.
            best = min(runs, key=lambda r: r["timings"]["generate_and_encode_s"])
            best["peak_rss_self_kib"] = max(r["peak_rss_self_kib"] for r in runs)
            best["peak_tree_rss_sampled_kib"] = max(r["peak_tree_rss_sampled_kib"] for r in runs)
            best["repeats_generate_and_encode_s"] = [r["timings"]["generate_and_encode_s"] for r in runs]
            renders.append(best)
        pool_frames = min(longest.num_frames, round(5 * args.fps))
        gen_frames = min(args.gen_frames, longest.num_frames)
        # Each stage alone as render() runs it on a CPU: torch on the cores the encoder leaves, x264
        # on one thread; and, for reference, generation with every core.
        from renderer.jobs.threads import plan_threads

        render_threads = args.torch_threads or plan_threads("cpu", encoders=1).torch
        with OtherLoad() as load:
            gen_runs = [generation_fps(longest, args.model, gen_frames, pool_frames, render_threads)
                        for _ in range(args.repeats)]
        others["generation"] = load.others
        gen_fps, pool = max(gen_runs, key=lambda run: run[0])
        all_cores = os.cpu_count() or 1
        gen_all_fps = max(generation_fps(longest, args.model, gen_frames, 0, all_cores)[0] for _ in range(args.repeats))
        with OtherLoad() as load:
            enc_fps = max(encoding_fps(pool, encode_frames, args.fps, folder, 1) for _ in range(args.repeats))
        others["encoding"] = load.others
    wall = whole.wall
    others["whole_run"] = whole.others

    bound = min(gen_fps, enc_fps)
    rows = []
    for r in renders:
        t = r["timings"]
        overlapped = r["num_frames"] / t["generate_and_encode_s"]
        rows.append(
            {
                **r,
                "fps_generate_and_encode": overlapped,
                "fps_total": r["num_frames"] / t["total_s"],
                "ratio_to_slower_stage": overlapped / bound,
                "peak_rss_self_mib": r["peak_rss_self_kib"] / 1024,
                "peak_tree_rss_sampled_mib": r["peak_tree_rss_sampled_kib"] / 1024,
                "ffmpeg_peak_hwm_mib": r["ffmpeg_peak_hwm_kib"] / 1024,
            }
        )
    rss_ratio = rows[-1]["peak_rss_self_kib"] / rows[0]["peak_rss_self_kib"]
    tree_ratio = rows[-1]["peak_tree_rss_sampled_kib"] / rows[0]["peak_tree_rss_sampled_kib"]
    summary = {
        "generation_fps": gen_fps,
        "generation_frames": min(args.gen_frames, longest.num_frames),
        "encoding_fps": enc_fps,
        "encoding_frames": encode_frames,
        "generation_fps_all_cores": gen_all_fps,
        "generation_torch_threads": render_threads,
        "slower_stage_fps": bound,
        "torch_threads": args.torch_threads,
        "render_ratio_to_slower_stage": rows[-1]["ratio_to_slower_stage"],
        "render_ratio_target": 0.85,
        "peak_rss_ratio_longest_to_shortest": rss_ratio,
        "peak_tree_rss_ratio_longest_to_shortest": tree_ratio,
        "peak_rss_ratio_target": 1.15,
    }
    machine = machine_info(
        "cpu",
        model=args.model,
        batch=1,
        fps=args.fps,
        encoder="h264 crf 18 preset medium",
        segment_s=SEGMENT_S,
        repeats=args.repeats,
        wall_s=wall,
        other_processes_cpu_s=others,  # per measurement; about 0 on an idle machine
    )

    console = Console()
    stages = Table(title=f"{args.model}, cpu, batch 1, h264 crf 18: frames/s")
    for column in ("stage", "frames", "fps", "vs slower stage", "target"):
        stages.add_column(column, justify="right")
    stages.add_row(f"generation alone, {all_cores} torch threads", str(summary["generation_frames"]), f"{gen_all_fps:.1f}", "", "")
    stages.add_row(f"generation alone, {render_threads} torch threads", str(summary["generation_frames"]), f"{gen_fps:.1f}", "", "")
    stages.add_row("encoding alone, 1 x264 thread", str(encode_frames), f"{enc_fps:.1f}", "", "")
    for r in rows:
        stages.add_row(f"render {r['seconds']:g} s, generate+encode", str(r["num_frames"]),
                       f"{r['fps_generate_and_encode']:.1f}", f"{r['ratio_to_slower_stage']:.2f}", ">= 0.85")
        stages.add_row(f"render {r['seconds']:g} s, total", str(r["num_frames"]), f"{r['fps_total']:.1f}", "", "")
    console.print(stages)
    memory = Table(title="peak memory of a render, MiB (fresh process each)")
    for column in ("render", "frames", "after import", "render process", "largest ffmpeg", "process + ffmpegs"):
        memory.add_column(column, justify="right")
    for r in rows:
        memory.add_row(f"{r['seconds']:g} s", str(r["num_frames"]), f"{r['rss_after_import_kib'] / 1024:.0f}",
                       f"{r['peak_rss_self_mib']:.0f}", f"{r['ffmpeg_peak_hwm_mib']:.0f}",
                       f"{r['peak_tree_rss_sampled_mib']:.0f}")
    memory.add_row(f"{seconds[-1]:g} s / {seconds[0]:g} s", "", "", f"{rss_ratio:.3f} (target <= 1.15)", "",
                   f"{tree_ratio:.3f}")
    console.print(memory)
    if others["whole_run"] > 0.02 * wall:
        busy = ", ".join(f"{k} {v:.1f}" for k, v in others.items())
        console.print(f"[yellow]warning: other processes used CPU time during this {wall:.0f} s run (CPU s: {busy}); "
                      "the timings are not those of an idle machine[/yellow]")
    write_results(args.out, machine, rows, summary=summary)


if __name__ == "__main__":
    main()
