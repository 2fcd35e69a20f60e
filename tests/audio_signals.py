"""Synthetic songs with known answers: click tracks, kick and hat patterns, written as WAV."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.io import wavfile
from scipy.signal import butter, sosfilt

RATE = 22_050


def click_track(bpm: float = 128.0, seconds: float = 30.0, start: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
    """Short 1 kHz clicks on every beat; returns samples and the beat times."""
    x = np.zeros(int(seconds * RATE), np.float32)
    t = np.arange(int(0.02 * RATE)) / RATE
    click = (np.sin(2 * np.pi * 1000 * t) * np.exp(-t * 300)).astype(np.float32)
    beats = np.arange(start, seconds - 0.1, 60.0 / bpm)
    for b in beats:
        i = int(round(b * RATE))
        x[i : i + len(click)] += click[: len(x) - i]
    return x, beats


def kicks_and_hats(
    kicks: tuple[float, ...] = (1.0, 2.5, 4.0, 6.2, 8.1, 10.3),
    hats: tuple[float, ...] = (1.7, 3.3, 5.1, 7.0, 9.4, 11.0),
    seconds: float = 12.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """60 Hz kick bursts and 8 kHz band-limited noise hats at known, irregular times."""
    x = np.zeros(int(seconds * RATE))
    t = np.arange(int(0.4 * RATE)) / RATE
    kick = np.sin(2 * np.pi * 60 * t) * np.exp(-t * 12) * np.minimum(1, t / 0.005) * np.minimum(1, (0.4 - t) / 0.05)
    for k in kicks:
        part = x[int(k * RATE) : int(k * RATE) + len(kick)]
        part += 0.8 * kick[: len(part)]
    band = butter(4, [6500, 9500], btype="band", fs=RATE, output="sos")
    rng = np.random.RandomState(0)
    th = np.arange(int(0.06 * RATE)) / RATE
    for h in hats:
        noise = sosfilt(band, rng.standard_normal(len(th))) * np.exp(-th * 60) * np.minimum(1, th / 0.002)
        part = x[int(h * RATE) : int(h * RATE) + len(th)]
        part += 0.5 * (noise / np.abs(noise).max())[: len(part)]
    return x.astype(np.float32), np.array(kicks), np.array(hats)


def write_wav(path: Path, samples: np.ndarray) -> Path:
    wavfile.write(path, RATE, np.asarray(samples, np.float32))
    return path
