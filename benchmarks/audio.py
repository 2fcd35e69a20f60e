"""Audio analysis of a 4-minute song at 30 fps, as a fraction of rendering that song's video.

A 4-minute song is synthesised here (kicks, hats, a bass line, chords that change every 8 bars;
no licence), written as AAC, and analysed as a script with reactions would: decoded by ffmpeg,
then every feature at 30 fps (band loudness and onsets, the HPSS percussive onsets, chroma,
tempo and beats, sections). The render is timed on a sample of frames and scaled to the song's
7,200: the built-in demo model (256 px) and a config-f-shaped generator (random weights, no
download) at `--resolution`. Analysis and the render samples alternate in every repeat, so drift
hits both alike; the best time of each is kept. The fraction printed is analysis / render.

    python benchmarks/audio.py [--minutes 4] [--fps 30] [--resolution 1024] [--frames 4] [--repeats 3]
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from pathlib import Path

import imageio_ffmpeg
import numpy as np
from common import config_f, machine_info, write_results  # benchmarks/common.py, beside this script

RATE = 44_100


def synth_song(minutes: float, bpm: float = 124.0) -> np.ndarray:
    """Mono float32: a kick on every beat, hats between, a bass note per bar, chords per 8 bars."""
    n = int(minutes * 60 * RATE)
    t = np.arange(n) / RATE
    beat = 60.0 / bpm
    out = np.zeros(n, np.float32)
    tail = np.arange(int(0.3 * RATE)) / RATE
    kick = (np.sin(2 * np.pi * (50 * tail + 40 * (1 - np.exp(-tail * 30)) / 30)) * np.exp(-tail * 10)).astype(np.float32)
    rng = np.random.RandomState(4)
    hat = (np.diff(rng.standard_normal(int(0.04 * RATE) + 1)) * np.exp(-np.arange(int(0.04 * RATE)) / RATE * 90)).astype(np.float32)
    for start in np.arange(0.0, minutes * 60 - 0.5, beat):
        i = int(start * RATE)
        out[i : i + len(kick)] += 0.8 * kick[: n - i]
        j = int((start + beat / 2) * RATE)
        out[j : j + len(hat)] += 0.1 * hat[: max(0, n - j)]
    bar = (t // (4 * beat)).astype(int)
    roots = np.array([55.0, 49.0, 65.4, 61.7])
    out += 0.2 * np.sin(2 * np.pi * np.cumsum(roots[bar % 4]) / RATE).astype(np.float32)
    chords = [(220.0, 277.2, 329.6), (196.0, 246.9, 293.7), (174.6, 220.0, 261.6), (164.8, 207.7, 246.9)]
    section = (t // (32 * beat)).astype(int) % len(chords)
    for k in range(3):
        freq = np.array([c[k] for c in chords])[section]
        out += 0.05 * np.sin(2 * np.pi * np.cumsum(freq) / RATE).astype(np.float32)
    return out / np.abs(out).max() * 0.9


def encode(samples: np.ndarray, path: Path) -> Path:
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "f32le", "-ar", str(RATE), "-ac", "1",
               "-i", "-", "-c:a", "aac", "-b:a", "128k", str(path)]
    subprocess.run(command, input=samples.tobytes(), check=True)
    return path


def time_analysis(song: Path, fps: float) -> tuple[float, object]:
    from renderer.audio import decode
    from renderer.audio.decode import load_audio
    from renderer.audio.features import analyze

    decode._load_cached.cache_clear()  # decode every time, as a fresh process would
    t0 = time.perf_counter()
    features = analyze(load_audio(song), fps=fps)
    return time.perf_counter() - t0, features


def time_frames(G, frames: int, resolution: int | None) -> float:
    import torch

    z = torch.from_numpy(np.random.RandomState(0).randn(frames, G.z_dim)).float()
    with torch.no_grad():
        ws = G.mapping(z, truncation_psi=0.7)
        G.synthesis(ws[:1])  # warm-up
        t0 = time.perf_counter()
        for i in range(frames):  # one frame at a time, as a CPU render does
            G.synthesis(ws[i : i + 1])
    return (time.perf_counter() - t0) / frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=4.0)
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--resolution", type=int, default=1024)
    parser.add_argument("--frames", type=int, default=4, help="frames timed per render sample")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("-o", "--output", type=Path, default=Path(__file__).parent / "results" / "audio.json")
    args = parser.parse_args()

    import torch

    from renderer import load_generator
    from renderer.models.stylegan2 import Generator

    torch.manual_seed(0)
    models = {"demo (256 px)": load_generator("demo"), f"config-f ({args.resolution} px)": Generator(config_f(args.resolution))}
    num_frames = int(args.minutes * 60 * args.fps)
    with tempfile.TemporaryDirectory() as tmp:
        song = encode(synth_song(args.minutes), Path(tmp) / "song.m4a")
        best_analysis = float("inf")
        best_frame = dict.fromkeys(models, float("inf"))
        for _ in range(args.repeats):
            seconds, features = time_analysis(song, args.fps)
            best_analysis = min(best_analysis, seconds)
            for name, G in models.items():
                best_frame[name] = min(best_frame[name], time_frames(G, args.frames, None))
    print(f"song: {args.minutes:g} min, {num_frames} frames at {args.fps:g} fps; analysis found "
          f"{features.tempo:.2f} bpm, {len(features.beats)} beats, {len(features.sections)} section boundaries")
    print(f"analysis (decode + every feature): {best_analysis:.2f} s")
    results = []
    for name, per_frame in best_frame.items():
        render = per_frame * num_frames
        fraction = best_analysis / render
        print(f"render, {name}: {per_frame * 1000:.1f} ms/frame -> {render:.0f} s for the song; analysis / render = {fraction:.4f}")
        results.append({"model": name, "ms_per_frame": per_frame * 1000, "render_s": render, "analysis_s": best_analysis,
                        "fraction": fraction})
    write_results(args.output, machine_info(minutes=args.minutes, fps=args.fps, frames=args.frames, repeats=args.repeats),
                  results, tempo=features.tempo, beats=len(features.beats))


if __name__ == "__main__":
    main()
