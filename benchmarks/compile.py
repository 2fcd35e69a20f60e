"""Compiled against eager synthesis (`--compile`): img/s at several batch sizes, and the compile's
cost with a cold cache and a warm one (each in a new process, as a second render would be).

For each model and batch size the eager and the compiled synthesizer (renderer.models.compiled) run
interleaved, `--repeats` times each; the table gives the medians and their ratio. The compile
times come from child processes that share one fresh cache folder: the first compiles (cold), the
second loads what the first stored (warm). Prints a table and writes JSON.

    nice -n 5 python benchmarks/compile.py [--threads 1] [--batches 1 4 8] [--config-f 256] [--out ...]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from common import config_f, machine_info, write_results  # benchmarks/common.py, beside this script
from rich.console import Console
from rich.table import Table

from renderer import load_generator, seeds_to_z, to_uint8
from renderer.models.compiled import compiled
from renderer.models.stylegan2 import Generator


def build(name: str):
    """'demo', or 'config-f-R': a config-f-shaped generator of R px with seeded random weights."""
    if name.startswith("config-f-"):
        torch.manual_seed(0)
        return Generator(config_f(int(name.rsplit("-", 1)[1])))
    return load_generator(name)


@torch.no_grad()
def run_frames(G, ws: torch.Tensor, batch: int) -> None:
    for start in range(0, len(ws), batch):
        to_uint8(G.synthesis(ws[start : start + batch])).cpu()


@torch.no_grad()
def child_compile(name: str, batch: int, threads: int) -> None:
    """In a child process: build, compile, time the first call (the compile); print JSON."""
    torch.set_num_threads(threads)
    G = build(name)
    C = compiled(G, batch_size=batch)
    ws = G.mapping(torch.from_numpy(seeds_to_z(list(range(batch)), G.z_dim)), truncation_psi=0.7)
    t0 = time.perf_counter()
    C.synthesis(ws)
    print(json.dumps({"compile_s": time.perf_counter() - t0}))


def compile_seconds(name: str, batch: int, threads: int, cache: Path) -> float:
    env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": str(cache)}
    out = subprocess.run(
        [sys.executable, __file__, "--child", name, str(batch), str(threads)],
        env=env, check=True, capture_output=True, text=True,
    ).stdout
    return float(json.loads(out.strip().splitlines()[-1])["compile_s"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=["demo"])
    parser.add_argument("--config-f", type=int, default=0, help="add a config-f-shaped random model of this resolution")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--frames", type=int, default=16, help="images per timed run (a multiple of each batch)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-cold-warm", action="store_true", help="skip the child processes' compile times")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "compile.json")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_compile(args.child[0], int(args.child[1]), int(args.child[2]))
        return
    torch.set_num_threads(args.threads)
    cache = Path(tempfile.mkdtemp(prefix="renderer-compile-bench-"))
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(cache)  # this process compiles into the same folder
    models = args.models + ([f"config-f-{args.config_f}"] if args.config_f else [])
    results = []
    for name in models:
        G = build(name)
        ws_all = G.mapping(torch.from_numpy(seeds_to_z(list(range(args.frames)), G.z_dim)), truncation_psi=0.7)
        for batch in args.batches:
            row: dict[str, object] = {"model": name, "resolution": G.img_resolution, "batch": batch}
            if not args.no_cold_warm and batch == args.batches[0]:
                row["cold_compile_s"] = compile_seconds(name, batch, args.threads, cache)
                row["warm_compile_s"] = compile_seconds(name, batch, args.threads, cache)
            C = compiled(G, batch_size=batch)
            t0 = time.perf_counter()
            run_frames(C, ws_all[:batch], batch)  # compiles here (or loads from the cache)
            row["in_process_compile_s"] = time.perf_counter() - t0
            with torch.no_grad():
                ref = G.synthesis(ws_all[:batch])
                row["max_abs_diff"] = float((C.synthesis(ws_all[:batch]) - ref).abs().max())
            run_frames(G, ws_all[:batch], batch)  # warm-up of eager
            eager, fast = [], []
            for _ in range(args.repeats):  # interleaved: the machine's load falls on both alike
                t0 = time.perf_counter()
                run_frames(G, ws_all, batch)
                eager.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                run_frames(C, ws_all, batch)
                fast.append(time.perf_counter() - t0)
            row["eager_img_s"] = args.frames / statistics.median(eager)
            row["compiled_img_s"] = args.frames / statistics.median(fast)
            row["speedup"] = statistics.median(eager) / statistics.median(fast)
            results.append(row)
            print(json.dumps(row), flush=True)
    table = Table(title=f"compiled vs eager synthesis, CPU, {args.threads} thread(s), interleaved medians")
    for column in ("model", "batch", "eager img/s", "compiled img/s", "ratio", "max |diff|", "cold compile s", "warm compile s"):
        table.add_column(column)
    for r in results:
        table.add_row(
            str(r["model"]), str(r["batch"]), f"{r['eager_img_s']:.2f}", f"{r['compiled_img_s']:.2f}", f"{r['speedup']:.2f}x",
            f"{r['max_abs_diff']:.1e}", f"{r.get('cold_compile_s', float('nan')):.1f}", f"{r.get('warm_compile_s', float('nan')):.1f}",
        )
    Console().print(table)
    write_results(args.out, machine_info("cpu", threads=args.threads, frames=args.frames, repeats=args.repeats), results)


if __name__ == "__main__":
    main()
