"""Section boundaries: novelty along the diagonal of a self-similarity matrix (Foote 2000).

Frames of timbre (log band energies) and harmony (chroma) are compared by cosine similarity; a
checkerboard kernel slid along the diagonal scores how much the past few seconds differ from the
next few, and the novelty's clear peaks are the boundaries. Only a band around the diagonal is ever
computed, so memory and time grow linearly with the song's length.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

KERNEL_SECONDS = 2.0  # half-width of the checkerboard kernel: seconds compared on each side
MIN_GAP_SECONDS = 4.0  # boundaries at least this far apart


def novelty_curve(features: NDArray, rate: float, *, kernel_seconds: float = KERNEL_SECONDS) -> NDArray[np.float64]:
    """Foote novelty of feature frames [T, D] sampled at `rate` Hz: [T], 0 where the kernel does
    not fit inside the song (its edges would otherwise look like boundaries)."""
    f = np.asarray(features, dtype=np.float64)
    f = (f - f.mean(axis=0)) / (f.std(axis=0) + 1e-9)
    f /= np.linalg.norm(f, axis=1, keepdims=True) + 1e-9
    n = len(f)
    half = max(1, int(round(kernel_seconds * rate)))
    if n < 2 * half + 1:
        return np.zeros(n)
    # The band S[i, i + d] of the self-similarity matrix for |d| <= 2 * half.
    offsets = np.arange(-2 * half, 2 * half + 1)
    band = np.zeros((n, len(offsets)))
    for k, d in enumerate(offsets):
        lo, hi = max(0, -d), min(n, n - d)
        band[lo:hi, k] = np.sum(f[lo:hi] * f[lo + d : hi + d], axis=1)
    # Checkerboard kernel with a Gaussian taper: +1 past-past and future-future, -1 across.
    a = np.arange(-half, half + 1)
    sign = np.sign(a + 0.5)  # the diagonal element joins the future side
    taper = np.exp(-0.5 * (a / (0.5 * half)) ** 2)
    kernel = np.outer(sign * taper, sign * taper)
    novelty = np.zeros(n)
    centre = 2 * half
    for i, da in enumerate(a):
        for j, db in enumerate(a):
            # S[t + da, t + db] = band[t + da, db - da]
            column = band[:, centre + db - da]
            novelty[half : n - half] += kernel[i, j] * column[half + da : n - half + da]
    return np.clip(novelty, 0, None)


def find_boundaries(novelty: NDArray, rate: float, *, min_gap: float = MIN_GAP_SECONDS) -> NDArray[np.float64]:
    """Seconds of the novelty's clear peaks: at least `min_gap` apart, and standing out from the
    curve (above its mean plus one standard deviation, and a fifth of its maximum)."""
    # Imported here: a render imports this module but needs no scipy.ndimage (~40 MB of RSS).
    from scipy.ndimage import gaussian_filter1d

    x = gaussian_filter1d(np.asarray(novelty, dtype=np.float64), max(1.0, 0.1 * rate))
    if not np.any(x > 0):
        return np.zeros(0)
    height = max(x.mean() + x.std(), 0.2 * x.max())
    from scipy.signal import find_peaks  # scipy.signal takes a second to import: scripts load without it

    peaks, _ = find_peaks(x, height=height, distance=max(1, int(round(min_gap * rate))))
    return peaks / rate


__all__ = ["find_boundaries", "novelty_curve"]
