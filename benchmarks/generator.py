"""Throughput of the demo generator: img/s at batch 1, 4, 16 against a per-frame loop baseline.

Runs on CPU, and on CUDA (fp32, fp16, bf16) when a GPU is present. Prints a table and writes JSON.

    python benchmarks/generator.py [--model demo] [--frames 32] [--out benchmarks/results/generator.json]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from common import machine_info, sync, write_results  # benchmarks/common.py, beside this script
from rich.console import Console
from rich.table import Table

from renderer import load_generator, seeds_to_z, to_uint8


@torch.no_grad()
def time_frames(G, frames: int, batch: int, *, repeats: int) -> float:
    """Seconds per run of `frames` images: mapping, synthesis, uint8 conversion, copy to host."""
    z = torch.from_numpy(seeds_to_z(list(range(frames)), G.z_dim)).to(G.device)

    def once() -> None:
        for start in range(0, frames, batch):
            ws = G.mapping(z[start : start + batch], truncation_psi=0.7)
            to_uint8(G.synthesis(ws)).cpu()

    once()  # warm-up: kernels, allocator
    best = float("inf")
    for _ in range(repeats):
        sync(G.device)
        t0 = time.perf_counter()
        once()
        sync(G.device)
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="demo")
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/generator.json"))
    args = parser.parse_args()

    targets = [("cpu", "fp32")]
    if torch.cuda.is_available():
        targets += [("cuda", "fp32"), ("cuda", "fp16"), ("cuda", "bf16")]
    rows = []
    for device, precision in targets:
        G = load_generator(args.model, device=device).set_precision(precision)  # type: ignore[arg-type]
        baseline = time_frames(G, args.frames, 1, repeats=args.repeats)
        for batch in (1, 4, 16):
            seconds = baseline if batch == 1 else time_frames(G, args.frames, batch, repeats=args.repeats)
            rows.append(
                {
                    "device": device,
                    "precision": precision,
                    "batch": batch,
                    "img_per_s": args.frames / seconds,
                    "speedup_vs_per_frame_loop": baseline / seconds,
                }
            )

    machine = machine_info("cuda" if torch.cuda.is_available() else "cpu", model=args.model, frames=args.frames)
    table = Table(title=f"{args.model}: {args.frames} frames, best of {args.repeats}")
    for column in ("device", "precision", "batch", "img/s", "vs per-frame loop"):
        table.add_column(column, justify="right")
    for r in rows:
        loop = "baseline (per-frame loop)" if r["batch"] == 1 else f"{r['speedup_vs_per_frame_loop']:.2f}x"
        table.add_row(r["device"], r["precision"], str(r["batch"]), f"{r['img_per_s']:.1f}", loop)
    Console().print(table)
    write_results(args.out, machine, rows)


if __name__ == "__main__":
    main()
