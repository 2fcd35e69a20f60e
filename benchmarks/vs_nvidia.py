"""renderer against NVIDIA's own code, side by side on this machine, from the same pickles.

Given a checkout of NVlabs/stylegan3 (or stylegan2-ada-pytorch) with `--nvidia-repo`, this

1. builds random-weight generators with NVIDIA's own network code (a "paper256"-like 256 px model:
   channel_base 16384, and a config-f-shaped 1024 px one: channel_base 32768; both 512 channels at
   most, 8 mapping layers, conv_clamp 256) and saves them as snapshot pickles;
2. loads each pickle with NVIDIA's `legacy.load_network_pkl` and with `renderer.load_generator` and
   checks that both make the same images (max abs difference <= 1e-4 of the image's peak, at least
   1e-4);
3. times mapping + synthesis (fp32, constant noise, no grad) of both, interleaved (NVIDIA, renderer,
   then renderer, NVIDIA, ...), at each batch size, with the same torch threads, in wall and CPU time;
4. times a 24-frame 256 px video end to end as whole processes, interleaved: stylegan3's
   `gen_video.gen_interp_video` (its own loop, on the CPU) against `renderer render` of the same
   two-seed walk, both H.264 crf 18 preset medium with one x264 thread, and records wall time, CPU
   time (ffmpeg included) and peak RSS (the larger of the Python process and its ffmpeg).

Ratios are NVIDIA / renderer (above 1: renderer is faster or smaller), medians of the pairs. NVIDIA's
code never enters this repository: it is read from the checkout at run time, and where it is absent
the benchmark says so and exits 0. NVIDIA's custom CUDA ops are not needed: on a CPU its layers take
their reference paths. Small stand-ins meet imports its CPU path never uses for
this: `imageio` (imageio-ffmpeg writes the video), `tqdm` and `pkg_resources.parse_version`.

    python benchmarks/vs_nvidia.py --nvidia-repo PATH [--compile on] [--threads 1] [--repeats 3] [--batches 1 4 8] [--batches-1024 1 4 8]
        [--models paper256 configf1024] [--video-pairs 3] [-o benchmarks/results/vs_nvidia.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import write_results  # benchmarks/common.py, beside this script

ROOT = Path(__file__).resolve().parent.parent
MODELS = {  # name -> NVIDIA Generator keyword arguments
    "paper256": {"img_resolution": 256, "channel_base": 16384},
    "configf1024": {"img_resolution": 1024, "channel_base": 32768},
}
VIDEO_MODEL = "paper256"
ATOL = 1e-4


def nvidia_repo_problem(repo: Path | None) -> str | None:
    """Why `repo` cannot be used (None: it can)."""
    if repo is None:
        return "no --nvidia-repo given (a checkout of NVlabs/stylegan3 or NVlabs/stylegan2-ada-pytorch)"
    needed = ["legacy.py", "training/networks_stylegan2.py" if (repo / "training/networks_stylegan2.py").exists() else "training/networks.py",
              "torch_utils/persistence.py", "dnnlib/util.py"]
    missing = [n for n in needed if not (repo / n).exists()]
    return f"{repo} is not a StyleGAN checkout (missing {', '.join(missing)})" if missing else None


# --- children (each a fresh process) -----------------------------------------------------------


def _nvidia_path(repo: Path) -> None:
    """NVIDIA's checkout importable, with stand-ins for the packages its CPU path only names:
    pkg_resources.parse_version (setuptools >= 81 dropped pkg_resources) and tqdm."""
    import types

    from packaging.version import parse

    if "pkg_resources" not in sys.modules:
        try:
            import pkg_resources  # noqa: F401
        except ImportError:
            sys.modules["pkg_resources"] = types.SimpleNamespace(parse_version=parse)  # type: ignore[assignment]
    tqdm = types.ModuleType("tqdm")
    tqdm.tqdm = lambda iterable, **kw: iterable  # type: ignore[attr-defined]
    sys.modules.setdefault("tqdm", tqdm)
    sys.path.insert(0, str(repo))


def _nvidia_import(repo: Path) -> Any:
    _nvidia_path(repo)
    try:
        from training import networks_stylegan2 as networks  # stylegan3
    except ImportError:
        from training import networks  # stylegan2-ada-pytorch
    return networks


def child_build(repo: Path, folder: Path, names: list[str]) -> None:
    """Snapshot pickles of random-weight generators built by NVIDIA's code."""
    import pickle

    import torch

    networks = _nvidia_import(repo)
    for name in names:
        torch.manual_seed(0)
        kwargs = MODELS[name]
        G = networks.Generator(
            z_dim=512, c_dim=0, w_dim=512, img_resolution=kwargs["img_resolution"], img_channels=3,
            mapping_kwargs={"num_layers": 8},
            channel_base=kwargs["channel_base"], channel_max=512, num_fp16_res=4, conv_clamp=256,
        ).eval().requires_grad_(False)
        # Random w_avg (the trained one is the mean w; zeros would hide truncation bugs).
        G.mapping.w_avg.copy_(torch.randn_like(G.mapping.w_avg) * 0.1)
        with (folder / f"{name}.pkl").open("wb") as f:
            pickle.dump({"G": G, "D": G, "G_ema": G, "augment_pipe": None, "training_set_kwargs": None}, f)
        print(json.dumps({"built": name, "parameters": sum(p.numel() for p in G.parameters())}), flush=True)


def child_generator(repo: Path, pkl: Path, batches: list[int], repeats: int, threads: int, compile_mode: str = "off") -> None:
    """Equality check, then interleaved timings of NVIDIA's and renderer's generator from one pickle
    (renderer's synthesis compiled per batch size with compile_mode "on": renderer.models.compiled)."""
    import torch

    torch.set_num_threads(threads)
    if compile_mode == "on":
        import torch._inductor.config  # noqa: F401  (before the stand-in modules, which dynamo's import would trip on)
    _nvidia_path(repo)
    import legacy  # NVIDIA's

    from renderer import load_generator

    with pkl.open("rb") as f:
        nv = legacy.load_network_pkl(f)["G_ema"].eval()
    ours = load_generator(pkl)
    rng = torch.Generator().manual_seed(1)

    @torch.no_grad()
    def run_nvidia(z: torch.Tensor, psi: float = 1.0) -> torch.Tensor:
        ws = nv.mapping(z, None, truncation_psi=psi)
        return nv.synthesis(ws, noise_mode="const", force_fp32=True)

    G_now = ours

    @torch.no_grad()
    def run_ours(z: torch.Tensor, psi: float = 1.0) -> torch.Tensor:
        return G_now.synthesis(G_now.mapping(z, truncation_psi=psi), noise_mode="const")

    z = torch.randn(2, 512, generator=rng)
    checks = []
    for psi in (1.0, 0.7):
        a, b = run_nvidia(z, psi), run_ours(z, psi)
        diff, peak = float((a - b).abs().max()), float(a.abs().max())
        checks.append({"psi": psi, "max_abs_diff": diff, "image_peak": peak, "ok": diff <= ATOL * max(1.0, peak)})
    rows = []
    for batch in batches:
        z = torch.randn(batch, 512, generator=rng)
        compile_s = None
        if compile_mode == "on":
            from renderer.models.compiled import compiled

            G_now = compiled(ours, batch_size=batch)
            t0 = time.perf_counter()
            a, b = run_nvidia(z), run_ours(z)  # the first call compiles (or loads the cache)
            compile_s = time.perf_counter() - t0
            diff = float((a - b).abs().max())
            checks.append({"psi": 1.0, "batch": batch, "compiled": True, "max_abs_diff": diff, "image_peak": float(a.abs().max()),
                           "ok": diff <= ATOL * max(1.0, float(a.abs().max()))})
        run_nvidia(z), run_ours(z)  # warm up both
        times: dict[str, list[float]] = {"nvidia": [], "renderer": []}
        cpu: dict[str, list[float]] = {"nvidia": [], "renderer": []}
        order = [("nvidia", run_nvidia), ("renderer", run_ours)]
        for repeat in range(repeats):
            # A B, then B A: a load that rises or falls through the run favours neither.
            for name, fn in order if repeat % 2 == 0 else order[::-1]:
                t0, c0 = time.perf_counter(), time.process_time()
                fn(z)
                times[name].append(time.perf_counter() - t0)
                cpu[name].append(time.process_time() - c0)
        pairs = [n / r for n, r in zip(times["nvidia"], times["renderer"], strict=True)]
        cpu_pairs = [n / r for n, r in zip(cpu["nvidia"], cpu["renderer"], strict=True)]
        rows.append({"batch": batch, "nvidia_s": times["nvidia"], "renderer_s": times["renderer"],
                     "nvidia_cpu_s": cpu["nvidia"], "renderer_cpu_s": cpu["renderer"],
                     "speedup": statistics.median(pairs), "cpu_speedup": statistics.median(cpu_pairs),
                     "compiled": compile_mode == "on", "compile_s": compile_s,
                     "load": os.getloadavg()[0]})
        print(json.dumps({"progress": rows[-1]}), file=sys.stderr, flush=True)
    print(json.dumps({"checks": checks, "rows": rows}), flush=True)


def child_nvidia_video(repo: Path, pkl: Path, out: Path, frames: int, threads: int) -> None:
    """stylegan3's gen_video loop on the CPU, writing H.264 crf 18 medium with one x264 thread."""
    import types

    import imageio_ffmpeg
    import numpy as np
    import torch

    torch.set_num_threads(threads)

    class Writer:  # the part of imageio's writer gen_video uses
        def __init__(self, path: str, fps: float) -> None:
            self.path, self.fps, self.gen = path, fps, None

        def append_data(self, image: Any) -> None:
            if self.gen is None:
                h, w = image.shape[:2]
                self.gen = imageio_ffmpeg.write_frames(
                    self.path, (w, h), fps=self.fps, codec="libx264", quality=None, macro_block_size=1,
                    pix_fmt_out="yuv420p", output_params=["-crf", "18", "-preset", "medium", "-threads", "1"])
                self.gen.send(None)
            self.gen.send(np.ascontiguousarray(image))  # as imageio's own writer does

        def close(self) -> None:
            if self.gen is not None:
                self.gen.close()

    imageio = types.ModuleType("imageio")
    imageio.get_writer = lambda path, mode="I", fps=30, codec="libx264", **kw: Writer(path, fps)  # type: ignore[attr-defined]
    sys.modules["imageio"] = imageio
    _nvidia_path(repo)
    import gen_video  # NVIDIA's
    import legacy

    with pkl.open("rb") as f:
        G = legacy.load_network_pkl(f)["G_ema"].eval()
    with torch.no_grad():
        gen_video.gen_interp_video(G=G, mp4=str(out), seeds=[0, 1], w_frames=frames // 2, device=torch.device("cpu"))


# --- the parent (no torch: its RSS would be inherited by the children it starts) ----------------


def _child(*args: str) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "--child", *args]


def _run_json(command: list[str]) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command[:4])} ... failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def timed_process(command: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Wall and CPU seconds of a whole process (with the children it waited for) and its peak RSS."""
    load = os.getloadavg()[0]
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"{' '.join(command[:6])} ... failed:\n{process.stderr.read().decode()[-3000:] if process.stderr else ''}")
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "peak_rss_mib": usage.ru_maxrss / 1024, "load": load}


def video_script(folder: Path, pkl: Path, frames: int) -> Path:
    """renderer's script of gen_video's walk: seeds 0 and 1 at 60 fps, cubic, psi 1, crf 18 medium."""
    path = folder / "walk.toml"
    path.write_text(f"""fps = 60
duration = "{frames}f"
[models]
base = "{pkl}"
[path]
space = "w"
interpolation = "cubic"
[output]
crf = 18
preset = "medium"
segment = "{frames}f"
[[keyframes]]
time = "0f"
seed = 0
[[keyframes]]
time = "{frames // 2}f"
seed = 1
""")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nvidia-repo", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=1, help="torch threads of both (default 1)")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls of each per batch")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--batches-1024", type=int, nargs="+", default=None, help="the 1024 px model's (default: --batches)")
    parser.add_argument("--models", nargs="*", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--frames", type=int, default=24, help="frames of the end-to-end video")
    parser.add_argument("--video-pairs", type=int, default=3, help="end-to-end runs of each (0: none)")
    parser.add_argument("--keep", type=Path, default=None, help="keep the pickles and videos in this folder")
    parser.add_argument("-o", "--output", type=Path, default=ROOT / "benchmarks" / "results" / "vs_nvidia.json")
    parser.add_argument("--compile", choices=["off", "on"], default="off",
                        help="renderer's synthesis through torch.compile (generator rows; the video gets --compile on)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        if kind == "build":
            child_build(Path(rest[0]), Path(rest[1]), rest[2:])
        elif kind == "generator":
            child_generator(Path(rest[0]), Path(rest[1]), [int(b) for b in rest[5:]], int(rest[2]), int(rest[3]), rest[4])
        elif kind == "nvidia-video":
            child_nvidia_video(Path(rest[0]), Path(rest[1]), Path(rest[2]), int(rest[3]), int(rest[4]))
        return
    problem = nvidia_repo_problem(args.nvidia_repo)
    if problem:
        print(f"skipped: {problem}")
        return
    repo = args.nvidia_repo.resolve()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep.resolve() if args.keep else Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        wanted = sorted(set(args.models) | ({VIDEO_MODEL} if args.video_pairs else set()))
        _run_json(_child("build", str(repo), str(folder), *wanted))
        generator = {}
        for name in args.models:
            batches = args.batches_1024 if MODELS[name]["img_resolution"] == 1024 and args.batches_1024 else args.batches
            print(f"{name}: checking equality, then timing batches {batches} ...", flush=True)
            generator[name] = _run_json(_child("generator", str(repo), str(folder / f"{name}.pkl"), str(args.repeats),
                                               str(args.threads), args.compile, *map(str, batches)))
            for check in generator[name]["checks"]:
                print(f"  psi {check['psi']}: max abs diff {check['max_abs_diff']:.2e} (image peak {check['image_peak']:.1f}) "
                      f"{'equal' if check['ok'] else 'DIFFERENT'}")
            for row in generator[name]["rows"]:
                print(f"  batch {row['batch']}: renderer {row['speedup']:.2f}x NVIDIA wall, {row['cpu_speedup']:.2f}x CPU time "
                      f"(load {row['load']:.1f})", flush=True)
        video = video_runs(args, repo, folder) if args.video_pairs else None
    report(args, generator, video)


def video_runs(args: argparse.Namespace, repo: Path, folder: Path) -> dict[str, Any]:
    pkl = folder / f"{VIDEO_MODEL}.pkl"
    script = video_script(folder, pkl, args.frames)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RENDERER_THREADS": str(args.threads)}
    if shutil.which("ffmpeg"):  # both encode with the same ffmpeg (else both use imageio-ffmpeg's binary)
        env["IMAGEIO_FFMPEG_EXE"] = str(shutil.which("ffmpeg"))
    commands = {
        "nvidia": _child("nvidia-video", str(repo), str(pkl), str(folder / "nvidia.mp4"), str(args.frames), str(args.threads)),
        "renderer": [sys.executable, "-m", "renderer", "render", str(script), "-o", str(folder / "renderer.mp4"),
                     "--device", "cpu", "--quiet", "--compile", args.compile],  # one x264 thread: the thread policy on a CPU
    }
    runs: dict[str, list[dict[str, Any]]] = {"nvidia": [], "renderer": []}
    for pair in range(args.video_pairs):
        for name, command in commands.items():
            runs[name].append(timed_process(command, env))
            run = runs[name][-1]
            print(f"video pair {pair + 1} {name}: {run['wall_s']:.1f} s wall, {run['cpu_s']:.1f} s CPU, "
                  f"{run['peak_rss_mib']:.0f} MiB (load {run['load']:.1f})", flush=True)
    ratios = {key: statistics.median(n[key] / r[key] for n, r in zip(runs["nvidia"], runs["renderer"], strict=True))
              for key in ("wall_s", "cpu_s", "peak_rss_mib")}
    frames = {name: _count_frames(folder / f"{name}.mp4") for name in commands}
    return {"runs": runs, "nvidia_over_renderer": ratios, "frames": frames}


def _count_frames(path: Path) -> int:
    from renderer.output.ffmpeg import count_frames  # torch-free

    return count_frames(path)


def report(args: argparse.Namespace, generator: dict[str, Any], video: dict[str, Any] | None) -> None:
    print("\n| what | renderer vs NVIDIA | goal |\n|---|---|---|")
    for name, result in generator.items():
        speedups = " / ".join(f"{row['speedup']:.2f}x" for row in result["rows"]) + " wall; " + " / ".join(
            f"{row['cpu_speedup']:.2f}x" for row in result["rows"]) + " CPU time"
        batches = " / ".join(str(row["batch"]) for row in result["rows"])
        compiled = ", renderer compiled" if args.compile == "on" else ""
        print(f"| generator, {name}, batch {batches} ({args.threads} thread{compiled}) | {speedups} | >= 1.5x |")
    if video:
        r = video["nvidia_over_renderer"]
        print(f"| end to end, {args.frames} frames 256 px vs gen_video.py | {r['wall_s']:.2f}x wall, {r['cpu_s']:.2f}x CPU | >= 1.5x |")
        med = {name: statistics.median(run["peak_rss_mib"] for run in runs) for name, runs in video["runs"].items()}
        print(f"| peak RSS of that run | {med['renderer']:.0f} MiB vs {med['nvidia']:.0f} MiB | <= NVIDIA's |")
    machine = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cpu_count": os.cpu_count(),
               "load_at_end": os.getloadavg(), "threads": args.threads, "python": sys.version.split()[0]}
    write_results(args.output, machine, [{"generator": generator, "video": video}], nvidia_repo=str(args.nvidia_repo))


if __name__ == "__main__":
    main()
