"""The GPU suite: one command that checks and measures a CUDA machine, in under 8 minutes.

1. **tests**: `pytest -m gpu` (the CUDA reference and half-precision checks).
2. **generator**: img/s of mapping + synthesis (constant noise, uint8 frames left on the device) of
   config-f-shaped random-weight generators at 256 and 1024 px, for fp32 / fp16 / bf16, at batch
   sizes doubling up to what memory holds; then, at each precision's best batch, channels_last,
   `torch.compile` and CUDA graphs (`torch.compile(mode="reduce-overhead")`).
3. **encoder**: frames/s of one ffmpeg x264 encoder (one thread, crf 18 medium) at 1024 px, fed
   RGB (ffmpeg converts) and yuv420p (converted on the device, renderer.frames.yuv); and **yuv**:
   frames/s of that conversion on the device, with the bytes per frame each layout pipes.
4. **render**: an end-to-end 1024 px render (`renderer.render`, bf16) with N encoders for N in
   --encoders ("auto": the render picks N from its measured rates; the row says which), with the
   GPU's busy fraction sampled by `nvidia-smi` during it, against the goal
   fps >= 0.9 x min(generation, N x encoder). Frames reach the encoders as yuv420p (the row's
   frame_layout).

Every row is written, as it is measured, to the JSON (--output); rows that cannot run say why
("no CUDA", "time budget", "out of memory"). Without CUDA the suite still runs: the CUDA rows are
skipped, and a small CPU row of each section shows the machinery works (`--quick` keeps it to
seconds). Goals on an H200 (issue 19): >= 1000 img/s at 1024 px bf16 (floor 300), GPU busy >= 95 %
during a render with enough encoders, render fps >= 0.9 x min(generation, N x encoder).

    python benchmarks/gpu_suite.py [--quick] [--budget 480] [--encoders 1 2 4 8 auto] [-o benchmarks/results/gpu_suite.json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from common import config_f, machine_info, write_results  # benchmarks/common.py, beside this script

from renderer.frames.images import to_uint8
from renderer.models.stylegan2 import Generator, GeneratorConfig

ROOT = Path(__file__).resolve().parent.parent
PRECISIONS = ("fp32", "fp16", "bf16")
GOAL_IMG_S, FLOOR_IMG_S, GOAL_BUSY, GOAL_RENDER = 1000.0, 300.0, 0.95, 0.9


class Suite:
    """Rows measured against a time budget, written to JSON after each one."""

    def __init__(self, budget: float, output: Path, device: str) -> None:
        self.start = time.perf_counter()
        self.budget = budget
        self.output = output
        self.device = device
        self.rows: list[dict[str, Any]] = []

    def left(self) -> float:
        return self.budget - (time.perf_counter() - self.start)

    def add(self, row: dict[str, Any]) -> dict[str, Any]:
        self.rows.append(row)
        shown = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items() if k not in ("section",)}
        print(f"[{time.perf_counter() - self.start:6.1f} s] {row['section']}: {shown}", flush=True)
        self.write()
        return row

    def skip(self, section: str, why: str, **what: Any) -> None:
        self.add({"section": section, **what, "skipped": why})

    def write(self) -> None:
        write_results(self.output, machine_info(self.device, load=os.getloadavg()[0]), self.rows,
                      elapsed_s=round(time.perf_counter() - self.start, 1), quiet=True)


# --- 1. tests -------------------------------------------------------------------------------------


def run_tests(suite: Suite) -> None:
    if not torch.cuda.is_available():
        suite.skip("tests", "no CUDA")
        return
    t0 = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-m", "gpu", "tests/test_gpu.py"], cwd=ROOT,
                            capture_output=True, text=True, timeout=max(30, suite.left() / 3))
    tail = result.stdout.strip().splitlines()[-1:] or [""]
    suite.add({"section": "tests", "passed": result.returncode == 0, "summary": tail[0], "seconds": time.perf_counter() - t0})


# --- 2. generator ---------------------------------------------------------------------------------


def model_config(resolution: int, device: str) -> GeneratorConfig:
    """config-f's channels on a GPU; on a CPU, where only the machinery is shown, 32 channels."""
    if device.startswith("cuda"):
        return config_f(resolution)
    channels = dict.fromkeys((2 ** i for i in range(2, resolution.bit_length())), 32)
    return GeneratorConfig(z_dim=64, w_dim=64, img_resolution=resolution, channels=channels, conv_clamp=256, mapping_layers=2)


def build(resolution: int, device: str) -> Generator:
    torch.manual_seed(0)
    return Generator(model_config(resolution, device)).eval().requires_grad_(False).to(device)


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


@torch.no_grad()
def img_per_s(fn: Callable[[torch.Tensor], torch.Tensor], z: torch.Tensor, seconds: float, device: str) -> float:
    """Images per second of fn(z), timed over about `seconds` after two warm-up calls."""
    fn(z), fn(z)
    sync(device)
    calls, t0 = 0, time.perf_counter()
    while True:
        fn(z)
        calls += 1
        sync(device)
        elapsed = time.perf_counter() - t0
        if elapsed >= seconds or calls >= 200:
            return calls * len(z) / elapsed


def generate_fn(G: Generator, variant: str) -> Callable[[torch.Tensor], torch.Tensor]:
    synthesis: Callable[..., torch.Tensor] = G.synthesis
    if variant == "channels_last":
        G.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    elif variant == "compiled":
        synthesis = torch.compile(G.synthesis, dynamic=False)
    elif variant == "cuda_graphs":
        synthesis = torch.compile(G.synthesis, mode="reduce-overhead", dynamic=False)

    def fn(z: torch.Tensor) -> torch.Tensor:
        ws = G.mapping(z, truncation_psi=0.7)
        return to_uint8(synthesis(ws, noise_mode="const"))

    return fn


def measure_generator(suite: Suite, resolution: int, precision: str, variant: str, batch: int, seconds: float) -> dict[str, Any] | None:
    what = {"resolution": resolution, "precision": precision, "variant": variant, "batch": batch, "device": suite.device}
    if suite.left() < 10:
        suite.skip("generator", "time budget", **what)
        return None
    G = build(resolution, suite.device)
    G.set_precision(precision)  # type: ignore[arg-type]
    z = torch.randn(batch, G.z_dim, device=suite.device)
    try:
        rate = img_per_s(generate_fn(G, variant), z, seconds, suite.device)
    except torch.OutOfMemoryError:
        suite.skip("generator", "out of memory", **what)
        return None
    except Exception as e:  # a variant this torch cannot build here (e.g. no compiler): recorded, not fatal
        suite.skip("generator", f"{type(e).__name__}: {str(e).splitlines()[0][:200]}", **what)
        return None
    finally:
        del G
        if suite.device.startswith("cuda"):
            torch.cuda.empty_cache()
    return suite.add({"section": "generator", **what, "img_s": rate})


def run_generator(suite: Suite, quick: bool) -> dict[str, float]:
    """Every generator row; returns the best img/s per (resolution, precision) key "1024/bf16"."""
    best: dict[str, float] = {}
    if suite.device == "cpu":
        for precision in PRECISIONS:
            for resolution in (256, 1024):
                suite.skip("generator", "no CUDA", resolution=resolution, precision=precision, device="cuda")
        for variant in ("eager", "channels_last"):  # the machinery, on a small model
            row = measure_generator(suite, 32 if quick else 256, "fp32", variant, 1, 0.2 if quick else 2.0)
            if row:
                best[f"{row['resolution']}/fp32"] = max(best.get(f"{row['resolution']}/fp32", 0.0), row["img_s"])
        return best
    seconds = 1.0 if quick else 3.0
    for resolution in (1024, 256):  # the goal's size first, while the budget is whole
        for precision in PRECISIONS:
            key, batch, rates = f"{resolution}/{precision}", 1, {}
            while batch <= (256 if resolution == 1024 else 2048):  # double until memory (or the gain) runs out
                row = measure_generator(suite, resolution, precision, "eager", batch, seconds)
                if row is None:
                    break
                rates[batch] = row["img_s"]
                if batch >= 8 and row["img_s"] < 1.03 * rates.get(batch // 2, 0.0):
                    break
                batch *= 2
            if not rates:
                continue
            at = max(rates, key=lambda b: rates[b])
            best[key] = rates[at]
            for variant in ("channels_last", "compiled", "cuda_graphs"):
                row = measure_generator(suite, resolution, precision, variant, at, seconds)
                if row:
                    best[key] = max(best[key], row["img_s"])
    return best


# --- 3 and 4. encoder and render ------------------------------------------------------------------


def encoder_fps(suite: Suite, size: int, frames: int) -> float | None:
    """Frames/s of one ffmpeg x264 encoder (one thread, crf 18 medium) on `size` px frames, fed RGB
    and fed yuv420p; returns the yuv420p rate (how a render's frames reach the encoders)."""
    from renderer.frames.yuv import rgb_to_yuv420p
    from renderer.output.writers import open_segment
    from renderer.plan.encoding import EncoderSettings

    rng = np.random.default_rng(0)
    base = (rng.random((size // 8, size // 8, 3)) * 255).astype(np.uint8).repeat(8, 0).repeat(8, 1)
    rgb = [np.roll(base, 4 * i, axis=1) for i in range(8)]  # moving, compressible content
    yuv = [rgb_to_yuv420p(torch.from_numpy(image[None])).numpy() for image in rgb]
    rate = None
    for layout, images in (("rgb24", rgb), ("yuv420p", yuv)):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            with open_segment(Path(tmp) / "e.mp4", kind="mp4", width=size, height=size, fps=30, layout=layout,
                              settings=EncoderSettings(crf=18, preset="medium", threads=1)) as writer:
                for i in range(frames):
                    writer.write(images[i % len(images)])
            rate = frames / (time.perf_counter() - t0)
        suite.add({"section": "encoder", "size": size, "frames": frames, "threads": 1, "layout": layout, "fps": rate,
                   "bytes_per_frame": images[0].nbytes, "cpu_s": writer.cpu_seconds})
    return rate


def yuv_conversion(suite: Suite, size: int, batch: int, seconds: float) -> None:
    """Frames/s of the RGB -> yuv420p conversion on the suite's device (uint8 frames already there)."""
    from renderer.frames.yuv import rgb_to_yuv420p

    device = torch.device(suite.device)
    frames = torch.randint(0, 256, (batch, size, size, 3), dtype=torch.uint8, device=device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    rgb_to_yuv420p(frames)  # warm-up
    sync()
    done, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        rgb_to_yuv420p(frames)
        done += batch
    sync()
    rate = done / (time.perf_counter() - t0)
    suite.add({"section": "yuv", "device": suite.device, "size": size, "batch": batch, "fps": rate,
               "rgb_bytes": size * size * 3, "yuv_bytes": size * size * 3 // 2})


@contextlib.contextmanager
def gpu_busy() -> Iterator[list[float]]:
    """Samples of the GPU's utilisation (0..1) from nvidia-smi every 0.2 s while the block runs."""
    samples: list[float] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            with contextlib.suppress(Exception):
                out = subprocess.run(["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits", "-i", "0"],
                                     capture_output=True, text=True, timeout=5).stdout
                samples.append(float(out.strip().splitlines()[0]) / 100)
            stop.wait(0.2)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield samples
    finally:
        stop.set()
        thread.join()


def run_render(suite: Suite, encoders: list[int | str], generation: float | None, encoding: float | None, quick: bool) -> None:
    from renderer.jobs.job import RenderSettings
    from renderer.jobs.render import render
    from renderer.jobs.stills import save_native
    from renderer.plan.script import load_script

    cuda = suite.device.startswith("cuda")
    if not cuda:
        for n in encoders:
            suite.skip("render", "no CUDA", size=1024, encoders=n)
    resolution = 1024 if cuda else 32
    frames = (240 if quick else 960) if cuda else 12
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        torch.manual_seed(0)
        save_native(Generator(model_config(resolution, suite.device)), folder / "model.safetensors")
        (folder / "clip.toml").write_text(
            f'fps = 30\nduration = "{frames}f"\n[models]\nbase = "model.safetensors"\n[output]\ncrf = 18\npreset = "medium"\n'
            f'segment = "{max(frames // 8, 1)}f"\n[[keyframes]]\ntime = 0\nseed = 1\n[[keyframes]]\ntime = "{frames // 2}f"\nseed = 2\n'
        )
        script = load_script(folder / "clip.toml")
        runs: list[tuple[int | str, str]] = [(n, "auto") for n in (encoders if cuda else [1])]
        if cuda and "auto" in encoders:
            runs.append(("auto", "rgb24"))  # the same render with RGB frames, converted by ffmpeg: the YUV path's gain
        for n, layout in runs:
            if suite.left() < 30:
                suite.skip("render", "time budget", size=resolution, encoders=n)
                continue
            settings = RenderSettings(device=suite.device, precision="bf16" if cuda else "fp32", encoders=n,
                                      output={"file": str(folder / f"out{n}{layout}.mp4")})
            with gpu_busy() if cuda else contextlib.nullcontext([]) as busy, frame_layout_env(layout):
                t0 = time.perf_counter()
                result = render(script, settings)
                wall = time.perf_counter() - t0
            fps = result.num_frames / result.timings.get("generate_and_encode_s", wall)
            facts = json.loads(result.sidecar.read_text())
            ran = facts.get("encoders", {}).get("ran", n)
            row: dict[str, Any] = {"section": "render", "size": resolution, "device": suite.device, "encoders": n,
                                   "encoders_ran": ran, "frame_layout": facts.get("frame_layout"),
                                   "frames": result.num_frames, "fps": fps, "total_s": wall}
            if n == "auto":
                row["auto"] = {k: facts["encoders"].get(k) for k in ("bound", "generation_fps", "encoder_fps")}
            if busy:
                row["gpu_busy"] = statistics.mean(busy)
            if generation and encoding:
                bound = min(generation, ran * encoding)
                row |= {"bound_fps": bound, "fps_over_bound": fps / bound}
            suite.add(row)


@contextlib.contextmanager
def frame_layout_env(layout: str) -> Iterator[None]:
    """RENDERER_FRAME_LAYOUT set for the block (renderer.jobs.render.frame_layout), then restored."""
    before = os.environ.get("RENDERER_FRAME_LAYOUT")
    os.environ["RENDERER_FRAME_LAYOUT"] = layout
    try:
        yield
    finally:
        if before is None:
            del os.environ["RENDERER_FRAME_LAYOUT"]
        else:
            os.environ["RENDERER_FRAME_LAYOUT"] = before


# --- the suite ------------------------------------------------------------------------------------


def goals(suite: Suite, best: dict[str, float]) -> None:
    rate = best.get("1024/bf16")
    renders = [r for r in suite.rows if r["section"] == "render" and "fps" in r and r.get("device", "").startswith("cuda")]
    busy = max((r.get("gpu_busy", 0.0) for r in renders), default=None)
    ratio = max((r.get("fps_over_bound", 0.0) for r in renders), default=None)
    suite.add({"section": "goals",
               "img_s_1024_bf16": rate, "img_s_goal": GOAL_IMG_S, "img_s_floor": FLOOR_IMG_S,
               "img_s_met": None if rate is None else rate >= GOAL_IMG_S, "img_s_floor_met": None if rate is None else rate >= FLOOR_IMG_S,
               "gpu_busy": busy, "gpu_busy_met": None if busy is None else busy >= GOAL_BUSY,
               "render_over_bound": ratio, "render_met": None if ratio is None else ratio >= GOAL_RENDER})


def encoders_arg(text: str) -> int | str:
    if text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"an encoder count or auto, not {text!r}") from None


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter timings and renders (seconds on a CPU)")
    parser.add_argument("--budget", type=float, default=480.0, help="seconds for the whole suite (rows past it are skipped)")
    parser.add_argument("--encoders", type=encoders_arg, nargs="+", default=[1, 2, 4, 8, "auto"],
                        help="encoder counts of the render rows; auto: the render chooses")
    parser.add_argument("--no-tests", action="store_true", help="skip the pytest step")
    parser.add_argument("-o", "--output", type=Path, default=ROOT / "benchmarks" / "results" / "gpu_suite.json")
    args = parser.parse_args(argv)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    suite = Suite(args.budget, args.output, device)
    if args.no_tests:
        suite.skip("tests", "--no-tests")
    else:
        run_tests(suite)
    best = run_generator(suite, args.quick)
    encoding = encoder_fps(suite, 1024 if device == "cuda" else 64, 60 if device == "cuda" else 8) if suite.left() > 20 else None
    if suite.left() > 10:
        yuv_conversion(suite, 1024 if device == "cuda" else 64, 16 if device == "cuda" else 2, 2.0 if device == "cuda" else 0.2)
    generation = best.get("1024/bf16")
    run_render(suite, args.encoders, generation, encoding, args.quick)
    goals(suite, best)
    print(f"wrote {args.output} ({len(suite.rows)} rows, {time.perf_counter() - suite.start:.0f} s)")
    return suite.rows


if __name__ == "__main__":
    main()
