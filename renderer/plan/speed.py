"""The audio speed reaction's re-timing of a path between its keyframes: a per-frame speed curve -> monotone frame positions.

A speed curve says how fast the path should advance at each frame (any positive scale). Within
each keyframe segment the position advances in proportion to the speed and is rescaled so the
segment still starts and ends on its keyframes: quiet passages drift, loud ones rush, and every
keyframe stays on its frame. The positions are then sampled by any track (`SpeedWarped`), so a
re-timing is independent of what it re-times: audio-driven speed and other re-timings (an even
pace in image space, say) combine by multiplying their speed curves, or by composing positions
(`compose_positions`), and keyframes stay fixed either way.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from renderer.plan.tracks import Track

MIN_SPEED = 1e-6  # relative to the segment's mean: the position never stalls or runs backwards


def retime(
    speed: NDArray, key_frames: NDArray, *, num_frames: int, loop: bool = False
) -> NDArray[np.float64]:
    """Frame positions [num_frames + 1] of a path re-timed by `speed` between keyframes.

    Args:
        speed: float [num_frames] relative speed at each frame (> 0; smaller values are raised to
            MIN_SPEED times the segment's mean). Frame f to f + 1 advances by the mean of the
            speeds at f and f + 1 (the trapezoid rule), scaled per segment.
        key_frames: [K] strictly increasing whole keyframe frames (the last may be num_frames)
        num_frames: frames in the video
        loop: the closing segment runs from the last keyframe to the first one num_frames later

    Returns:
        float64 [num_frames + 1]: the position to sample at each frame 0..num_frames, strictly
        increasing, equal to f at every keyframe and outside the keyed span (identity there).
    """
    speed = np.asarray(speed, dtype=np.float64)
    keys = np.asarray(key_frames, dtype=np.int64)
    if speed.shape != (num_frames,):
        raise ValueError(f"speed must have one value per frame ({num_frames}), got shape {speed.shape}")
    if not np.isfinite(speed).all():
        raise ValueError("speed must be finite")
    if len(keys) and (np.any(np.diff(keys) <= 0) or keys[0] < 0 or keys[-1] > num_frames):
        raise ValueError(f"key_frames must be strictly increasing whole frames in 0..{num_frames}")
    positions = np.arange(num_frames + 1, dtype=np.float64)
    if len(keys) < (1 if loop else 2):
        return positions
    if loop:
        # Unroll one period: frames k0 .. k0 + num_frames, speed read modulo the period.
        ends = np.append(keys, keys[0] + num_frames)
        frames = np.arange(keys[0], keys[0] + num_frames + 1)
        unrolled = _segment_positions(speed[frames % num_frames], ends - keys[0]) + keys[0]
        positions[frames[frames <= num_frames]] = unrolled[frames <= num_frames]
        wrapped = frames > num_frames  # frames 0 .. k0 - 1 of the next period, shown at their own frame
        positions[frames[wrapped] - num_frames] = unrolled[wrapped] - num_frames
        return positions
    span = np.arange(keys[0], keys[-1] + 1)
    padded = np.append(speed, speed[-1:])  # a keyframe at the end time: the last speed holds
    positions[span] = _segment_positions(padded[span], keys - keys[0]) + keys[0]
    return positions


def _segment_positions(speed: NDArray[np.float64], keys: NDArray[np.int64]) -> NDArray[np.float64]:
    """Positions over frames 0..keys[-1] (speed given there), keys relative to frame 0."""
    out = np.empty(len(speed))
    for a, b in zip(keys[:-1], keys[1:], strict=True):
        s = speed[a : b + 1]
        mean = float(np.mean(np.abs(s))) or 1.0
        s = np.maximum(s, MIN_SPEED * mean)
        steps = 0.5 * (s[1:] + s[:-1])
        progress = np.concatenate([[0.0], np.cumsum(steps)])
        out[a : b + 1] = a + (b - a) * progress / progress[-1]
        out[b] = b  # exactly on the keyframe, whatever the rounding of the sum
    return out


def compose_positions(outer: NDArray, inner: NDArray) -> NDArray[np.float64]:
    """The re-timing `inner` applied after `outer`: frame f samples inner's position at outer[f]
    (both [num_frames + 1] from `retime`); keyframes fixed by both stay fixed."""
    frames = np.arange(len(inner), dtype=np.float64)
    return np.interp(np.asarray(outer, dtype=np.float64), frames, np.asarray(inner, dtype=np.float64))


class SpeedWarped:
    """A track sampled at re-timed positions: frame f shows the track at `positions(f)`.

    positions: [num_frames + 1] from `retime`, linear between whole frames; with `period`
    (looping), frames outside one period wrap and keep their whole periods. Since positions are a
    fixed array, every value is a pure function of its frame: chunked evaluation is exact.
    """

    def __init__(self, track: Track, positions: NDArray, *, period: float | None = None) -> None:
        self.track, self.positions, self.period = track, np.asarray(positions, dtype=np.float64), period
        self.radius = track.radius  # positions move by less than the segment; radius counts frames read by `track`

    def __call__(self, frames: NDArray[np.float64]) -> NDArray:
        return self.track(self.at(frames))

    def at(self, frames: NDArray) -> NDArray[np.float64]:
        """Re-timed positions of frames float [n]."""
        f = np.asarray(frames, dtype=np.float64)
        grid = np.arange(len(self.positions), dtype=np.float64)
        if self.period is None:
            inside = np.interp(f, grid, self.positions)
            return np.where((f < 0) | (f > grid[-1]), f, inside)  # identity beyond the video
        whole = np.floor(f / self.period) * self.period
        return np.interp(f - whole, grid, self.positions) + whole


__all__ = ["MIN_SPEED", "SpeedWarped", "compose_positions", "retime"]
