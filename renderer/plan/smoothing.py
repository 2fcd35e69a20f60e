"""Temporal Gaussian smoothing of per-frame tracks, computed chunk by chunk (no torch).

Each output frame depends only on the frames within the Gaussian's radius, so a renderer can smooth the
chunk it is about to draw by sampling just that chunk plus a margin, and get bit-identical results to
smoothing the whole video at once.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

TRUNCATE = 4.0  # scipy's default: the kernel reaches TRUNCATE * sigma frames each way


def gaussian_radius(sigma: float) -> int:
    """Half-width in frames of scipy's truncated Gaussian kernel; 0 when sigma <= 0 (no smoothing)."""
    if sigma <= 0:
        return 0
    return int(TRUNCATE * sigma + 0.5)


def gaussian_kernel(sigma: float) -> NDArray[np.float64]:
    """scipy's truncated, normalised Gaussian weights over [-r, r], r = gaussian_radius(sigma) > 0."""
    radius = gaussian_radius(sigma)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    weights = np.exp(-0.5 * (x / sigma) ** 2)
    return weights / weights.sum()


def window_indices(start: int, stop: int, radius: int, *, num_frames: int, loop: bool) -> NDArray[np.int64]:
    """The frames [start - radius, stop + radius) that smoothing [start, stop) reads: wrapped modulo
    num_frames when looping, else clamped to the first/last frame (scipy's "wrap" / "nearest")."""
    wanted = np.arange(start - radius, stop + radius, dtype=np.int64)
    return np.mod(wanted, num_frames) if loop else np.clip(wanted, 0, num_frames - 1)


def smooth_frames(
    sample: Callable[[NDArray], NDArray],
    start: int,
    stop: int,
    *,
    sigma: float,
    num_frames: int,
    loop: bool,
) -> NDArray:
    """Gaussian-smooth the frames [start, stop) of a track over time, seeing only what each frame needs.

    The frames [start - r, stop + r) with r = gaussian_radius(sigma) are gathered (wrapped modulo
    num_frames when looping, clamped to the first/last frame otherwise), sampled in one call, filtered
    along time and cropped. Over the whole range this equals gaussian_filter1d(track, sigma, axis=0,
    mode="wrap" if loop else "nearest"), and any split into chunks concatenates to the same result.

    Args:
        sample: maps frame indices int64 [n] to values [n, ...]; a pure function of the frame index.
        start: first output frame, 0 <= start <= stop.
        stop: one past the last output frame, stop <= num_frames.
        sigma: Gaussian standard deviation in frames; <= 0 returns the samples unsmoothed.
        num_frames: number of frames in the whole video.
        loop: True if the video wraps (frame -1 is frame num_frames - 1); False replicates the edges.

    Returns:
        float64 [stop - start, ...].
    """
    if num_frames < 1:
        raise ValueError(f"num_frames must be at least 1, got {num_frames}")
    if not 0 <= start <= stop <= num_frames:
        raise ValueError(
            f"need 0 <= start <= stop <= num_frames, got start={start}, stop={stop}, num_frames={num_frames}"
        )
    radius = gaussian_radius(sigma)
    frames = window_indices(start, stop, radius, num_frames=num_frames, loop=loop)
    values = np.asarray(sample(frames), dtype=np.float64)
    if values.ndim == 0 or values.shape[0] != len(frames):
        raise ValueError(f"sample returned shape {values.shape} for {len(frames)} frames")
    if radius == 0:
        return values
    # The margin already holds the true neighbours, so the filter's own boundary mode only touches the
    # margin, which is cropped; it is set to match anyway.
    # Imported here: a render without smoothing never loads scipy.ndimage (about 40 MB of RSS).
    from scipy.ndimage import gaussian_filter1d

    smoothed = gaussian_filter1d(values, sigma, axis=0, truncate=TRUNCATE, mode="wrap" if loop else "nearest")
    return smoothed[radius : radius + stop - start]
