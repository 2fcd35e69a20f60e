"""Even pacing: re-time a path so that the picture changes at a target rate (no torch).

A path that is smooth in latent space is not smooth in image space: the generator crawls through
some stretches and lurches through others. The measuring pass (renderer.frames.pacing) samples the
path densely, synthesises a cheap image at each sample and measures the image distance between
consecutive samples; `ArcLength` holds the running sum, the path's length as the viewer sees it.

`FrameWarp` inverts that length per keyframe segment: output frame f is sent to the path position
whose arc length is the segment's share of the target, so equal frame steps make equal image steps.
The path's shape is kept (only where each frame sits on it changes), and keyframes stay on their
frames. Two inputs shape the target:

- easing: applied to the arc-length fraction instead of the latent parameter;
- a target speed curve [T] (default flat): the picture changes in proportion to it, frame by frame,
  so an audio "speed" reaction and even pacing combine (the curve sets the rate, the measured arc
  length makes the rate come out in pixels, not in latent units).

`walk_key_frames` offers the other mode, where keyframe times may move: they are spread by arc
length so the whole walk, not each segment, changes at the target rate.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Literal, get_args

import numpy as np
from numpy.typing import NDArray

from renderer.plan.paths import Easing, ease

Pace = Literal["latent", "even", "even-walk"]
PACES: tuple[str, ...] = get_args(Pace)
PACE_DISTANCES = ("pixel", "features")  # or the path of a perceptual network (.pt)

# Image steps smaller than this fraction of the mean step count as this much, so the arc length is
# strictly increasing and its inverse well defined where the picture stands still.
MIN_STEP = 1e-9


@dataclasses.dataclass(frozen=True)
class ArcLength:
    """A path's length as the viewer sees it, measured at sample positions.

    positions: float64 [N] path positions in frames, strictly increasing (the keyframes among them)
    length: float64 [N] cumulative image distance from positions[0]: length[0] == 0, increasing
    """

    positions: NDArray[np.float64]
    length: NDArray[np.float64]

    def __post_init__(self) -> None:
        p, s = self.positions, self.length
        if p.ndim != 1 or s.shape != p.shape or len(p) < 2:
            raise ValueError(f"an arc length needs matching 1-D positions and lengths (>= 2), got {p.shape} and {s.shape}")
        if not (np.isfinite(p).all() and np.isfinite(s).all()):
            raise ValueError("arc length positions and lengths must be finite")
        if np.any(np.diff(p) <= 0):
            raise ValueError("arc length positions must be strictly increasing")
        if s[0] != 0 or np.any(np.diff(s) <= 0):
            raise ValueError("arc length must start at 0 and increase")

    @classmethod
    def from_steps(cls, positions: NDArray, steps: NDArray) -> ArcLength:
        """The arc length from the distances between consecutive samples.

        Args:
            positions: float [N] strictly increasing sample positions (frames)
            steps: float [N - 1] image distance from each sample to the next, >= 0
        """
        positions = np.asarray(positions, dtype=np.float64)
        steps = np.asarray(steps, dtype=np.float64)
        if steps.shape != (len(positions) - 1,):
            raise ValueError(f"{len(positions)} positions need {len(positions) - 1} steps, got shape {steps.shape}")
        if not np.isfinite(steps).all() or np.any(steps < 0):
            raise ValueError("image steps must be finite and >= 0")
        floor = MIN_STEP * max(float(steps.mean()) if len(steps) else 0.0, 1e-12)
        return cls(positions, np.concatenate([[0.0], np.cumsum(np.maximum(steps, floor))]))

    def refined(self, frames: NDArray, chords: NDArray) -> ArcLength:
        """The arc length corrected by distances measured between consecutive frames.

        Summed small steps are not what a viewer sees: consecutive frames are compared whole, and
        a pixel that goes and comes back between them counts for nothing. Given the path positions
        of the paced frames and the image distance from each to the next, each interval between
        two frames takes that distance as its length, shared among its samples as before.

        Args:
            frames: float [M] strictly increasing path positions of frames (inside the samples)
            chords: float [M - 1] image distance from each frame to the next, >= 0
        """
        frames = np.asarray(frames, dtype=np.float64)
        chords = np.asarray(chords, dtype=np.float64)
        if chords.shape != (len(frames) - 1,) or not np.isfinite(chords).all() or np.any(chords < 0):
            raise ValueError(f"{len(frames)} frames need {len(frames) - 1} finite distances >= 0, got shape {chords.shape}")
        positions = np.union1d(self.positions, frames)
        inside = (positions >= frames[0]) & (positions <= frames[-1])
        old = self.at(positions)
        at_frames = self.at(frames)
        interval = np.clip(np.searchsorted(frames, positions, side="right") - 1, 0, len(frames) - 2)
        share = (old - at_frames[interval]) / (at_frames[interval + 1] - at_frames[interval])
        start = np.concatenate([[0.0], np.cumsum(chords)])
        length = np.where(inside, start[interval] + share * chords[interval], 0.0)
        # Outside the frames the old steps stay, joined on at either end.
        below, above = positions < frames[0], positions > frames[-1]
        length[below] = old[below] - at_frames[0]
        length[above] = start[-1] + old[above] - at_frames[-1]
        steps = np.diff(length)
        return ArcLength.from_steps(positions, steps)

    def at(self, positions: NDArray) -> NDArray[np.float64]:
        """The arc length at any positions inside the samples (linear between them)."""
        return np.interp(np.asarray(positions, dtype=np.float64), self.positions, self.length)


def sample_positions(knots: NDArray, samples_per_frame: int) -> NDArray[np.float64]:
    """Where the measuring pass samples a path: `samples_per_frame` per frame of every segment.

    Args:
        knots: float [S + 1] segment ends in path frames, strictly increasing (a loop's closing
            key, one period after the first, included)
        samples_per_frame: K >= 1
    Returns:
        float64 [N] increasing positions; every knot is among them exactly, every segment of n
        frames has n * K steps (at least one)
    """
    knots = np.asarray(knots, dtype=np.float64)
    if samples_per_frame < 1:
        raise ValueError(f"samples per frame must be >= 1, not {samples_per_frame}")
    if knots.ndim != 1 or len(knots) < 2 or np.any(np.diff(knots) <= 0):
        raise ValueError("knots must be at least two strictly increasing positions")
    parts = [knots[:1]]
    for a, b in zip(knots[:-1], knots[1:], strict=True):
        steps = max(1, int(np.ceil((b - a) * samples_per_frame - 1e-9)))
        inside = np.linspace(a, b, steps + 1)[1:]
        inside[-1] = b  # exactly the knot
        parts.append(inside)
    return np.concatenate(parts)


class SpeedClock:
    """The cumulative target speed Q(f): frame steps weighted by a speed curve (flat: Q(f) = f).

    Args:
        speed: float [T] relative image change from frame j to j + 1 (>= 0; for a loop the last
            entry is the step from the last frame back to the first); None: flat
        num_frames: T
        loop: whether frame T is frame 0 again (Q keeps growing by one period's total per period)
    """

    def __init__(self, speed: NDArray | None, num_frames: int, *, loop: bool) -> None:
        self.flat = speed is None
        if speed is None:
            return
        speed = np.asarray(speed, dtype=np.float64)
        if speed.shape != (num_frames,):
            raise ValueError(f"a speed curve needs one value per frame ({num_frames}), got shape {speed.shape}")
        if not np.isfinite(speed).all() or np.any(speed < 0):
            raise ValueError("a speed curve must be finite and >= 0")
        steps = speed if loop else speed[:-1]
        self.table = np.concatenate([[0.0], np.cumsum(steps)])  # Q at frames 0..len(steps)
        self.period = len(steps) if loop else None

    def __call__(self, frames: NDArray) -> NDArray[np.float64]:
        f = np.asarray(frames, dtype=np.float64)
        if self.flat:
            return f
        table = self.table
        grid = np.arange(len(table), dtype=np.float64)
        if self.period is not None:
            turns = np.floor(f / self.period)
            return turns * table[-1] + np.interp(f - turns * self.period, grid, table)
        # Outside the frames the clock runs on at the edge speed.
        last = len(table) - 1
        inside = np.interp(f, grid, table)
        before = table[0] + (f - 0) * (table[1] - table[0] if last else 1.0)
        after = table[-1] + (f - last) * (table[-1] - table[-2] if last else 1.0)
        return np.where(f < 0, before, np.where(f > last, after, inside))


class FrameWarp:
    """Output frame -> path position, so that the picture changes at the target rate.

    For f in segment i (output frames F_i..F_{i+1}, path positions P_i..P_{i+1}):
    c = (Q(f) - Q(F_i)) / (Q(F_{i+1}) - Q(F_i)) with Q the SpeedClock, then the path position whose
    arc length is L(P_i) + ease_i(c) (L(P_{i+1}) - L(P_i)) (np.interp over the segment's samples).
    F_i == P_i unless keyframes moved (walk_key_frames). Keyframe frames map exactly onto their path
    positions. A segment with no measurable image change is paced linearly. Frames outside an open
    path's keys are shifted with the nearest key (the path holds there). A pure function of each
    frame: exact in any chunking (a Track transform of radius 0).

    Args:
        path_knots: float [K] keyframe positions on the path (strictly increasing)
        arc: the measured ArcLength; every knot (and a loop's closing knot) among its positions
        frame_knots: float [K] the frames that show the keyframes (default path_knots)
        easing: one easing per segment (K - 1, or K when looping)
        speed: the target speed clock (default flat)
        loop_period: None for an open path; else the loop period in frames
    """

    radius = 0

    def __init__(
        self,
        path_knots: NDArray,
        arc: ArcLength,
        *,
        frame_knots: NDArray | None = None,
        easing: Sequence[Easing],
        speed: SpeedClock | None = None,
        loop_period: float | None = None,
    ) -> None:
        path = np.asarray(path_knots, dtype=np.float64)
        frames = path if frame_knots is None else np.asarray(frame_knots, dtype=np.float64)
        if path.ndim != 1 or len(path) < 2 or np.any(np.diff(path) <= 0):
            raise ValueError("a frame warp needs at least two strictly increasing path knots")
        if frames.shape != path.shape or np.any(np.diff(frames) <= 0):
            raise ValueError("frame knots must match the path knots and strictly increase")
        if loop_period is not None:
            path = np.append(path, path[0] + loop_period)
            frames = np.append(frames, frames[0] + loop_period)
        segments = len(path) - 1
        if isinstance(easing, str) or len(easing) != segments:
            raise ValueError(f"a frame warp of {segments} segments needs {segments} easings")
        index = np.searchsorted(arc.positions, path)
        if np.any(index >= len(arc.positions)) or np.any(arc.positions[np.minimum(index, len(arc.positions) - 1)] != path):
            raise ValueError("the arc length must be measured at every keyframe position")
        self.path_knots, self.frame_knots, self.loop_period = path, frames, loop_period
        self.easing = list(easing)
        self.arc, self.bounds = arc, index  # segment i's samples are arc[index[i]:index[i + 1] + 1]
        self.clock = speed or SpeedClock(None, 0, loop=False)
        q = self.clock(frames)
        if np.any(np.diff(q) <= 0):
            i = int(np.argmax(np.diff(q) <= 0))
            raise ValueError(f"the speed curve is zero over all of segment {i} (frames {frames[i]:g} to {frames[i + 1]:g})")
        self.q_knots = q

    def __call__(self, frames: NDArray) -> NDArray[np.float64]:
        """float64 [T] path positions of the output frames float [T]."""
        f = np.asarray(frames, dtype=np.float64)
        fk, pk = self.frame_knots, self.path_knots
        if self.loop_period is not None:
            turns = np.floor((f - fk[0]) / self.loop_period)
            local = f - turns * self.loop_period
            local = np.where(local >= fk[-1], fk[0], local)  # rounding up to a full period is the first key
            return self._inside(local) + turns * self.loop_period
        out = self._inside(np.clip(f, fk[0], fk[-1]))
        out = np.where(f < fk[0], pk[0] + (f - fk[0]), out)
        return np.where(f > fk[-1], pk[-1] + (f - fk[-1]), out)

    def _inside(self, f: NDArray[np.float64]) -> NDArray[np.float64]:
        fk, pk = self.frame_knots, self.path_knots
        segment = np.clip(np.searchsorted(fk, f, side="right") - 1, 0, len(fk) - 2)
        q = self.clock(f)
        c = np.clip((q - self.q_knots[segment]) / (self.q_knots[segment + 1] - self.q_knots[segment]), 0.0, 1.0)
        out = np.empty_like(f)
        for i in np.unique(segment):
            rows = segment == i
            fraction = ease(c[rows], self.easing[i])
            lo, hi = self.bounds[i], self.bounds[i + 1] + 1
            length = self.arc.length[lo:hi]
            target = length[0] + fraction * (length[-1] - length[0])
            out[rows] = np.interp(target, length, self.arc.positions[lo:hi])
        # Keyframes exactly on their frames, whatever interpolation rounds to.
        on_key = np.searchsorted(fk, f)
        hit = (on_key < len(fk)) & (fk[np.minimum(on_key, len(fk) - 1)] == f)
        out[hit] = pk[on_key[hit]]
        return out

    def key_frames(self) -> NDArray[np.float64]:
        """float64 [K] the frames that show the keyframes."""
        return self.frame_knots[: len(self.frame_knots) - (self.loop_period is not None)]


def walk_key_frames(
    path_knots: NDArray,
    arc: ArcLength,
    *,
    speed: SpeedClock | None = None,
    loop_period: float | None = None,
) -> NDArray[np.int64]:
    """Keyframe frames that make the whole walk change at the target rate (keyframes may move).

    The first keyframe stays; so does the last of an open path (a loop keeps its period). The others
    move to the whole frame where the target clock reaches their share of the walk's arc length,
    at least one frame after the keyframe before (and before the end).

    Args:
        path_knots: float [K] the keyframes' positions on the path (and their frames as written)
        arc: the measured ArcLength over the whole walk (a loop's closing knot included)
        speed: the target speed clock (default flat)
        loop_period: None for an open path; else the loop period in frames
    Returns:
        int64 [K] strictly increasing frames
    """
    path = np.asarray(path_knots, dtype=np.float64)
    end = path[-1] if loop_period is None else path[0] + loop_period
    share = (arc.at(np.append(path, end)) - arc.at(path[:1])) / (arc.at([end])[0] - arc.at(path[:1])[0])
    clock = speed or SpeedClock(None, 0, loop=False)
    grid = np.arange(path[0], end + 1)
    q = clock(grid)
    target = q[0] + share * (q[-1] - q[0])
    frames = np.rint(np.interp(target, q, grid)).astype(np.int64)[: len(path)]
    frames[0] = int(path[0])
    if loop_period is None:
        frames[-1] = int(path[-1])
    last = int(end) - (0 if loop_period is None else 1)
    for i in range(1, len(frames)):  # at least one frame per segment, room left for the rest
        frames[i] = min(max(frames[i], frames[i - 1] + 1), last - (len(frames) - 1 - i))
    return frames


__all__ = [
    "PACES",
    "PACE_DISTANCES",
    "ArcLength",
    "FrameWarp",
    "Pace",
    "SpeedClock",
    "sample_positions",
    "walk_key_frames",
]
