"""Shape a per-frame feature into a control signal: normalise, gamma, attack/decay, smooth, clip.

Every step works on a whole feature [T] (or a vector feature [T, C] such as chroma: normalised as
one, so the columns keep their proportions; the later steps act on each column) sampled at `fps`; times
are in seconds, so a shape does not depend on the frame rate. `shape_envelope` applies them in a
fixed order: percentile normalisation to [0, 1], gamma, attack/decay, Gaussian smoothing, clip.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from numpy.typing import NDArray

TRUNCATE = 4.0  # the Gaussian reaches 4 sigma each way, as renderer.plan.smoothing


@dataclasses.dataclass(frozen=True)
class EnvelopeSettings:
    """How a feature becomes an envelope (see shape_envelope); times in seconds."""

    percentile: float = 99.0  # the value that becomes 1 (0 stays 0); 100: the maximum
    gamma: float = 1.0  # > 1 keeps only strong hits, < 1 lifts quiet passages
    attack: float = 0.0  # rise time constant; 0: instant
    decay: float = 0.0  # release time constant; 0: instant (a hit lasts one frame)
    smooth: float = 0.0  # Gaussian sigma
    causal: bool = False  # smoothing sees only the past (no look-ahead)
    clip: bool = True  # clip the result to [0, 1]


def normalize(x: NDArray, percentile: float = 99.0) -> NDArray[np.float64]:
    """x / (its `percentile`-th percentile over all values), so the percentile becomes 1 and 0 stays 0;
    when that percentile is 0 (a sparse feature), x / its maximum; all zero stays zero."""
    x = np.asarray(x, dtype=np.float64)
    if x.size == 0:
        return x.copy()
    scale = float(np.percentile(x, percentile))
    scale = scale if scale > 0 else float(np.max(x))
    return x / scale if scale > 0 else np.zeros_like(x)


def attack_decay(x: NDArray, *, fps: float, attack: float = 0.0, decay: float = 0.0) -> NDArray[np.float64]:
    """A peak follower: moves toward a rising input with time constant `attack` and toward a falling
    one with `decay` (seconds); 0 follows at once. Causal by nature: fast rise, slow release."""
    x = np.asarray(x, dtype=np.float64)
    if attack <= 0 and decay <= 0:
        return x.copy()
    up = 1.0 - math.exp(-1.0 / (attack * fps)) if attack > 0 else 1.0
    down = 1.0 - math.exp(-1.0 / (decay * fps)) if decay > 0 else 1.0
    flat = x.reshape(len(x), -1)
    out = np.empty_like(flat)
    y = flat[0].copy() if len(flat) else None
    for i in range(len(flat)):
        step = flat[i] - y
        y = y + np.where(step > 0, up, down) * step
        out[i] = y
    return out.reshape(x.shape)


def smooth(x: NDArray, sigma: float, *, fps: float, causal: bool = False) -> NDArray[np.float64]:
    """Gaussian smoothing with sigma in seconds; causal uses the kernel's past half only (a lag of
    about 0.8 sigma, no look-ahead). Edges repeat the first/last value."""
    x = np.asarray(x, dtype=np.float64)
    s = sigma * fps
    radius = int(TRUNCATE * s + 0.5) if s > 0 else 0
    if radius == 0 or len(x) < 2:  # a kernel narrower than a frame changes nothing
        return x.copy()
    if not causal:
        # Imported here: a render imports this module but needs no scipy.ndimage (~40 MB of RSS).
        from scipy.ndimage import gaussian_filter1d

        return gaussian_filter1d(x, s, axis=0, truncate=TRUNCATE, mode="nearest")
    kernel = np.exp(-0.5 * (np.arange(radius + 1) / s) ** 2)
    kernel /= kernel.sum()
    padded = np.concatenate([np.repeat(x[:1], radius, axis=0), x])
    from scipy.signal import lfilter  # scipy.signal takes a second to import: scripts load without it

    return lfilter(kernel, [1.0], padded, axis=0)[radius:]


def shape_envelope(x: NDArray, settings: EnvelopeSettings, *, fps: float) -> NDArray[np.float64]:
    """The envelope of a non-negative feature [T] or [T, C]: normalised by its percentile, raised to
    gamma, passed through the attack/decay follower, smoothed, and clipped to [0, 1]."""
    y = normalize(x, settings.percentile)
    y = np.clip(y, 0.0, None) ** settings.gamma if settings.gamma != 1.0 else y
    y = attack_decay(y, fps=fps, attack=settings.attack, decay=settings.decay)
    y = smooth(y, settings.smooth, fps=fps, causal=settings.causal)
    return np.clip(y, 0.0, 1.0) if settings.clip else y


__all__ = ["EnvelopeSettings", "attack_decay", "normalize", "shape_envelope", "smooth"]
