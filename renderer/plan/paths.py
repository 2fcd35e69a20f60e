"""Per-frame tracks from keyframes: easing, lerp, slerp, splines and loops (no torch).

A track is sampled at float frame positions. Segment i runs from key i to key i + 1; a looping track has
one more, closing segment from the last key back to the first, placed one loop period after it. Each
segment has its own interpolation kind and easing, so a script can override either per keyframe.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal, get_args

import numpy as np
from numpy.typing import NDArray

Interpolation = Literal["hold", "linear", "slerp", "cubic", "catmull-rom", "pchip"]
Easing = Literal["linear", "ease-in", "ease-out", "ease-in-out", "smoothstep"]
INTERPOLATIONS: tuple[str, ...] = get_args(Interpolation)
EASINGS: tuple[str, ...] = get_args(Easing)
SPLINES: frozenset[str] = frozenset({"cubic", "catmull-rom", "pchip"})

# Below this angle (radians) the great circle between two directions is numerically meaningless, and lerp
# differs from slerp by far less than float32 rounding of the latents.
PARALLEL_ANGLE = 1e-6


def _ease_in_out(u: NDArray) -> NDArray:
    return np.where(u < 0.5, 2.0 * u * u, 1.0 - 2.0 * (1.0 - u) ** 2)


# Easings by name: each maps [0, 1] onto [0, 1], monotone non-decreasing, fixing 0 and 1.
EASE: dict[str, Callable[[NDArray], NDArray]] = {
    "linear": lambda u: u,
    "ease-in": lambda u: u * u,
    "ease-out": lambda u: 1.0 - (1.0 - u) ** 2,
    "ease-in-out": _ease_in_out,
    "smoothstep": lambda u: u * u * (3.0 - 2.0 * u),
}
assert tuple(EASE) == EASINGS, "the Easing type lists the EASE table's names"


def ease(u: NDArray, kind: Easing) -> NDArray:
    """Warp a segment parameter with the easing `kind` (a name in EASE).

    Args:
        u: float [...] segment parameter in [0, 1]; values outside are clipped, so rounding just past an
            end can never leave the segment.
        kind: one of EASINGS.

    Returns:
        float64 [...], same shape as u.
    """
    if kind not in EASE:
        raise ValueError(f"unknown easing {kind!r}; expected one of {', '.join(EASINGS)}")
    return EASE[kind](np.clip(np.asarray(u, dtype=np.float64), 0.0, 1.0))


def slerp(a: NDArray, b: NDArray, t: NDArray) -> NDArray:
    """Spherical interpolation of direction with linear interpolation of norm.

    The direction moves at constant angular speed along the great circle from a/|a| to b/|b|; the norm
    goes linearly from |a| to |b|, so equal norms are preserved. Fallbacks, all to plain lerp: a zero
    vector, directions closer than PARALLEL_ANGLE, and exactly opposite directions when D == 1. For
    (nearly) opposite directions with D >= 2 the plane is undefined, so the path turns through a fixed
    perpendicular: the unit basis vector on which a/|a| has its smallest component (lowest index on
    ties), with its a-component removed. That choice depends only on a, so the path is deterministic.

    Args:
        a: float [D] start point.
        b: float [D] end point.
        t: float [T] parameters in [0, 1]; t == 0 returns a and t == 1 returns b exactly.

    Returns:
        float64 [T, D].
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    if a.ndim != 1 or a.shape != b.shape:
        raise ValueError(f"slerp needs two vectors of the same length, got shapes {a.shape} and {b.shape}")
    if t.ndim != 1:
        raise ValueError(f"slerp needs t as a 1-D array, got shape {t.shape}")
    rows = (len(t), len(a))
    return _slerp_rows(np.broadcast_to(a, rows), np.broadcast_to(b, rows), t)


def _slerp_rows(a: NDArray, b: NDArray, t: NDArray) -> NDArray:
    """slerp of many row pairs, each with its own parameter: a, b [N, D], t [N] -> [N, D]."""
    t = t[:, None]
    lerp = (1.0 - t) * a + t * b
    norm_a = np.linalg.norm(a, axis=-1, keepdims=True)
    norm_b = np.linalg.norm(b, axis=-1, keepdims=True)
    nonzero = (norm_a > 0) & (norm_b > 0)
    unit_a = a / np.where(nonzero, norm_a, 1.0)
    unit_b = b / np.where(nonzero, norm_b, 1.0)
    # 2 atan2(|a-b|, |a+b|) keeps full precision near 0 and pi, where arccos of the dot product does not.
    omega = 2.0 * np.arctan2(
        np.linalg.norm(unit_a - unit_b, axis=-1, keepdims=True),
        np.linalg.norm(unit_a + unit_b, axis=-1, keepdims=True),
    )
    # The part of b orthogonal to a spans the plane of the great circle together with a.
    ortho = unit_b - np.sum(unit_a * unit_b, axis=-1, keepdims=True) * unit_a
    opposite = nonzero & (omega > np.pi - PARALLEL_ANGLE)
    if a.shape[-1] >= 2 and opposite.any():
        rows = opposite[:, 0]
        ortho[rows] = _perpendicular(unit_a[rows])
    ortho_norm = np.linalg.norm(ortho, axis=-1, keepdims=True)
    ortho = ortho / np.where(ortho_norm > 0, ortho_norm, 1.0)
    direction = np.cos(t * omega) * unit_a + np.sin(t * omega) * ortho
    out = ((1.0 - t) * norm_a + t * norm_b) * direction
    use_lerp = ~nonzero | (omega < PARALLEL_ANGLE) | (opposite & (a.shape[-1] < 2))
    out = np.where(use_lerp, lerp, out)
    # Pin the ends: keyframes must be reached bit for bit, whatever the trigonometry rounds to.
    out = np.where(t == 0.0, a, out)
    return np.where(t == 1.0, b, out)


def _perpendicular(unit: NDArray) -> NDArray:
    """A unit vector orthogonal to each row of unit [M, D] (D >= 2), chosen deterministically."""
    # On the axis where the row is smallest |component| <= 1/sqrt(D), so what is left has length >= 1/sqrt(2).
    axis = np.argmin(np.abs(unit), axis=-1)
    basis = np.zeros_like(unit)
    basis[np.arange(len(unit)), axis] = 1.0
    perp = basis - np.take_along_axis(unit, axis[:, None], axis=-1) * unit
    return perp / np.linalg.norm(perp, axis=-1, keepdims=True)


def sample_track(
    key_frames: NDArray,
    key_values: NDArray,
    frames: NDArray,
    *,
    interpolation: Sequence[Interpolation],
    easing: Sequence[Easing],
    loop_period: float | None = None,
) -> NDArray:
    """Sample a keyframed track at arbitrary frame positions (a KeyframePath built for one call).

    Within segment i at local parameter u = (f - k_i) / (k_{i+1} - k_i), the easing gives u' = ease(u) and
    the segment's kind is evaluated at u': hold -> v_i; linear -> (1 - u') v_i + u' v_{i+1}; slerp ->
    slerp on the last axis (each w vector of a [K, num_ws, w_dim] track separately; a scalar track is
    treated as D == 1, which is lerp); cubic / catmull-rom / pchip -> one spline through all keys,
    evaluated at k_i + u' (k_{i+1} - k_i). Keys are reached exactly at their frames whatever the easing.
    Splines: cubic is scipy's CubicSpline, "natural" ends, or "periodic" when looping; pchip is
    PchipInterpolator, extended periodically when looping so value and slope match at the seam;
    catmull-rom is a CubicHermiteSpline with tangents (v_{i+1} - v_{i-1}) / (k_{i+1} - k_{i-1}),
    one-sided at the two end keys, or using the wrapped neighbours when looping. With two keys and no
    loop all three splines are the straight line between them, as linear (easing still applies).
    Without a loop, frames before the first key hold its value and frames after the last key hold the
    last value. With a loop every frame f is first wrapped to k_0 + ((f - k_0) mod loop_period).

    Args:
        key_frames: float [K] strictly increasing frame positions of the keys.
        key_values: float [K, ...] values at the keys, any trailing shape (e.g. [K, num_ws, w_dim]).
        frames: float [T] positions to sample, any order, repeats allowed.
        interpolation: one kind per segment (K - 1 segments, or K when looping); see INTERPOLATIONS.
        easing: one easing per segment, same length; see EASINGS.
        loop_period: None for an open track; else the period in frames, longer than k_{K-1} - k_0.

    Returns:
        float64 [T, ...] samples, trailing shape as key_values.

    Raises:
        ValueError: keys not strictly increasing or not matching key_values, wrong number of kinds or
            easings for the segments, an unknown kind, or a loop_period not longer than the key span.
    """
    return KeyframePath(key_frames, key_values, interpolation=interpolation, easing=easing, loop_period=loop_period)(frames)


class KeyframePath:
    """A keyframed track, built once (checked, splines fitted) and sampled at any frame positions.

    Args and behaviour as `sample_track`; `radius` is 0, since every value is a pure function of
    its own frame position (a Track, see renderer.plan.tracks).
    """

    radius = 0

    def __init__(
        self,
        key_frames: NDArray,
        key_values: NDArray,
        *,
        interpolation: Sequence[Interpolation],
        easing: Sequence[Easing],
        loop_period: float | None = None,
    ) -> None:
        keys, values, _ = _check_track(key_frames, key_values, np.zeros(0), loop_period)
        self.num_segments = len(keys) if loop_period is not None else len(keys) - 1
        self.kinds = _kind_codes("interpolation", interpolation, INTERPOLATIONS, self.num_segments)
        self.easings = _kind_codes("easing", easing, EASINGS, self.num_segments)
        self.keys, self.values, self.loop_period = keys, values, loop_period
        if loop_period is not None:
            self.knots = np.append(keys, keys[0] + loop_period)
            self.knot_values = np.concatenate([values, values[:1]])
        else:
            self.knots, self.knot_values = keys, values
        used = {INTERPOLATIONS[code] for code in np.unique(self.kinds)} if len(keys) > 1 else set()
        self.splines = {kind: _build_spline(kind, self.knots, self.knot_values, loop_period) for kind in used & SPLINES}

    def __call__(self, frames: NDArray) -> NDArray:
        """float64 [T, ...] samples at the frame positions float [T]."""
        frames = _check_frames(frames)
        keys, values, knots, loop_period = self.keys, self.values, self.knots, self.loop_period
        if len(keys) == 1:
            return np.broadcast_to(values[0], (len(frames),) + values.shape[1:]).copy()
        if loop_period is not None:
            # Frames already in the first period are used as given, so no rounding can move one across a key.
            in_first = (frames >= keys[0]) & (frames < knots[-1])
            positions = np.where(in_first, frames, keys[0] + np.mod(frames - keys[0], loop_period))
            # mod can round a tiny negative offset up to the full period; that point is key 0.
            positions = np.where(positions >= knots[-1], keys[0], positions)
        else:
            positions = frames

        segment = np.clip(np.searchsorted(knots, positions, side="right") - 1, 0, self.num_segments - 1)
        u = np.clip((positions - knots[segment]) / (knots[segment + 1] - knots[segment]), 0.0, 1.0)
        easings = self.easings[segment]
        for code in np.unique(easings):
            warped = easings == code
            u[warped] = ease(u[warped], EASINGS[code])

        out = np.empty((len(frames),) + values.shape[1:])
        kinds = self.kinds[segment]
        for code in np.unique(kinds):
            chosen = kinds == code
            out[chosen] = self._sample_segments(INTERPOLATIONS[code], segment[chosen], u[chosen])
        if loop_period is None:
            out[frames <= keys[0]] = values[0]
            out[frames >= keys[-1]] = values[-1]
        return out

    def _sample_segments(self, kind: str, segment: NDArray, u: NDArray) -> NDArray:
        """One interpolation kind at eased parameters u [N] of segments segment [N] -> [N, ...]."""
        if kind in self.splines:
            knots = self.knots
            return self.splines[kind](knots[segment] + u * (knots[segment + 1] - knots[segment]))
        return SEGMENT_SAMPLERS[kind](self.knot_values[segment], self.knot_values[segment + 1], u)


def lerp_track(
    key_frames: NDArray,
    key_values: NDArray,
    frames: NDArray,
    *,
    easing: Sequence[Easing],
    loop_period: float | None = None,
) -> NDArray:
    """The straight-line track through the keys: sample_track with every segment "linear".

    Args:
        key_frames: float [K] strictly increasing key positions.
        key_values: float [K, ...] values at the keys.
        frames: float [T] positions to sample.
        easing: one easing per segment (K - 1, or K when looping).
        loop_period: None, or the loop period in frames.

    Returns:
        float64 [T, ...].
    """
    if isinstance(easing, str):
        raise ValueError(f"easing must be a sequence with one easing per segment, not the string {easing!r}")
    return sample_track(
        key_frames,
        key_values,
        frames,
        interpolation=["linear"] * len(easing),
        easing=easing,
        loop_period=loop_period,
    )


def renormalize(x: NDArray, norms: NDArray) -> NDArray:
    """Rescale each vector on the last axis to a given norm; zero vectors stay zero.

    Args:
        x: float [T, ..., D] vectors.
        norms: float [T, ...] target norms, x.shape without its last axis.

    Returns:
        float64 [T, ..., D].
    """
    x = np.asarray(x, dtype=np.float64)
    norms = np.asarray(norms, dtype=np.float64)
    if norms.shape != x.shape[:-1]:
        raise ValueError(f"norms must have shape {x.shape[:-1]} (x without its last axis), got {norms.shape}")
    current = np.linalg.norm(x, axis=-1, keepdims=True)
    # Divide first: norms / current could overflow for tiny vectors, x / current cannot.
    unit = np.divide(x, current, out=np.zeros_like(x), where=current > 0)
    return unit * norms[..., None]


def _check_track(
    key_frames: NDArray, key_values: NDArray, frames: NDArray, loop_period: float | None
) -> tuple[NDArray, NDArray, NDArray]:
    """Validate and convert a track's arrays to float64: keys [K], values [K, ...], frames [T]."""
    keys = np.asarray(key_frames, dtype=np.float64)
    values = np.asarray(key_values, dtype=np.float64)
    frames = np.asarray(frames, dtype=np.float64)
    if keys.ndim != 1 or len(keys) == 0:
        raise ValueError(f"key_frames must be a non-empty 1-D array, got shape {keys.shape}")
    if not np.isfinite(keys).all():
        raise ValueError("key_frames must be finite")
    steps = np.diff(keys)
    if (steps <= 0).any():
        i = int(np.argmax(steps <= 0))
        raise ValueError(
            f"key_frames must be strictly increasing: key {i + 1} at frame {keys[i + 1]} "
            f"does not come after key {i} at frame {keys[i]}"
        )
    if values.ndim == 0 or values.shape[0] != len(keys):
        raise ValueError(
            f"key_values must have one row per key: {len(keys)} key_frames but key_values has shape "
            f"{values.shape}"
        )
    frames = _check_frames(frames)
    if loop_period is not None:
        span = keys[-1] - keys[0]
        if not np.isfinite(loop_period) or loop_period <= span:
            raise ValueError(
                f"loop_period {loop_period} must be longer than the keyframe span {span} "
                "so the closing segment from the last key back to the first has positive length"
            )
    return keys, values, frames


def _check_frames(frames: NDArray) -> NDArray:
    frames = np.asarray(frames, dtype=np.float64)
    if frames.ndim != 1:
        raise ValueError(f"frames must be a 1-D array, got shape {frames.shape}")
    if not np.isfinite(frames).all():
        raise ValueError("frames must be finite")
    return frames


def _kind_codes(name: str, kinds: Sequence[str], allowed: tuple[str, ...], num_segments: int) -> NDArray:
    """Check one kind per segment and return their indices into allowed: int [num_segments]."""
    if isinstance(kinds, str):
        raise ValueError(f"{name} must be a sequence with one entry per segment, not the string {kinds!r}")
    kinds = list(kinds)
    if len(kinds) != num_segments:
        raise ValueError(f"{name} has {len(kinds)} entries but the track has {num_segments} segments")
    for i, kind in enumerate(kinds):
        if kind not in allowed:
            raise ValueError(f"unknown {name} {kind!r} for segment {i}; expected one of {', '.join(allowed)}")
    return np.array([allowed.index(kind) for kind in kinds], dtype=np.int64)


def _hold(start: NDArray, end: NDArray, u: NDArray) -> NDArray:
    return start


def _lerp(start: NDArray, end: NDArray, u: NDArray) -> NDArray:
    w = u.reshape((-1,) + (1,) * (start.ndim - 1))
    return (1.0 - w) * start + w * end


def _slerp_last_axis(start: NDArray, end: NDArray, u: NDArray) -> NDArray:
    """slerp every vector on the last axis: start, end [N, ..., D], u [N] -> [N, ..., D]."""
    shape = start.shape if start.ndim > 1 else start.shape + (1,)  # a scalar track is a track of 1-vectors
    dim = shape[-1]
    per_sample = int(np.prod(shape[1:-1], dtype=np.int64))
    rows = _slerp_rows(start.reshape(-1, dim), end.reshape(-1, dim), np.repeat(u, per_sample))
    return rows.reshape(start.shape)


# Segment samplers by name: (start [N, ...], end [N, ...], eased u [N]) -> [N, ...]. The spline
# kinds (SPLINES) see every key, not just the segment's ends, so KeyframePath fits them whole.
SEGMENT_SAMPLERS: dict[str, Callable[[NDArray, NDArray, NDArray], NDArray]] = {
    "hold": _hold,
    "linear": _lerp,
    "slerp": _slerp_last_axis,
}
assert set(SEGMENT_SAMPLERS) | SPLINES == set(INTERPOLATIONS), "the Interpolation type lists every sampler"


def _build_spline(
    kind: str, knots: NDArray, knot_values: NDArray, loop_period: float | None
) -> Callable[[NDArray], NDArray]:
    """The spline of one kind through all keys (with the closing key when looping), along axis 0."""
    # Imported here: scipy.interpolate takes about as long to import as the rest of the script
    # layer, and `presets` or `validate` read scripts without building a path.
    from scipy.interpolate import CubicHermiteSpline, CubicSpline, PchipInterpolator

    if kind == "cubic":
        bc_type = "natural" if loop_period is None else "periodic"
        return CubicSpline(knots, knot_values, axis=0, bc_type=bc_type)
    if kind == "catmull-rom":
        tangents = _catmull_rom_tangents(knots, knot_values, loop_period)
        return CubicHermiteSpline(knots, knot_values, tangents, axis=0)
    if kind == "pchip":
        if loop_period is None:
            return PchipInterpolator(knots, knot_values, axis=0)
        # PCHIP's slope at a knot depends only on the secants to its two neighbours, so one periodic copy
        # on each side gives the seam knots the same neighbours as any other knot: value and slope match.
        times = np.concatenate([knots[:-1] - loop_period, knots, knots[1:] + loop_period])
        values = np.concatenate([knot_values[:-1], knot_values, knot_values[1:]])
        return PchipInterpolator(times, values, axis=0)
    raise ValueError(f"{kind!r} is not a spline kind; expected one of {', '.join(sorted(SPLINES))}")


def _catmull_rom_tangents(knots: NDArray, knot_values: NDArray, loop_period: float | None) -> NDArray:
    """Catmull-Rom tangents (v_{i+1} - v_{i-1}) / (k_{i+1} - k_{i-1}) at every knot: [S + 1, ...]."""
    if loop_period is None:
        # Repeating each end key turns the central difference there into the one-sided one.
        times = np.concatenate([knots[:1], knots, knots[-1:]])
        values = np.concatenate([knot_values[:1], knot_values, knot_values[-1:]])
    else:
        # knots[-1] is key 0 again, so the neighbours beyond the ends are key K-1 and key 1, shifted.
        times = np.concatenate([knots[-2:-1] - loop_period, knots, knots[1:2] + loop_period])
        values = np.concatenate([knot_values[-2:-1], knot_values, knot_values[1:2]])
    dt = (times[2:] - times[:-2]).reshape((-1,) + (1,) * (values.ndim - 1))
    return (values[2:] - values[:-2]) / dt
