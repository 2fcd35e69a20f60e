"""Wide frames from a square model (fit = "extend"): per-frame cost against the square frame.

A config-f-shaped generator (512 channels up to 64 px, halving above; random weights, no download)
synthesises one batch on its square 4 x 4 grid and on extended grids (4 x 7 for 16:9, 4 x 8 for
2:1, 7 x 4 for 9:16, ...). Each extended grid's time ratio (extended / square) is printed beside its
pixel ratio (rows x cols / 16) and its ratio of multiply-adds counted by torch's FlopCounterMode.
The issue's target: the time ratio within 1.25x of the pixel ratio, i.e. a wide frame costs what
its pixels cost, no more. Grids are timed in turn within every repeat (so drift hits all alike) and
the best time is kept. Synthesis only, plus the uint8 conversion and copy to the host.

    python benchmarks/aspect.py [--resolution 256] [--grids 4x7 4x8 7x4] [--batch 1] [--repeats 3]
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

from renderer.frames.images import to_uint8
from renderer.models.canvas import extend_canvas
from renderer.models.stylegan2 import Generator

TARGET = 1.25


def frame(G: Generator, ws: torch.Tensor) -> torch.Tensor:
    return to_uint8(G.synthesis(ws)).cpu()


@torch.no_grad()
def flops(G: Generator, ws: torch.Tensor) -> int:
    with FlopCounterMode(display=False) as counter:
        G.synthesis(ws)
    return counter.get_total_flops()


@torch.no_grad()
def best_times(models: dict[str, Generator], ws: torch.Tensor, repeats: int) -> dict[str, float]:
    best = dict.fromkeys(models, float("inf"))
    for G in models.values():
        frame(G, ws)  # warm-up: kernels chosen, buffers allocated
    for _ in range(repeats):
        for name, G in models.items():
            sync(ws.device)
            t0 = time.perf_counter()
            frame(G, ws)
            sync(ws.device)
            best[name] = min(best[name], time.perf_counter() - t0)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolution", type=int, default=256)
    parser.add_argument("--grids", nargs="+", default=["4x7", "4x8", "7x4"], help="rows x cols of constant cells")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "fp16", "bf16"])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "aspect.json")
    args = parser.parse_args()

    torch.manual_seed(0)
    G = Generator(config_f(args.resolution)).to(args.device).set_precision(args.precision)
    ws = G.mapping(torch.randn(args.batch, G.z_dim, device=args.device), truncation_psi=0.7)
    grids = {"4x4": (4, 4), **{g: tuple(int(v) for v in g.split("x")) for g in args.grids}}
    models = {name: extend_canvas(G, grid) for name, grid in grids.items()}  # type: ignore[arg-type]
    work = {name: flops(M, ws) for name, M in models.items()}  # type: ignore[arg-type]
    times = best_times(models, ws, args.repeats)  # type: ignore[arg-type]

    table = Table(title=f"config-f {args.resolution} px, batch {args.batch}, {args.device} {args.precision}")
    for column in ("grid", "canvas px", "ms / frame", "time ratio", "pixel ratio", "multiply-add ratio",
                   "time / pixel ratio (target <= 1.25)"):
        table.add_column(column, justify="right")
    results = []
    for name, (rows, cols) in grids.items():
        per_frame = times[name] / args.batch
        time_ratio = times[name] / times["4x4"]
        pixel_ratio = rows * cols / 16
        work_ratio = work[name] / work["4x4"]
        ratio = time_ratio / pixel_ratio
        height, width = rows * args.resolution // 4, cols * args.resolution // 4
        table.add_row(
            name + (" (square)" if (rows, cols) == (4, 4) else ""), f"{width} x {height}", f"{1000 * per_frame:.1f}",
            f"{time_ratio:.2f}", f"{pixel_ratio:.2f}", f"{work_ratio:.2f}",
            f"{ratio:.2f}" + ("" if ratio <= TARGET else " (miss)"),
        )
        results.append({
            "grid": name, "width": width, "height": height, "ms_per_frame": 1000 * per_frame,
            "time_ratio": time_ratio, "pixel_ratio": pixel_ratio, "multiply_add_ratio": work_ratio,
            "time_over_pixel_ratio": ratio,
        })
    Console().print(table)
    machine = machine_info(
        args.device, model=f"config-f {args.resolution} px, random weights", batch=args.batch,
        precision=args.precision, repeats=args.repeats,
    )
    write_results(args.out, machine, results, target_ratio=TARGET)


if __name__ == "__main__":
    main()
