"""The track plot of a preview: psi and truncation, blend alphas, the camera (zoom, pan; StyleGAN3's
translate and rotate), latent and image speed and the audio features that drive them, over time.

Drawn with matplotlib (the optional `preview` extra); no torch here, the caller passes plain arrays.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from renderer.errors import UsageError
from renderer.output.files import atomic_path

INSTALL_HINT = "pip install 'stylegan-renderer[preview]'"


@dataclasses.dataclass(frozen=True)
class TrackPlotData:
    """Per-frame tracks of a script, as `plot_tracks` draws them."""

    time: NDArray[np.float64]  # [T] seconds
    psi: NDArray[np.float32]  # [T]
    latent_speed: NDArray[np.float32]  # [T - 1] |w(t + 1) - w(t)|, RMS over the ws layers
    key_times: Sequence[float]  # [K] seconds
    key_labels: Sequence[str]  # [K] short names shown at the keyframe marks
    truncation_cutoff: NDArray[np.int64] | None = None  # [T]; None: every layer truncated
    num_ws: int | None = None  # the cutoff's range, for its axis
    blend: NDArray[np.float32] | None = None  # [T, R] transfer-model alpha per block resolution
    blend_resolutions: Sequence[int] = ()  # [R]
    bpm: float | None = None  # adds a beat axis
    image_speed: NDArray[np.float32] | None = None  # [T - 1] mean |pixel change| of consecutive preview frames
    title: str = ""
    audio: Sequence[tuple[str, NDArray[np.float32]]] = ()  # (label, [T] values) of each audio reaction
    beat_times: Sequence[float] = ()  # seconds of detected beats, drawn as ticks under the audio
    camera: Sequence[tuple[str, NDArray[np.float64]]] = ()  # (label, [T] values): zoom, pan x/y, translate, rotate


def matplotlib_available() -> bool:
    """Whether the optional matplotlib is installed (the `preview` extra)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def plot_tracks(data: TrackPlotData, path: str | Path, *, dpi: int = 110) -> Path:
    """Draw the track plot and save it as PNG at path; returns path.

    Panels, sharing the time axis: psi (and the truncation cutoff on a right-hand axis), the blend
    alphas as a heat map (rows are block resolutions, coarse at the bottom) when the script blends,
    the camera's tracks when it moves (zoom on the left axis; pan, translate and rotate on the right),
    and the latent speed, whose spikes show jerky transitions, with the image speed measured on the
    preview frames beside it when given (what the viewer sees). Keyframes are dashed lines.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only: never needs a display
        import matplotlib.pyplot as plt
    except ImportError:
        raise UsageError(f"the track plot needs matplotlib: {INSTALL_HINT}") from None

    path = Path(path)
    has_blend = data.blend is not None and len(data.blend_resolutions) > 0
    has_audio = len(data.audio) > 0 or len(data.beat_times) > 0
    has_camera = len(data.camera) > 0
    heights = [1.0] + ([1.0] if has_blend else []) + ([1.0] if has_camera else []) + [1.0] + ([1.0] if has_audio else [])
    fig, axes = plt.subplots(
        len(heights), 1, sharex=True, figsize=(10, 2.1 * len(heights) + 0.6), height_ratios=heights,
        layout="constrained",
    )
    t = np.asarray(data.time, dtype=np.float64)
    end = float(t[-1]) if len(t) > 1 else 1.0

    ax = axes[0]
    psi = np.asarray(data.psi, dtype=np.float64)
    if psi.ndim == 2:  # per layer (an audio reaction on some layers): the layers' range and mean
        ax.fill_between(t, psi.min(axis=1), psi.max(axis=1), color="tab:blue", alpha=0.2, lw=0)
        psi = psi.mean(axis=1)
    ax.plot(t, psi, color="tab:blue", lw=1.6, label="psi", marker="o" if len(t) == 1 else None)
    ax.set_ylabel("truncation psi", color="tab:blue")
    low, high = float(np.min(data.psi)), float(np.max(data.psi))
    pad = max(0.05, 0.1 * (high - low))
    ax.set_ylim(min(0.0, low - pad), max(1.0, high + pad))
    if data.truncation_cutoff is not None:
        right = ax.twinx()
        right.step(t, data.truncation_cutoff, where="post", color="tab:orange", lw=1.2)
        right.set_ylabel("cutoff (layers)", color="tab:orange")
        right.set_ylim(-0.5, (data.num_ws or int(np.max(data.truncation_cutoff))) + 0.5)
    if data.bpm:
        beats = 60.0 / data.bpm
        top = ax.secondary_xaxis("top", functions=(lambda s: s / beats, lambda b: b * beats))
        top.set_xlabel("beat")
    if data.title:
        fig.suptitle(data.title, fontsize=11)

    if has_blend:
        assert data.blend is not None
        ax = axes[1]
        rows = len(data.blend_resolutions)
        image = ax.imshow(
            np.asarray(data.blend, dtype=np.float32).T, aspect="auto", origin="lower", cmap="magma",
            vmin=min(0.0, float(np.min(data.blend))), vmax=max(1.0, float(np.max(data.blend))),
            extent=(float(t[0]), end, -0.5, rows - 0.5), interpolation="nearest",
        )
        ax.set_yticks(range(rows), [str(r) for r in data.blend_resolutions])
        ax.set_ylabel("blend alpha\nby resolution (px)")
        fig.colorbar(image, ax=ax, pad=0.01, label="transfer model")

    if has_camera:
        _camera_panel(axes[1 + int(has_blend)], t, data.camera)

    ax = axes[-2] if has_audio else axes[-1]
    speed = np.asarray(data.latent_speed, dtype=np.float64)
    if len(speed):
        ax.plot(t[:-1] + 0.5 * (t[1] - t[0]) if len(t) > 1 else t[:1], speed, color="tab:green", lw=1.2)
        median = float(np.median(speed))
        ax.axhline(median, color="0.5", lw=0.8, ls=":", label=f"median {median:.3g}")
        ax.legend(loc="upper right", fontsize=8, frameon=False)
    ax.set_ylabel("latent speed\n|w(t+1) - w(t)|", color="tab:green")
    image = None if data.image_speed is None else np.asarray(data.image_speed, dtype=np.float64)
    if image is not None and len(image) and len(t) > 1:
        # What the viewer sees: the picture's change per frame, on its own axis beside the latent's.
        right = ax.twinx()
        right.plot(t[:-1] + 0.5 * (t[1] - t[0]), image, color="tab:purple", lw=1.2)
        right.set_ylabel("image speed\nmean |pixel change|", color="tab:purple")
        right.set_ylim(0, max(float(np.max(image)) * 1.1, 1e-6))
        median = float(np.median(image))
        right.axhline(median, color="tab:purple", lw=0.8, ls=":", alpha=0.6)
    if has_audio:
        _audio_panel(axes[-1], t, data)
    axes[-1].set_xlabel("time (s)")
    axes[-1].set_xlim(float(t[0]), end)

    for ax in axes:
        for when in data.key_times:
            ax.axvline(when, color="0.35", lw=0.8, ls="--", alpha=0.8)
    top_axis = axes[0]
    for when, label in zip(data.key_times, data.key_labels, strict=True):
        top_axis.annotate(
            label, (when, 1.0), xycoords=("data", "axes fraction"), xytext=(2, -10),
            textcoords="offset points", fontsize=8, color="0.25",
        )
    try:
        with atomic_path(path) as tmp:
            # The format named explicitly: matplotlib would add an extension to an extensionless name.
            fig.savefig(tmp, dpi=dpi, format=Path(path).suffix[1:].lower() or "png")
    finally:
        plt.close(fig)
    return path


def _camera_panel(ax: Any, t: NDArray[np.float64], camera: Sequence[tuple[str, NDArray[np.float64]]]) -> None:
    """Zoom (a factor) on the left axis, the offsets (pan in window widths, translate in input units,
    rotate in degrees) on the right one, or on the left when nothing zooms, so a framing move shows
    beside the latent speed it goes with."""
    has_zoom = any(label == "zoom" for label, _ in camera)
    offsets = ax.twinx() if has_zoom and len(camera) > 1 else ax
    lines = []
    for label, values in camera:
        if label == "zoom":
            lines += ax.plot(t, values, color="tab:red", lw=1.4, label=label)
            ax.set_ylabel("zoom", color="tab:red")
        else:
            lines += offsets.plot(t, values, lw=1.1, label=label)
    if len(camera) > int(has_zoom):
        offsets.set_ylabel("camera offsets\n(pan, translate, rotate)")
    ax.legend(lines, [line.get_label() for line in lines], loc="upper left", fontsize=8, frameon=False, ncols=len(lines))


def _audio_panel(ax: object, t: NDArray[np.float64], data: TrackPlotData) -> None:
    """The audio reactions' mapped values, each scaled to its own [0, 1], and the detected beats."""
    colors = ["tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan"]
    for i, (label, values) in enumerate(data.audio):
        v = np.asarray(values, dtype=np.float64)
        low, high = float(v.min()), float(v.max())
        scaled = (v - low) / (high - low) if high > low else np.zeros_like(v)
        ax.plot(t, scaled, color=colors[i % len(colors)], lw=1.0, label=f"{label}  [{low:.3g}, {high:.3g}]")  # type: ignore[attr-defined]
    for when in data.beat_times:
        ax.axvline(when, ymin=0.0, ymax=0.08, color="0.2", lw=0.8)  # type: ignore[attr-defined]
    ax.set_ylim(-0.05, 1.1)  # type: ignore[attr-defined]
    ax.set_ylabel("audio reactions\n(each min to max)")  # type: ignore[attr-defined]
    if data.audio:
        ax.legend(loc="upper right", fontsize=7, frameon=False, ncol=min(3, len(data.audio)))  # type: ignore[attr-defined]


__all__ = ["INSTALL_HINT", "TrackPlotData", "matplotlib_available", "plot_tracks"]
