"""Tracks: per-frame values that compose (no torch).

A track gives its values for any frames and says how far around a frame it looks (its `radius`):
a keyframe path looks at nothing but the frame itself, a Gaussian smoothing of it looks `r` frames
either side. A value never depends on which other frames are asked for at the same time, so a
video evaluated chunk by chunk gets exactly the values of one whole evaluation.

Transforms wrap tracks (`Smoothed(track, ...)`, `Lagged(track, lag)`, ...), so a new per-frame
control, an audio envelope or a camera move, is a new Track and plugs into the Timeline by name.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from renderer.plan.paths import KeyframePath, renormalize
from renderer.plan.smoothing import gaussian_radius, smooth_frames


@runtime_checkable
class Track(Protocol):
    """Values at frame positions float64 [n] -> [n, ...]; each reads at most `radius` frames around it."""

    radius: int

    def __call__(self, frames: NDArray[np.float64]) -> NDArray: ...


class Column:
    """One column of a track of vectors: [n, ...] -> [n] (a scalar track kept as [K, 1] keys)."""

    def __init__(self, track: Track, index: int = 0) -> None:
        self.track, self.index, self.radius = track, index, track.radius

    def __call__(self, frames: NDArray[np.float64]) -> NDArray:
        return self.track(frames)[:, self.index]


class Stacked:
    """Scalar tracks side by side: [n] each -> [n, K]."""

    def __init__(self, tracks: Sequence[Track]) -> None:
        self.tracks = list(tracks)
        self.radius = max(track.radius for track in self.tracks)

    def __call__(self, frames: NDArray[np.float64]) -> NDArray:
        return np.stack([track(frames) for track in self.tracks], axis=1)


class Lagged:
    """The track `lag` frames late: it reaches each of its values `lag` frames after the original."""

    def __init__(self, track: Track, lag: float) -> None:
        self.track, self.lag = track, float(lag)
        self.radius = track.radius + int(np.ceil(abs(self.lag)))

    def __call__(self, frames: NDArray[np.float64]) -> NDArray:
        return self.track(frames - self.lag)


class LayerGroups:
    """A w+ track [n, num_ws, w_dim] assembled from tracks of groups of layers (lags, for example)."""

    def __init__(self, shape: tuple[int, ...], groups: Sequence[tuple[NDArray[np.int64], Track]]) -> None:
        self.shape, self.groups = shape, list(groups)  # shape: (num_ws, w_dim)
        self.radius = max(track.radius for _, track in self.groups)

    def __call__(self, frames: NDArray[np.float64]) -> NDArray:
        out = np.empty((len(frames), *self.shape))
        for layers, track in self.groups:
            out[:, layers] = track(frames)
        return out


class PcaRestricted:
    """A path whose deviation from the straight line between keyframes is kept to a subspace.

    `line + ((path - line) @ basis) @ basis.T`, basis [D, k] orthonormal: the keyframes (where path
    and line meet) are still reached exactly.
    """

    def __init__(self, path: Track, line: Track, basis: NDArray[np.float64]) -> None:
        self.path, self.line, self.basis = path, line, basis
        self.radius = max(path.radius, line.radius)

    def __call__(self, frames: NDArray[np.float64]) -> NDArray:
        line = self.line(frames)
        deviation = (self.path(frames) - line) @ self.basis
        return line + deviation @ self.basis.T


class Renormalized:
    """Every vector of a track rescaled to the norm another (scalar) track gives."""

    def __init__(self, track: Track, norms: Track) -> None:
        self.track, self.norms = track, norms
        self.radius = max(track.radius, norms.radius)

    def __call__(self, frames: NDArray[np.float64]) -> NDArray:
        return renormalize(self.track(frames), self.norms(frames))


class Smoothed:
    """Gaussian smoothing over time (sigma in frames), exact in any chunking (renderer.plan.smoothing).

    Frames must be whole; each run of consecutive frames is smoothed from its own window.
    """

    def __init__(self, track: Track, *, sigma: float, num_frames: int, loop: bool) -> None:
        self.track, self.sigma, self.num_frames, self.loop = track, sigma, num_frames, loop
        self.radius = track.radius + gaussian_radius(sigma)

    def __call__(self, frames: NDArray[np.float64]) -> NDArray:
        whole = np.asarray(frames).astype(np.int64)
        runs = np.split(whole, np.flatnonzero(np.diff(whole) != 1) + 1)
        parts = [
            smooth_frames(self._sample, int(run[0]), int(run[-1]) + 1, sigma=self.sigma,
                          num_frames=self.num_frames, loop=self.loop)
            for run in runs
        ]
        return np.concatenate(parts)

    def _sample(self, indices: NDArray[np.int64]) -> NDArray:
        return self.track(indices.astype(np.float64))


class Pinned:
    """A smoothed track bent back through its keyframes' unsmoothed values.

    What smoothing moved each keyframe by is measured once, at construction, and added back as a
    pchip curve through those errors (zero error stays zero), so keyframes are reached again.
    """

    def __init__(
        self, smoothed: Track, raw: Track, key_frames: NDArray[np.float64], *, num_frames: int, loop_period: float | None
    ) -> None:
        self.smoothed = smoothed
        self.radius = smoothed.radius
        keys = key_frames.astype(np.int64)
        # One keyframe at a time, each smoothed from its own window. A keyframe at the end time
        # (the path heads to it; no frame shows it) has nothing to pin.
        error = raw(keys.astype(np.float64))
        for i, k in enumerate(keys):
            error[i] = error[i] - smoothed(np.array([k], dtype=np.float64))[0] if k < num_frames else 0.0
        self.error_shape = error.shape[1:]
        segments = len(keys) if loop_period is not None else len(keys) - 1
        self.correction = KeyframePath(
            key_frames, error.reshape(len(error), -1), interpolation=["pchip"] * segments,
            easing=["linear"] * segments, loop_period=loop_period,
        )

    def __call__(self, frames: NDArray[np.float64]) -> NDArray:
        values = self.smoothed(frames)
        return values + self.correction(frames).reshape(len(frames), *self.error_shape)


class Rounded:
    """Whole, non-negative values of a track (a layer count such as the truncation cutoff): int64."""

    def __init__(self, track: Track) -> None:
        self.track, self.radius = track, track.radius

    def __call__(self, frames: NDArray[np.float64]) -> NDArray:
        return np.clip(np.rint(self.track(frames)), 0, None).astype(np.int64)


__all__ = ["Column", "LayerGroups", "Lagged", "PcaRestricted", "Pinned", "Renormalized", "Rounded", "Smoothed", "Stacked", "Track"]
