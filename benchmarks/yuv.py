"""The encode step fed RGB (ffmpeg's scaler converts to yuv420p) against fed yuv420p (converted with torch
before the pipe, renderer.frames.yuv), on the CPU, interleaved.

For each size and x264 preset, each repeat encodes the same frames both ways, alternating which goes
first. It counts the bytes piped per frame and the CPU time of the step: for RGB, ffmpeg's CPU time
(scaler + x264) and this process's while it writes the pipe; for YUV, the torch conversion (one
thread), ffmpeg's CPU time (x264 only) and the pipe writes. ffmpeg's CPU time is read from the OS
when the process exits (renderer.output.encoded.exit_cpu_seconds; Linux). Medians over the repeats;
the ratio is YUV / RGB. Frames: the demo model's own frames at 256 px, and a moving pattern at
larger sizes (as benchmarks/gpu_suite.py encodes).

    python benchmarks/yuv.py [--sizes 256 1024] [--presets medium ultrafast] [--frames 24] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from common import machine_info, write_results  # benchmarks/common.py, beside this script

from renderer.frames.yuv import rgb_to_yuv420p
from renderer.output.writers import open_segment
from renderer.plan.encoding import EncoderSettings

ROOT = Path(__file__).resolve().parent.parent


def demo_frames(count: int) -> np.ndarray:
    """The demo model's frames (256 px) along a short walk between two seeds."""
    from renderer import load_generator
    from renderer.frames.images import to_uint8

    G = load_generator("demo")
    z = torch.from_numpy(np.stack([np.random.RandomState(s).randn(G.z_dim) for s in (1, 2)])).float()
    t = torch.linspace(0, 1, count)[:, None]
    with torch.no_grad():
        ws = G.mapping((1 - t) * z[0] + t * z[1], truncation_psi=0.7)
        return to_uint8(G.synthesis(ws, noise_mode="const")).contiguous().numpy()


def pattern_frames(size: int, count: int) -> np.ndarray:
    """A moving blocky pattern: compressible, and changing every frame."""
    rng = np.random.default_rng(0)
    base = (rng.random((size // 8, size // 8, 3)) * 255).astype(np.uint8).repeat(8, 0).repeat(8, 1)
    return np.stack([np.roll(base, 4 * i, axis=1) for i in range(count)])


def encode_step(frames: np.ndarray, layout: str, preset: str, batch: int, folder: Path) -> dict[str, float]:
    """One encode of frames in `layout` (converted here for yuv420p): bytes and CPU seconds per frame."""
    count, height, width, _ = frames.shape
    settings = EncoderSettings(crf=18, preset=preset, threads=1)
    convert_s = piped = 0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    writer = open_segment(folder / f"{layout}.mp4", kind="mp4", width=width, height=height, fps=30,
                          settings=settings, layout=layout)  # type: ignore[arg-type]
    write_s = 0.0
    with writer:
        for at in range(0, count, batch):
            part = frames[at : at + batch]
            if layout == "yuv420p":
                c0 = time.process_time()
                part = rgb_to_yuv420p(torch.from_numpy(part)).numpy()
                convert_s += time.process_time() - c0
            piped += part.nbytes
            c0 = time.process_time()
            writer.write(part)
            write_s += time.process_time() - c0
    wall = time.perf_counter() - wall0
    host_s = time.process_time() - cpu0
    ffmpeg_s = writer.cpu_seconds or float("nan")
    return {
        "bytes_per_frame": piped / count,
        "convert_ms": 1000 * convert_s / count,
        "pipe_ms": 1000 * write_s / count,
        "ffmpeg_ms": 1000 * ffmpeg_s / count,
        "cpu_ms": 1000 * (ffmpeg_s + convert_s + write_s) / count,
        "host_ms": 1000 * host_s / count,
        "wall_ms": 1000 * wall / count,
    }


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--presets", nargs="+", default=["medium", "ultrafast"])
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--batch", type=int, default=4, help="frames converted and piped at a time")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("-o", "--output", type=Path, default=ROOT / "benchmarks" / "results" / "yuv.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # the conversion's CPU cost on one core, as x264 gets one
    rows: list[dict[str, Any]] = []
    for size in args.sizes:
        frames = demo_frames(args.frames) if size == 256 else pattern_frames(size, args.frames)
        for preset in args.presets:
            runs: dict[str, list[dict[str, float]]] = {"rgb24": [], "yuv420p": []}
            with tempfile.TemporaryDirectory(prefix="renderer-yuv-") as tmp:
                encode_step(frames[:4], "yuv420p", preset, args.batch, Path(tmp))  # warm-up
                for repeat in range(args.repeats):
                    order = ("rgb24", "yuv420p") if repeat % 2 == 0 else ("yuv420p", "rgb24")
                    for layout in order:
                        runs[layout].append(encode_step(frames, layout, preset, args.batch, Path(tmp)))
            for layout, measured in runs.items():
                row: dict[str, Any] = {"size": size, "preset": preset, "layout": layout, "frames": args.frames,
                                       "repeats": args.repeats}
                row |= {key: statistics.median(m[key] for m in measured) for key in measured[0]}
                rows.append(row)
            rgb, yuv = rows[-2], rows[-1]
            yuv["cpu_vs_rgb"] = yuv["cpu_ms"] / rgb["cpu_ms"]
            yuv["ffmpeg_vs_rgb"] = yuv["ffmpeg_ms"] / rgb["ffmpeg_ms"]
            yuv["bytes_vs_rgb"] = yuv["bytes_per_frame"] / rgb["bytes_per_frame"]
    print_table(rows)
    write_results(args.output, machine_info("cpu", torch_threads=1, x264_threads=1), rows)
    return rows


def print_table(rows: list[dict[str, Any]]) -> None:
    print("| size | preset | frames piped as | bytes/frame | convert ms | pipe ms | ffmpeg CPU ms | step CPU ms | YUV/RGB CPU | YUV/RGB ffmpeg |")
    print("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        ratio = f"{r['cpu_vs_rgb']:.2f}x" if "cpu_vs_rgb" in r else ""
        ffmpeg = f"{r['ffmpeg_vs_rgb']:.2f}x" if "ffmpeg_vs_rgb" in r else ""
        print(f"| {r['size']} | {r['preset']} | {r['layout']} | {r['bytes_per_frame']:.0f} | {r['convert_ms']:.2f} | "
              f"{r['pipe_ms']:.2f} | {r['ffmpeg_ms']:.2f} | {r['cpu_ms']:.2f} | {ratio} | {ffmpeg} |")


if __name__ == "__main__":
    main()
