"""Cost of animated model blending: synthesis time of a blended batch against the same batch unblended.

Three variants per batch size, timed in turn within each repeat (so drift hits all alike), best kept:
  plain     - the base model alone
  constant  - a BlendedGenerator whose frames all share one blend, the same in every batch
  per-frame - a BlendedGenerator with a different blend in every frame of the batch (for a batch of
              one: a new blend every batch, so its tensors are blended anew each time)
The issue's targets: per-frame <= 2.2x plain, constant about 1x.

    python benchmarks/blend.py [--pair demo demo-transfer] [--batches 1 4 16] [--repeats 5]
    python benchmarks/blend.py --config-f 256     # config-f channels (512 max) at 256 px, random weights
"""

from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path

import numpy as np
import torch
from common import config_f, machine_info, sync, write_results  # benchmarks/common.py, beside this script
from rich.console import Console
from rich.table import Table

from renderer import load_generator
from renderer.models.blending import BlendedGenerator, alphas_to_model_weights
from renderer.models.stylegan2 import Generator


def random_pair(resolution: int, device: str) -> tuple[Generator, Generator]:
    torch.manual_seed(0)
    base = Generator(config_f(resolution))
    transfer = copy.deepcopy(base)
    with torch.no_grad():
        for t in transfer.state_dict().values():
            if t.is_floating_point() and t.numel() > 1:
                t += 0.3 * t.std() * torch.randn_like(t)
    return base.to(device), transfer.to(device)


@torch.no_grad()
def measure(base: Generator, blended: BlendedGenerator, batch: int, repeats: int) -> dict[str, float]:
    device = base.device
    constant_model = copy.deepcopy(blended)
    ws = base.mapping(torch.randn(batch, base.z_dim, device=device), truncation_psi=0.7)
    num_res = len(blended.resolutions)
    ramp = np.linspace(0.0, 1.0, batch)[:, None] * np.linspace(1.0, 0.2, num_res)[None]  # distinct per frame
    constant = alphas_to_model_weights(np.full((batch, num_res), 0.4))
    per_frame = alphas_to_model_weights(ramp)
    variants = {
        "plain": lambda: base.synthesis(ws),
        # Its own instance: the per-frame variant of a batch of 1 is a constant blend too, and
        # alternating the two on one instance would evict each other's cached blend.
        "constant": lambda: constant_model.synthesis(ws, model_weights=constant),
        "per-frame": lambda: blended.synthesis(ws, model_weights=per_frame),
    }
    best = dict.fromkeys(variants, float("inf"))
    for fn in variants.values():
        fn()  # warm-up
    for _ in range(repeats):
        for name, fn in variants.items():
            sync(device)
            t0 = time.perf_counter()
            fn()
            sync(device)
            best[name] = min(best[name], time.perf_counter() - t0)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pair", nargs=2, default=["demo", "demo-transfer"], metavar=("BASE", "TRANSFER"))
    parser.add_argument("--config-f", type=int, default=None, metavar="RES", help="random config-f pair instead")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "fp16", "bf16"])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/blend.json"))
    args = parser.parse_args()

    if args.config_f:
        base, transfer = random_pair(args.config_f, args.device)
        model = f"config-f {args.config_f} px (random weights)"
    else:
        base, transfer = (load_generator(name, device=args.device) for name in args.pair)
        model = " + ".join(args.pair)
    blended = BlendedGenerator([base, transfer])
    base.set_precision(args.precision)
    blended.set_precision(args.precision)

    rows = []
    for batch in args.batches:
        t = measure(base, blended, batch, args.repeats)
        rows.append(
            {
                "batch": batch,
                "plain_ms": 1000 * t["plain"],
                "constant_ms": 1000 * t["constant"],
                "per_frame_ms": 1000 * t["per-frame"],
                "constant_ratio": t["constant"] / t["plain"],
                "per_frame_ratio": t["per-frame"] / t["plain"],
            }
        )
    machine = machine_info(args.device, precision=args.precision, model=model, repeats=args.repeats)
    table = Table(title=f"blend cost, {model}, {args.device} {args.precision}, synthesis only, best of {args.repeats}")
    for column in ("batch", "plain ms", "constant ms", "per-frame ms", "constant / plain", "per-frame / plain"):
        table.add_column(column, justify="right")
    for r in rows:
        table.add_row(
            str(r["batch"]), f"{r['plain_ms']:.1f}", f"{r['constant_ms']:.1f}", f"{r['per_frame_ms']:.1f}",
            f"{r['constant_ratio']:.2f}x", f"{r['per_frame_ratio']:.2f}x",
        )
    Console().print(table)
    write_results(args.out, machine, rows)


if __name__ == "__main__":
    main()
