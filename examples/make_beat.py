"""Synthesise examples/beat.m4a: 12 s of a 120 bpm beat, made here from sine waves and seeded noise.

It is the soundtrack of latent_walk_music_video.toml: a kick on every beat, a hi-hat between
beats, and a bass note that changes every four beats, when the video reaches its next keyframe.
Nothing is sampled from recordings, so the file is free of any licence. Run from the repository
root to make it again (the bundled ffmpeg of imageio-ffmpeg encodes it):

    python examples/make_beat.py
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import imageio_ffmpeg
import numpy as np

RATE = 44_100
BPM = 120
BEATS = 24
BASS_HZ = (55.0, 65.4, 49.0, 73.4, 61.7, 55.0)  # one note per four beats: A1 C2 G1 D2 B1 A1


def beat_track() -> np.ndarray:
    """Mono float32 samples in [-1, 1]."""
    beat = 60 / BPM
    t = np.arange(int(BEATS * beat * RATE)) / RATE
    out = np.zeros_like(t)
    rng = np.random.RandomState(120)
    for b in range(BEATS):
        start = int(b * beat * RATE)
        tail = t[: int(0.35 * RATE)]
        sweep = 2 * np.pi * (45 * tail + 60 * (1 - np.exp(-tail * 30)) / 30)  # 105 Hz falling to 45 Hz
        kick = np.sin(sweep) * np.exp(-tail * 9)
        out[start : start + len(kick)] += 0.9 * kick[: len(out) - start]
        hat_at = start + int(beat / 2 * RATE)
        hat = np.diff(rng.standard_normal(int(0.05 * RATE) + 1)) * np.exp(-np.arange(int(0.05 * RATE)) / RATE * 80)
        out[hat_at : hat_at + len(hat)] += 0.12 * hat[: max(0, len(out) - hat_at)]
    note = (t // (4 * beat)).astype(int)
    freq = np.asarray(BASS_HZ)[np.minimum(note, len(BASS_HZ) - 1)]
    phase = 2 * np.pi * np.cumsum(freq) / RATE
    envelope = 0.6 + 0.4 * np.cos(2 * np.pi * t / beat)  # pumps with the kick
    out += 0.25 * np.sin(phase) * envelope
    return (out / np.abs(out).max() * 0.9).astype(np.float32)


def main() -> None:
    path = Path(__file__).with_name("beat.m4a")
    samples = beat_track()
    command = [
        imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "f32le", "-ar", str(RATE), "-ac", "1",
        "-i", "-", "-c:a", "aac", "-b:a", "64k", "-map_metadata", "-1", "-fflags", "+bitexact", str(path),
    ]
    subprocess.run(command, input=samples.tobytes(), check=True)
    print(path, f"{len(samples) / RATE:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
