"""Cost of the ways to move (issue: generated walks, latent directions, animated noise, N-model and
channel blends): synthesis of a batch of timeline frames through FramePipeline, each variant timed
in turn within every repeat (so drift hits all alike), best kept, as a ratio to the plain render.

  plain        - two keyframes, constant noise (what every render did before)
  directions   - the same with two direction tracks
  noise        - animated noise (maps drawn, blended and uploaded per frame) and a strength track
  2 models     - a per-frame blend of demo and demo-transfer (the existing path, for reference)
  3 models     - a per-frame named blend of demo, demo-transfer and demo-pastel
  channel      - a per-frame channel blend (a drift mask): base + the masked copy, two models

    python benchmarks/moves.py [--frames 8] [--batch 4] [--repeats 3] [--device cpu]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from common import machine_info, sync, write_results  # benchmarks/common.py, beside this script
from rich.console import Console
from rich.table import Table

from renderer.frames.pipeline import FramePipeline
from renderer.jobs.directions import find_directions, write_directions
from renderer.jobs.stills import load_animation
from renderer.plan.script import parse_script

KEYS = [{"time": 0, "seed": 1, "psi": 0.7}, {"time": "2s", "seed": 2}]


def variants(folder: Path) -> dict[str, dict]:
    models = {"base": "demo", "transfer": "demo-transfer", "extra": {"pastel": "demo-pastel"}}
    ramp = [dict(KEYS[0], blend={"transfer": 0, "pastel": 0}), dict(KEYS[1], blend={"transfer": 0.7, "pastel": {"4": 0, "256": 1}})]
    return {
        "plain": {"models": {"base": "demo"}, "keyframes": KEYS},
        "directions": {"models": {"base": "demo"}, "keyframes": KEYS, "directions": [
            {"file": "dirs.npz", "index": 0, "amount": "0:(0), 8:(3)"}, {"file": "dirs.npz", "index": 1, "layers": "fine", "amount": 2}]},
        "noise": {"models": {"base": "demo"}, "keyframes": KEYS,
                  "noise": {"mode": "random", "every": "0.25s", "strength": {"fine": "0:(0), 8:(2)"}}},
        "2 models": {"models": {"base": "demo", "transfer": "demo-transfer"},
                     "keyframes": [dict(KEYS[0], blend=0), dict(KEYS[1], blend=1)]},
        "3 models": {"models": models, "keyframes": ramp},
        "channel": {"models": {"base": "demo", "transfer": "demo-transfer"},
                    "masks": {"m": {"select": "drift", "fraction": 0.5}},
                    "keyframes": [dict(KEYS[0], blend={"transfer": {"weight": 0, "mask": "m"}}),
                                  dict(KEYS[1], blend={"transfer": {"weight": 1, "mask": "m"}})]},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "moves.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        pipelines = {}
        for name, data in variants(folder).items():
            if name == "directions":
                G, _ = load_animation(parse_script({"fps": 4, **variants(folder)["plain"]}, base_dir=folder), device=args.device)
                write_directions(find_directions(G, k=2), folder / "dirs.npz")
            G, timeline = load_animation(parse_script({"fps": 4, **data}, base_dir=folder), device=args.device)
            pipelines[name] = FramePipeline(timeline, G, batch_size=args.batch)
        best = {name: float("inf") for name in pipelines}
        for _ in range(args.repeats):
            for name, pipeline in pipelines.items():
                start = time.perf_counter()
                for _batch in pipeline.frames(0, args.frames):
                    pass
                sync(pipeline.G.device)
                best[name] = min(best[name], time.perf_counter() - start)
    table = Table(title=f"{args.frames} frames of the demo model (256 px), batch {args.batch}, {args.device}")
    for column in ("variant", "s / frame", "x plain"):
        table.add_column(column)
    rows = []
    for name, seconds in best.items():
        rows.append({"variant": name, "s_per_frame": seconds / args.frames, "ratio": seconds / best["plain"]})
        table.add_row(name, f"{seconds / args.frames:.3f}", f"{seconds / best['plain']:.2f}")
    Console().print(table)
    write_results(args.out, machine_info(args.device), rows, frames=args.frames, batch=args.batch)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
