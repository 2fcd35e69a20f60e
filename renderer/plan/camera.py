"""Camera tracks: a window that pans and zooms over the canvas (no torch).

`zoom` [n] (1: the whole canvas, 2: half of it in each direction, ...) and `pan` [n, 2] (x, y,
each -1 at the left / top edge to 1 at the right / bottom) come from the keyframes' `zoom` and
`pan`, carried over like psi, or from schedules (`tracks.zoom`, `tracks.pan_x`, `tracks.pan_y`).
Zoom is interpolated in log space, so a zoom from 1 to 4 takes as long to double as to double
again. renderer.plan.framing turns them into each frame's window; anything that makes a Track
(an audio envelope, say) can drive them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import NDArray

from renderer.plan.framing import MAX_ZOOM
from renderer.plan.tracks import Track

CAMERA_TRACKS = ("zoom", "pan")


class Exponential:
    """exp of a track: a track keyed in log space (zoom) back in linear units."""

    def __init__(self, track: Track) -> None:
        self.track, self.radius = track, track.radius

    def __call__(self, frames: NDArray[np.float64]) -> NDArray:
        return np.exp(self.track(frames))


class Clipped:
    """A track held inside [low, high] (a spline or a smoothing never leaves the range then)."""

    def __init__(self, track: Track, low: float, high: float) -> None:
        self.track, self.low, self.high, self.radius = track, low, high, track.radius

    def __call__(self, frames: NDArray[np.float64]) -> NDArray:
        return np.clip(self.track(frames), self.low, self.high)


class Stacked:
    """Scalar tracks side by side: [n] each -> [n, k] (pan x and y from two schedules)."""

    def __init__(self, tracks: Sequence[Track]) -> None:
        self.tracks = list(tracks)
        self.radius = max(t.radius for t in self.tracks)

    def __call__(self, frames: NDArray[np.float64]) -> NDArray:
        return np.stack([np.asarray(t(frames), np.float64).reshape(len(frames)) for t in self.tracks], axis=1)


class Constant:
    """One value at every frame."""

    radius = 0

    def __init__(self, value: float) -> None:
        self.value = float(value)

    def __call__(self, frames: NDArray[np.float64]) -> NDArray:
        return np.full(len(frames), self.value)


def camera_tracks(
    zoom_keys: Sequence[float | None],
    pan_keys: Sequence[tuple[float, float] | None],
    anchor: tuple[float, float],
    *,
    keyed: Callable[[NDArray], Track],
    scheduled: Callable[[str, Callable[[NDArray], NDArray]], Track | None],
) -> dict[str, Track]:
    """The "zoom" and "pan" tracks a script asks for (none when it sets neither).

    Args:
        zoom_keys, pan_keys: each keyframe's value, None to carry the previous one over
        anchor: the pan before the first keyframe that sets one (the fit's anchor)
        keyed: a path through the keyframes' values [K, k] -> a Track [n, k]
        scheduled: a schedule's Track by name, its values mapped by the function, or None
    """
    tracks: dict[str, Track] = {}
    zoom = scheduled("zoom", np.log)
    if zoom is None and any(z is not None for z in zoom_keys):
        zoom = keyed(np.log(np.array(_carried(zoom_keys, 1.0)))[:, None])
    if zoom is not None:
        tracks["zoom"] = Clipped(Exponential(_column(zoom)), 1.0, MAX_ZOOM)
    pan_x, pan_y = scheduled("pan_x", _same), scheduled("pan_y", _same)
    pan: Track | None = None
    if pan_x is not None or pan_y is not None:
        pan = Stacked([_column(pan_x) if pan_x else Constant(anchor[0]), _column(pan_y) if pan_y else Constant(anchor[1])])
    elif any(p is not None for p in pan_keys):
        pan = keyed(np.array(_carried(pan_keys, anchor), dtype=np.float64))
    if pan is not None:
        tracks["pan"] = Clipped(pan, -1.0, 1.0)
    return tracks


def _same(values: NDArray) -> NDArray:
    return values


class _FirstColumn:
    def __init__(self, track: Track) -> None:
        self.track, self.radius = track, track.radius

    def __call__(self, frames: NDArray[np.float64]) -> NDArray:
        values = np.asarray(self.track(frames))
        return values.reshape(len(frames), -1)[:, 0]


def _column(track: Track) -> Track:
    """A scalar track [n], whether it gives [n] or [n, 1]."""
    return _FirstColumn(track)


def _carried(values: Sequence[object], default: object) -> list:
    """Each unset (None) value carried over from the one before; `default` before the first."""
    out, current = [], default
    for value in values:
        current = value if value is not None else current
        out.append(current)
    return out


__all__ = ["CAMERA_TRACKS", "Clipped", "Constant", "Exponential", "Stacked", "camera_tracks"]
