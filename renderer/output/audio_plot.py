"""The plot of `renderer analyze`: waveform, band loudness, band onsets, beats, sections, tempo, chroma.

Drawn with matplotlib (the optional `preview` extra); no torch here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from renderer.audio.features import PITCH_CLASSES, AudioFeatures
from renderer.errors import UsageError
from renderer.output.files import atomic_path
from renderer.output.plots import INSTALL_HINT

BAND_COLORS = ("tab:red", "tab:green", "tab:blue", "tab:orange", "tab:purple", "tab:brown")


def plot_analysis(features: AudioFeatures, path: str | Path, *, title: str = "", dpi: int = 110) -> Path:
    """Draw the analysis of a song as PNG at path; returns path.

    Panels, sharing the time axis: the waveform with beats (grey) and section boundaries (black);
    each band's RMS loudness; each band's onset strength (each scaled to its own maximum); the
    section novelty; the chroma as a heat map.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UsageError(f"the analysis plot needs matplotlib: {INSTALL_HINT}") from None
    path = Path(path)
    t = features.time
    fig, axes = plt.subplots(5, 1, sharex=True, figsize=(12, 11), height_ratios=[1.0, 1.0, 1.3, 0.6, 1.0],
                             layout="constrained")
    ax = axes[0]
    ax.fill_between(t, features.waveform[:, 0], features.waveform[:, 1], color="0.4", lw=0)
    ax.set_ylabel("waveform")
    ax.set_ylim(-1.05, 1.05)
    tempo = f"{features.tempo:.2f} bpm" if features.tempo > 0 else "no steady beat"
    fig.suptitle(f"{title}  ({tempo}, {len(features.beats)} beats, {len(features.sections)} section boundaries)", fontsize=11)

    ax = axes[1]
    for i, band in enumerate(features.bands):
        lo, hi = features.bands[band]
        ax.plot(t, _unit(features.band_rms[i]), color=BAND_COLORS[i % len(BAND_COLORS)], lw=1.0,
                label=f"{band} {lo:g}-{hi:g} Hz")
    ax.set_ylabel("band loudness\n(RMS, each / max)")
    ax.legend(loc="upper right", fontsize=8, frameon=False, ncol=len(features.bands))

    ax = axes[2]
    for i in range(len(features.bands)):
        ax.plot(t, _unit(features.band_onset[i]) + i * 1.1, color=BAND_COLORS[i % len(BAND_COLORS)], lw=0.9)
    ax.set_yticks([i * 1.1 + 0.5 for i in range(len(features.bands))], list(features.bands))
    ax.set_ylabel("onsets (spectral flux)")

    ax = axes[3]
    ax.plot(t, features.novelty, color="black", lw=1.0)
    ax.set_ylabel("section\nnovelty")

    ax = axes[4]
    ax.imshow(features.chroma.T, aspect="auto", origin="lower", cmap="magma", vmin=0, vmax=1,
              extent=(float(t[0]), float(t[-1]) if len(t) > 1 else 1.0, -0.5, 11.5), interpolation="nearest")
    ax.set_yticks(range(12), PITCH_CLASSES, fontsize=7)
    ax.set_ylabel("chroma")
    ax.set_xlabel("time in the audio (s)")

    for ax in axes[:4]:
        for when in features.beats:
            ax.axvline(when, color="0.6", lw=0.5, alpha=0.7)
        for when in features.sections:
            ax.axvline(when, color="black", lw=1.4, ls="--")
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=dpi, format=path.suffix[1:].lower() or "png")
    finally:
        plt.close(fig)
    return path


def _unit(values: np.ndarray) -> np.ndarray:
    peak = float(np.max(values)) if len(values) else 0.0
    return values / peak if peak > 0 else values


__all__ = ["plot_analysis"]
