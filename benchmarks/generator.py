"""Throughput of the demo generator: img/s at batch 1, 4, 16 against a per-frame loop baseline.

Runs on CPU, and on CUDA (fp32, fp16, bf16) when a GPU is present. Prints a table and writes JSON.
A StyleGAN3 row follows: a config-T generator at the same resolution (random weights, channels
comparable to the demo model's), timed the same way (`--no-sg3` leaves it out).

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


def stylegan3_like(G):  # -> a StyleGAN3 Generator at G's resolution (torch imported above)
    """A StyleGAN3-T generator at G's resolution and z/w sizes, with seeded random weights, its
    designed filters and unit input gains: what it costs, not what it draws."""
    from renderer.models.stylegan3 import Generator, StyleGAN3Config, design_filters

    config = StyleGAN3Config.from_hyperparameters(
        z_dim=G.z_dim, w_dim=G.w_dim, img_resolution=G.img_resolution, channel_base=8192, channel_max=64,
        mapping_layers=4,
    )
    sg3 = Generator(config)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in sg3.named_parameters():
            p.copy_(torch.randn(p.shape, generator=gen) / (0.01 if name.startswith("mapping.") and name.endswith("weight") else 1))
        for name, f in design_filters(config).items():
            sg3.get_buffer(name).copy_(f)
    return sg3.to(G.device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="demo")
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/generator.json"))
    parser.add_argument("--no-sg3", dest="sg3", action="store_false", help="Leave out the StyleGAN3 row.")
    args = parser.parse_args()

    targets = [("cpu", "fp32")]
    if torch.cuda.is_available():
        targets += [("cuda", "fp32"), ("cuda", "fp16"), ("cuda", "bf16")]
    rows = []
    for device, precision in targets:
        G = load_generator(args.model, device=device).set_precision(precision)  # type: ignore[arg-type]
        models = [(args.model, G)] + ([(f"stylegan3-t {G.img_resolution} px", stylegan3_like(G))] if args.sg3 else [])
        for name, model in models:
            model.set_precision(precision)  # type: ignore[arg-type]
            rows += time_model(model, name, device, precision, args)

    machine = machine_info("cuda" if torch.cuda.is_available() else "cpu", model=args.model, frames=args.frames)
    table = Table(title=f"{args.model}: {args.frames} frames, best of {args.repeats}")
    for column in ("model", "device", "precision", "batch", "img/s", "vs per-frame loop"):
        table.add_column(column, justify="right")
    for r in rows:
        loop = "baseline (per-frame loop)" if r["batch"] == 1 else f"{r['speedup_vs_per_frame_loop']:.2f}x"
        table.add_row(r["model"], r["device"], r["precision"], str(r["batch"]), f"{r['img_per_s']:.1f}", loop)
    Console().print(table)
    write_results(args.out, machine, rows)


def time_model(G, name: str, device: str, precision: str, args: argparse.Namespace) -> list[dict]:
    """The rows of one model: img/s at batch 1, 4 and 16."""
    rows = []
    baseline = time_frames(G, args.frames, 1, repeats=args.repeats)
    for batch in (1, 4, 16):
        seconds = baseline if batch == 1 else time_frames(G, args.frames, batch, repeats=args.repeats)
        rows.append(
            {
                "model": name,
                "device": device,
                "precision": precision,
                "batch": batch,
                "img_per_s": args.frames / seconds,
                "speedup_vs_per_frame_loop": baseline / seconds,
            }
        )
    return rows


if __name__ == "__main__":
    main()
