"""Even pacing: how evenly the picture changes, before and after, and what the pacing pass costs.

Walks of 6 keyframes 1 s apart at 24 fps (seeds 0-5) through the demo model and a fixture model,
cubic / linear / pchip in w and slerp in z (with and without ease-in-out), rendered in full
resolution with today's pacing (`latent`) and with `pace = "even"` (and `"even-walk"`). For each
render: the frame-to-frame image change (mean absolute pixel difference of consecutive full-resolution
uint8 frames), its coefficient of variation within each keyframe segment (the mean and the worst
segment), over the whole walk, and max / median. With easing, the change is meant to follow the
easing, so the CV is also given relative to that target (`cv/target`: of change / eased target
step). Cost: the pacing pass (K samples per frame at the proxy size, plus one proxy per frame for the
correction) against the generation of the render's frames, timed in the same process, one after the
other, with the render's batch size.

    python benchmarks/pacing.py [--only demo] [--walk cubic-w slerp-z] [--proxy 64] [--samples 4] [--strip] [--plot docs/images/pacing_speed.png]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from common import machine_info, write_results  # benchmarks/common.py, beside this script
from rich.console import Console
from rich.table import Table

from renderer.frames.latents import resolve_keyframes
from renderer.frames.pacing import image_speed, measure_script, pace_warp
from renderer.frames.pipeline import FramePipeline, auto_batch_size
from renderer.models.checkpoints import load_generator
from renderer.plan.paths import ease
from renderer.plan.script import parse_script
from renderer.plan.timeline import plan_timeline

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO.parent / "shared" / "fixtures" / "nvidia_base.pkl"
WALKS = [  # (model, space, interpolation, easing, pace)
    ("demo", "w", "cubic", "linear"),
    ("demo", "w", "linear", "linear"),
    ("demo", "z", "slerp", "linear"),
    ("demo", "w", "pchip", "linear"),
    ("demo", "z", "slerp", "ease-in-out"),
    ("fixture", "w", "cubic", "linear"),
    ("fixture", "w", "linear", "linear"),
    ("fixture", "z", "slerp", "linear"),
]


def walk(model: str, space: str, interpolation: str, easing: str, pace: str, proxy: int, samples: int):
    return parse_script({
        "fps": 24, "models": {"base": "demo" if model == "demo" else str(FIXTURE)},
        "path": {"space": space, "interpolation": interpolation, "easing": easing, "pace": pace,
                 "pace_resolution": proxy, "pace_samples": samples},
        "keyframes": [{"time": i, "seed": i} for i in range(6)],
    })


def statistics(speed: np.ndarray, key_frames: np.ndarray, easing: str) -> dict[str, float]:
    segments = list(zip(key_frames[:-1], key_frames[1:], strict=True))
    cv = [float(speed[a:b].std() / speed[a:b].mean()) for a, b in segments]
    relative = []
    for a, b in segments:  # the eased target: equal steps of ease(u), so a flat curve when linear
        u = np.arange(b - a + 1) / (b - a)
        target = np.diff(ease(u, easing))
        ratio = speed[a:b] / target
        relative.append(float(ratio.std() / ratio.mean()))
    return {
        "segment_cv_mean": float(np.mean(cv)), "segment_cv_max": float(np.max(cv)),
        "target_cv_max": float(np.max(relative)), "whole_cv": float(speed.std() / speed.mean()),
        "max_over_median": float(speed.max() / np.median(speed)),
    }


def run(args: argparse.Namespace) -> None:
    console = Console()
    results, speeds, strips = [], {}, {}
    models = {"demo": load_generator("demo")}
    if FIXTURE.exists():
        models["fixture"] = load_generator(FIXTURE)
    for model, space, interpolation, easing in WALKS:
        if model not in models or (args.only and model != args.only):
            continue
        if args.walk and f"{interpolation}-{space}" not in args.walk:
            continue
        G = models[model]
        paces = ["latent", "even"] + (["even-walk"] if easing == "linear" and interpolation == "cubic" else [])
        for pace in paces:
            script = walk(model, space, interpolation, easing, pace, min(args.proxy, G.img_resolution), args.samples)
            keys = resolve_keyframes(script, G)
            pace_s = 0.0
            if pace == "latent":
                timeline = plan_timeline(script, keys)
            else:
                start = time.perf_counter()
                arc = measure_script(script, keys, G)
                pace_s = time.perf_counter() - start
                timeline = plan_timeline(script, keys, warp=pace_warp(script, arc))
            pipeline = FramePipeline(timeline, G, batch_size=auto_batch_size(G.device))
            start = time.perf_counter()
            frames = np.concatenate(list(pipeline.frames(0, script.num_frames)))
            generate_s = time.perf_counter() - start
            speed = image_speed([frames])
            row = {"model": model, "space": space, "interpolation": interpolation, "easing": easing, "pace": pace,
                   "proxy": min(args.proxy, G.img_resolution), "samples": args.samples, "frames": script.num_frames,
                   "key_frames": [int(f) for f in timeline.key_frames],
                   **statistics(speed, timeline.key_frames, easing),
                   "pace_s": pace_s, "generate_s": generate_s, "cost": pace_s / generate_s}
            results.append(row)
            console.print(row, highlight=False)
            speeds[(model, space, interpolation, easing, pace)] = speed
            if model == "demo" and space == "w" and interpolation == "cubic" and pace in ("latent", "even"):
                strips[pace] = (frames, speed, timeline.key_frames)
    table = Table(title=f"even pacing: K = {args.samples}, proxy {args.proxy} px")
    for column in ("walk", "pace", "seg CV mean", "seg CV max", "CV/target max", "whole CV", "max/median", "pacing pass / generation"):
        table.add_column(column, justify="left" if column in ("walk", "pace") else "right")
    for r in results:
        walk_name = f"{r['model']} {r['interpolation']} {r['space']}" + (f" {r['easing']}" if r["easing"] != "linear" else "")
        table.add_row(walk_name, r["pace"], f"{r['segment_cv_mean']:.3f}", f"{r['segment_cv_max']:.3f}", f"{r['target_cv_max']:.3f}",
                      f"{r['whole_cv']:.3f}", f"{r['max_over_median']:.2f}",
                      "" if r["pace"] == "latent" else f"{100 * r['cost']:.0f}% ({r['pace_s']:.1f} s / {r['generate_s']:.1f} s)")
    console.print(table)
    out = Path(args.json)
    write_results(out, machine_info("cpu", samples=args.samples, proxy=args.proxy), results)
    if args.strip and strips:
        from renderer.frames.images import image_grid
        from renderer.jobs.stills import write_png

        # The segment where the latent timing lurches most (its largest max/min frame-to-frame change).
        _, speed, keys = strips["latent"]
        worst = max(range(len(keys) - 1), key=lambda i: speed[keys[i]:keys[i + 1]].max() / speed[keys[i]:keys[i + 1]].min())
        a, b = int(keys[worst]), int(keys[worst + 1])
        paces = [p for p in ("latent", "even") if p in strips]
        rows = [[f[::2, ::2] for f in strips[p][0][a : b + 1 : 2]] for p in paces]
        labels = [f"{p} (change {strips[p][1][a:b].min():.1f}-{strips[p][1][a:b].max():.1f})" for p in paces]
        write_png(image_grid(rows, row_labels=labels, column_labels=[f"f{f}" for f in range(a, b + 1, 2)]), out.with_suffix(".strip.png"))
        print(f"wrote {out.with_suffix('.strip.png')}")
    if args.plot:
        plot(speeds, Path(args.plot))


def plot(speeds: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    chosen = [k for k in speeds if k[0] == "demo" and k[2] in ("cubic", "slerp") and k[3] == "linear" and k[4] in ("latent", "even")]
    walks = sorted({k[:4] for k in chosen})
    fig, axes = plt.subplots(len(walks), 1, figsize=(8, 2.2 * len(walks)), sharex=True, layout="constrained")
    for ax, w in zip(np.atleast_1d(axes), walks, strict=True):
        for pace, color in (("latent", "tab:red"), ("even", "tab:blue")):
            s = speeds.get((*w, pace))
            if s is not None:
                ax.plot(np.arange(len(s)) / 24 + 1 / 48, s, color=color, lw=1.4, label=f"pace = \"{pace}\"")
        for t in range(6):
            ax.axvline(t, color="0.6", lw=0.7, ls="--")
        ax.set_ylabel("image change\nper frame")
        ax.set_title(f"{w[0]} model, {w[2]} in {w[1]}: mean |pixel difference| of consecutive frames", fontsize=9)
        ax.set_ylim(bottom=0)
        ax.legend(fontsize=8, loc="upper right", frameon=False)
    np.atleast_1d(axes)[-1].set_xlabel("time (s); keyframes dashed")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["demo", "fixture"], default=None)
    parser.add_argument("--walk", nargs="*", default=None, help="only these walks, e.g. cubic-w slerp-z")
    parser.add_argument("--proxy", type=int, default=64)
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--strip", action="store_true", help="write before/after frame strips of the demo's cubic walk")
    parser.add_argument("--plot", default=None, help="write the before/after speed curves of the demo walks (PNG)")
    parser.add_argument("--json", default=str(Path(__file__).parent / "results" / "pacing.json"))
    run(parser.parse_args())


if __name__ == "__main__":
    main()
