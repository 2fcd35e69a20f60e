"""Low-resolution preview synthesis: per-frame time at preview levels against the full image.

A config-f-shaped generator (512 channels up to 64 px, halving above; random weights, no download)
synthesises one batch at each preview level, stopping at that level's skip RGB, and in full. Each
level's time fraction (level / full) is printed beside its fraction of the full synthesis's
multiply-adds, counted by torch's FlopCounterMode. The issue's target: every time fraction within
1.25x of its multiply-add fraction, i.e. the preview realises the saving the arithmetic allows.
Levels are timed in turn within every repeat (so drift hits all alike) and the best time is kept.

    python benchmarks/preview.py [--resolution 1024] [--levels 64 128 256] [--batch 1] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from common import config_f, machine_info, sync, write_results  # benchmarks/common.py, beside this script
from rich.console import Console
from rich.table import Table
from torch.utils.flop_counter import FlopCounterMode

from renderer.models.stylegan2 import Generator

TARGET = 1.25


@torch.no_grad()
def flops(G: Generator, ws: torch.Tensor, level: int | None) -> int:
    with FlopCounterMode(display=False) as counter:
        G.synthesis(ws, max_resolution=level)
    return counter.get_total_flops()


@torch.no_grad()
def best_times(G: Generator, ws: torch.Tensor, levels: list[int | None], repeats: int) -> dict[int | None, float]:
    best = dict.fromkeys(levels, float("inf"))
    for level in levels:
        G.synthesis(ws, max_resolution=level)  # warm-up: kernels chosen, buffers allocated
    for _ in range(repeats):
        for level in levels:
            sync(ws.device)
            t0 = time.perf_counter()
            G.synthesis(ws, max_resolution=level)
            sync(ws.device)
            best[level] = min(best[level], time.perf_counter() - t0)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolution", type=int, default=1024)
    parser.add_argument("--levels", type=int, nargs="+", default=[64, 128, 256])
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "fp16", "bf16"])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "preview.json")
    args = parser.parse_args()

    torch.manual_seed(0)
    G = Generator(config_f(args.resolution)).to(args.device).set_precision(args.precision)
    ws = G.mapping(torch.randn(args.batch, G.z_dim, device=args.device), truncation_psi=0.7)
    levels: list[int | None] = [*args.levels, None]  # None: the full image
    work = {level: flops(G, ws, level) for level in levels}
    times = best_times(G, ws, levels, args.repeats)

    table = Table(title=f"config-f {args.resolution} px, batch {args.batch}, {args.device} {args.precision}")
    for column in ("level", "ms / frame", "time fraction", "multiply-add fraction", "ratio (target <= 1.25)"):
        table.add_column(column, justify="right")
    results = []
    for level in levels:
        per_frame = times[level] / args.batch
        time_fraction = times[level] / times[None]
        work_fraction = work[level] / work[None]
        ratio = time_fraction / work_fraction
        name = level or args.resolution
        table.add_row(
            f"{name}{'' if level else ' (full)'}", f"{1000 * per_frame:.1f}", f"{time_fraction:.3f}",
            f"{work_fraction:.3f}", f"{ratio:.2f}" + ("" if level is None or ratio <= TARGET else " (miss)"),
        )
        results.append({
            "level": name, "full": level is None, "ms_per_frame": 1000 * per_frame, "time_fraction": time_fraction,
            "gmacs_per_frame": work[level] / 2 / args.batch / 1e9, "multiply_add_fraction": work_fraction,
            "ratio": ratio,
        })
    Console().print(table)
    machine = machine_info(
        args.device, model=f"config-f {args.resolution} px, random weights", batch=args.batch,
        precision=args.precision, repeats=args.repeats,
    )
    write_results(args.out, machine, results, target_ratio=TARGET)


if __name__ == "__main__":
    main()
