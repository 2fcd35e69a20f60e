"""Keyframe tracks: easing, slerp, splines, per-segment kinds and loops (renderer.plan.paths)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numpy.testing import assert_allclose, assert_array_equal
from scipy.interpolate import CubicSpline

from renderer.plan.paths import (
    EASINGS,
    INTERPOLATIONS,
    SPLINES,
    ease,
    lerp_track,
    renormalize,
    sample_track,
    slerp,
)

FAST = settings(max_examples=50, deadline=None)
EVERY_KIND = settings(max_examples=25, deadline=None)  # these check all six kinds per example
# Zero, or within a few orders of magnitude of 1 like real latents: values near the float64 underflow
# only test scipy's and numpy's limits (squares and secant slopes that vanish).
moderate = st.one_of(st.just(0.0), st.floats(1e-6, 10.0), st.floats(-10.0, -1e-6))


def vectors(dim: int) -> st.SearchStrategy[np.ndarray]:
    """Vectors [dim] with entries in [-10, 10]."""
    return hnp.arrays(np.float64, (dim,), elements=moderate)


@st.composite
def tracks(draw: st.DrawFn, *, min_keys: int = 1, trailing: tuple[int, ...] = (2,), loop: bool | None = None):
    """(keys [K], values [K, *trailing], loop_period or None) with key gaps of at least half a frame."""
    num_keys = draw(st.integers(min_keys, 6))
    gaps = draw(st.lists(st.floats(0.5, 20.0), min_size=num_keys - 1, max_size=num_keys - 1))
    keys = draw(st.floats(-50.0, 50.0)) + np.concatenate([[0.0], np.cumsum(gaps)])
    values = draw(hnp.arrays(np.float64, (num_keys,) + trailing, elements=moderate))
    looped = draw(st.booleans()) if loop is None else loop
    period = keys[-1] - keys[0] + draw(st.floats(0.5, 20.0)) if looped else None
    return keys, values, period


def num_segments(keys: np.ndarray, period: float | None) -> int:
    """Segments of a track: one per pair of neighbouring keys, plus the closing one when looping."""
    return len(keys) if period is not None else len(keys) - 1


def angle(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angle between rows of a and b [..., D], precise near 0 and pi."""
    ua = a / np.linalg.norm(a, axis=-1, keepdims=True)
    ub = b / np.linalg.norm(b, axis=-1, keepdims=True)
    return 2.0 * np.arctan2(np.linalg.norm(ua - ub, axis=-1), np.linalg.norm(ua + ub, axis=-1))


# ---------------------------------------------------------------------------------------------- ease


def test_ease_formulas() -> None:
    u = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
    assert_allclose(ease(u, "linear"), u)
    assert_allclose(ease(u, "ease-in"), u**2)
    assert_allclose(ease(u, "ease-out"), 1 - (1 - u) ** 2)
    assert_allclose(ease(u, "ease-in-out"), [0.0, 0.125, 0.5, 0.875, 1.0])
    assert_allclose(ease(u, "smoothstep"), 3 * u**2 - 2 * u**3)


@pytest.mark.parametrize("kind", EASINGS)
def test_ease_fixes_the_ends(kind: str) -> None:
    assert ease(np.array([0.0, 1.0]), kind).tolist() == [0.0, 1.0]


@FAST
@given(u=st.lists(st.floats(0.0, 1.0), min_size=2, max_size=20))
def test_ease_is_monotone_into_unit_interval(u: list[float]) -> None:
    for kind in EASINGS:
        out = ease(np.sort(u), kind)
        assert ((out >= 0.0) & (out <= 1.0)).all(), kind
        assert (np.diff(out) >= -1e-15).all(), kind  # one rounding of slack; a real dip is far larger


def test_unknown_easing() -> None:
    with pytest.raises(ValueError, match="unknown easing 'bounce'"):
        ease(np.array([0.5]), "bounce")  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------- slerp


@FAST
@given(vectors(4), vectors(4))
def test_slerp_endpoints_are_exact(a: np.ndarray, b: np.ndarray) -> None:
    out = slerp(a, b, np.array([0.0, 1.0]))
    assert_array_equal(out, np.stack([a, b]))  # bit for bit, so keyframes are hit exactly


@FAST
@given(vectors(5), vectors(5), st.lists(st.floats(0.0, 1.0), min_size=1, max_size=8))
def test_slerp_norm_is_linear(a: np.ndarray, b: np.ndarray, t: list[float]) -> None:
    t = np.array(t)
    expected = (1 - t) * np.linalg.norm(a) + t * np.linalg.norm(b)
    assert_allclose(np.linalg.norm(slerp(a, b, t), axis=-1), expected, rtol=1e-9, atol=1e-9)


@FAST
@given(vectors(5), vectors(5), st.floats(0.1, 10.0), st.lists(st.floats(0.0, 1.0), min_size=1, max_size=8))
def test_slerp_angle_grows_linearly_for_equal_norms(
    a: np.ndarray, b: np.ndarray, r: float, t: list[float]
) -> None:
    assume(np.linalg.norm(a) > 1e-3 and np.linalg.norm(b) > 1e-3)
    a, b, t = r * a / np.linalg.norm(a), r * b / np.linalg.norm(b), np.array(t)
    omega = angle(a, b)
    assume(omega < np.pi - 1e-3)  # opposite directions have no unique great circle; tested below
    out = slerp(a, b, t)
    assert_allclose(np.linalg.norm(out, axis=-1), r, rtol=1e-12)
    assert_allclose(angle(np.broadcast_to(a, out.shape), out), t * omega, atol=1e-7)


@FAST
@given(vectors(6), vectors(6), st.lists(st.floats(0.0, 1.0), min_size=1, max_size=8))
def test_slerp_stays_in_the_plane_of_a_and_b(a: np.ndarray, b: np.ndarray, t: list[float]) -> None:
    assume(np.linalg.norm(a) > 1e-3 and np.linalg.norm(b) > 1e-3)
    omega = angle(a, b)
    assume(1e-3 < omega < np.pi - 1e-3)
    out = slerp(a, b, np.array(t))
    basis, _ = np.linalg.qr(np.stack([a, b], axis=1))  # [6, 2] orthonormal basis of span{a, b}
    residual = out - (out @ basis) @ basis.T
    assert_allclose(residual, 0.0, atol=1e-9)


def test_slerp_quarter_turn() -> None:
    out = slerp(np.array([2.0, 0.0]), np.array([0.0, 2.0]), np.array([0.5]))
    assert_allclose(out, [[np.sqrt(2.0), np.sqrt(2.0)]], rtol=1e-15)


def test_slerp_opposite_directions_turn_through_a_fixed_perpendicular() -> None:
    a, b = np.array([1.0, 0.0, 0.0]), np.array([-2.0, 0.0, 0.0])
    t = np.linspace(0.0, 1.0, 9)
    out = slerp(a, b, t)
    assert_allclose(np.linalg.norm(out, axis=-1), 1 + t, rtol=1e-12)
    assert_allclose(out[4], [0.0, 1.5, 0.0], atol=1e-12)  # halfway: the perpendicular of smallest index
    assert_array_equal(out, slerp(a, b, t))


def test_slerp_falls_back_to_lerp() -> None:
    t = np.linspace(0.0, 1.0, 5)
    b = np.array([3.0, -1.0])
    assert_allclose(slerp(np.zeros(2), b, t), t[:, None] * b)  # zero vector: no direction to rotate
    assert_allclose(slerp(np.array([1.0]), np.array([-3.0]), t), (1 - 4 * t)[:, None])  # D == 1, opposite
    a = np.array([1.0, 1e-9])
    assert_allclose(slerp(a, 2 * a, t), (1 + t)[:, None] * a)  # parallel


def test_slerp_rejects_mismatched_vectors() -> None:
    with pytest.raises(ValueError, match="same length"):
        slerp(np.ones(3), np.ones(4), np.array([0.5]))


# ------------------------------------------------------------------------------------- sample_track


def random_kinds(draw: st.DrawFn, n: int, kinds: tuple[str, ...]) -> list[str]:
    """n kinds drawn from kinds."""
    return draw(st.lists(st.sampled_from(kinds), min_size=n, max_size=n))


def eased_track(data: st.DataObject, **track_options):
    """A random track with a random easing per segment: (keys, values, period, segments, easing)."""
    keys, values, period = data.draw(tracks(**track_options))
    n = num_segments(keys, period)
    return keys, values, period, n, random_kinds(data.draw, n, EASINGS)


@EVERY_KIND
@given(data=st.data())
def test_every_kind_passes_through_every_key(data: st.DataObject) -> None:
    keys, values, period, n, easing = eased_track(data)
    shifted = keys + (period or 0.0) * data.draw(st.integers(-3, 3))
    for kind in INTERPOLATIONS:
        out = sample_track(keys, values, keys, interpolation=[kind] * n, easing=easing, loop_period=period)
        assert_allclose(out, values, rtol=0, atol=1e-9, err_msg=kind)
        if period is not None and kind != "hold":  # hold jumps at keys, so the wrap's rounding would show
            out = sample_track(
                keys, values, shifted, interpolation=[kind] * n, easing=easing, loop_period=period
            )
            assert_allclose(out, values, rtol=0, atol=1e-6, err_msg=kind)


@EVERY_KIND
@given(data=st.data())
def test_looping_track_is_periodic(data: st.DataObject) -> None:
    keys, values, period, n, easing = eased_track(data, loop=True)
    frames = np.array(data.draw(st.lists(st.floats(-100.0, 100.0), min_size=1, max_size=10)))
    turns = data.draw(st.integers(-3, 3))
    # Keep clear of keys, where hold jumps and a wrap's rounding could pick either side.
    assume(
        np.min(np.abs(np.mod(frames[:, None] - keys[None, :] + 0.5 * period, period) - 0.5 * period)) > 1e-6
    )
    for kind in INTERPOLATIONS:
        options = dict(interpolation=[kind] * n, easing=easing, loop_period=period)
        moved = sample_track(keys, values, frames + turns * period, **options)
        assert_allclose(moved, sample_track(keys, values, frames, **options), rtol=0, atol=1e-6, err_msg=kind)


@pytest.mark.parametrize("kind", INTERPOLATIONS)
def test_open_track_holds_outside_the_keys(kind: str) -> None:
    keys, values = np.array([0.0, 4.0, 10.0]), np.array([[1.0], [5.0], [-2.0]])
    out = sample_track(
        keys, values, np.array([-7.0, -0.5, 10.5, 99.0]), interpolation=[kind] * 2, easing=["linear"] * 2
    )
    assert_array_equal(out, [[1.0], [1.0], [-2.0], [-2.0]])


def seam_track(kind: str, keys: np.ndarray, values: np.ndarray, period: float, h: float) -> np.ndarray:
    """Samples [-2h, -h, 0, h, 2h] around the seam (key 0, reached from the closing segment)."""
    frames = keys[0] + np.array([period - 2 * h, period - h, 0.0, h, 2 * h])
    n = len(keys)
    return sample_track(
        keys, values, frames, interpolation=[kind] * n, easing=["linear"] * n, loop_period=period
    )


def seam_slopes(x: np.ndarray, h: float) -> tuple[np.ndarray, np.ndarray]:
    """Second-order one-sided derivatives left and right of the seam from seam_track's samples."""
    left = (3 * x[2] - 4 * x[1] + x[0]) / (2 * h)
    right = (-3 * x[2] + 4 * x[3] - x[4]) / (2 * h)
    return left, right


@EVERY_KIND
@given(data=st.data())
def test_loop_value_is_continuous_across_the_seam(data: st.DataObject) -> None:
    keys, values, period, n, easing = eased_track(data, loop=True)
    frames = keys[0] + np.array([period - 1e-7, 0.0])
    for kind in INTERPOLATIONS:
        if kind == "hold":  # jumps back by design; tested below
            continue
        out = sample_track(keys, values, frames, interpolation=[kind] * n, easing=easing, loop_period=period)
        assert_allclose(out[0], out[1], rtol=0, atol=1e-4, err_msg=kind)
        assert_allclose(out[1], values[0], rtol=0, atol=1e-12, err_msg=kind)


def test_hold_loop_jumps_back_at_the_seam() -> None:
    keys, values = np.array([0.0, 3.0]), np.array([[1.0], [2.0]])
    out = sample_track(
        keys,
        values,
        np.array([5.999, 6.0, 6.001]),
        interpolation=["hold"] * 2,
        easing=["linear"] * 2,
        loop_period=6.0,
    )
    assert_array_equal(out, [[2.0], [1.0], [1.0]])


@EVERY_KIND
@given(tracks(loop=True, min_keys=2))
def test_loop_slope_is_continuous_across_the_seam_for_splines(track: tuple) -> None:
    keys, values, period = track
    h = 1e-4
    for kind in sorted(SPLINES):
        left, right = seam_slopes(seam_track(kind, keys, values, period, h), h)
        assert_allclose(left, right, rtol=0, atol=1e-3, err_msg=kind)


def test_seam_slope_check_detects_a_kink() -> None:
    # The same check must fail for linear, whose slope changes at every key, or it could not catch a bug.
    keys, values, h = np.array([0.0, 2.0, 5.0]), np.array([[0.0], [4.0], [1.0]]), 1e-4
    left, right = seam_slopes(seam_track("linear", keys, values, 8.0, h), h)
    assert_allclose([left, right], [[-1 / 3], [2.0]], atol=1e-6)


@FAST
@given(data=st.data())
def test_pchip_never_overshoots(data: st.DataObject) -> None:
    keys, values, _ = data.draw(tracks(min_keys=2, trailing=(), loop=False))
    n = len(keys) - 1
    easing = random_kinds(data.draw, n, EASINGS)
    frames = np.linspace(keys[0], keys[-1], 257)
    out = sample_track(keys, values, frames, interpolation=["pchip"] * n, easing=easing)
    segment = np.clip(np.searchsorted(keys, frames, side="right") - 1, 0, n - 1)
    low = np.minimum(values[segment], values[segment + 1])
    high = np.maximum(values[segment], values[segment + 1])
    assert ((out >= low - 1e-12) & (out <= high + 1e-12)).all()


def test_cubic_overshoots_where_pchip_does_not() -> None:
    # Guards the test above: on a step, a natural cubic rings outside the keys' range.
    keys, values = np.arange(5.0), np.array([0.0, 0.0, 1.0, 1.0, 1.0])
    frames = np.linspace(0.0, 4.0, 81)
    cubic = sample_track(keys, values, frames, interpolation=["cubic"] * 4, easing=["linear"] * 4)
    pchip = sample_track(keys, values, frames, interpolation=["pchip"] * 4, easing=["linear"] * 4)
    assert cubic.min() < -1e-3 and cubic.max() > 1 + 1e-3
    assert pchip.min() >= 0.0 and pchip.max() <= 1.0


@FAST
@given(data=st.data())
def test_hold_is_piecewise_constant(data: st.DataObject) -> None:
    keys, values, period = data.draw(tracks(min_keys=2))
    n = num_segments(keys, period)
    end = keys[0] + period if period else keys[-1]
    frames = np.array(data.draw(st.lists(st.floats(keys[0], end, exclude_max=True), min_size=1, max_size=20)))
    out = sample_track(
        keys,
        values,
        frames,
        interpolation=["hold"] * n,
        easing=random_kinds(data.draw, n, EASINGS),
        loop_period=period,
    )
    segment = np.clip(np.searchsorted(keys, frames, side="right") - 1, 0, len(keys) - 1)
    assert_array_equal(out, values[segment])


@FAST
@given(data=st.data())
def test_linear_between_two_keys_is_monotone(data: st.DataObject) -> None:
    keys, values, _ = data.draw(tracks(min_keys=2, trailing=(), loop=False))
    n = len(keys) - 1
    i = data.draw(st.integers(0, n - 1))
    frames = np.linspace(keys[i], keys[i + 1], 101)
    out = sample_track(
        keys, values, frames, interpolation=["linear"] * n, easing=random_kinds(data.draw, n, EASINGS)
    )
    steps = np.diff(out) * np.sign(values[i + 1] - values[i])
    assert (steps >= -1e-12).all()
    assert_allclose(out[[0, -1]], values[[i, i + 1]], rtol=0, atol=1e-12)


def test_easing_warps_the_segment_parameter() -> None:
    keys, values = np.array([0.0, 10.0, 20.0]), np.array([[0.0], [8.0], [0.0]])
    frames = np.array([5.0, 15.0])
    out = sample_track(keys, values, frames, interpolation=["linear"] * 2, easing=["ease-in", "ease-out"])
    assert_allclose(out, [[2.0], [2.0]])  # 8 * 0.5^2, and 8 - 8 * (1 - 0.5^2)
    cubic = sample_track(keys, values, frames, interpolation=["cubic"] * 2, easing=["ease-in", "smoothstep"])
    spline = CubicSpline(keys, values, axis=0, bc_type="natural")
    assert_allclose(cubic, spline(np.array([2.5, 15.0])))


def test_cubic_is_scipys_spline() -> None:
    keys, values = np.array([0.0, 1.0, 3.0, 4.5, 7.0]), np.array([0.0, 2.0, -1.0, 1.0, 3.0])
    frames = np.linspace(0.0, 7.0, 50)
    open_track = sample_track(keys, values, frames, interpolation=["cubic"] * 4, easing=["linear"] * 4)
    assert_allclose(open_track, CubicSpline(keys, values, bc_type="natural")(frames), rtol=1e-12, atol=1e-12)
    looped = sample_track(
        keys, values, frames + 2.0, interpolation=["cubic"] * 5, easing=["linear"] * 5, loop_period=9.0
    )
    periodic = CubicSpline(np.append(keys, 9.0), np.append(values, 0.0), bc_type="periodic")
    assert_allclose(looped, periodic(np.mod(frames + 2.0, 9.0)), rtol=1e-12, atol=1e-12)


def test_catmull_rom_midpoint_on_uniform_keys() -> None:
    p = np.array([1.0, 3.0, -2.0, 5.0])
    out = sample_track(
        np.arange(4.0) * 2, p, np.array([3.0]), interpolation=["catmull-rom"] * 3, easing=["linear"] * 3
    )
    assert_allclose(out, [(-p[0] + 9 * p[1] + 9 * p[2] - p[3]) / 16])


@pytest.mark.parametrize("kind", sorted(SPLINES))
def test_two_key_splines_are_straight_lines(kind: str) -> None:
    keys, values = np.array([2.0, 6.0]), np.array([[1.0, -1.0], [3.0, 7.0]])
    frames = np.linspace(2.0, 6.0, 17)
    spline = sample_track(keys, values, frames, interpolation=[kind], easing=["ease-in-out"])
    linear = sample_track(keys, values, frames, interpolation=["linear"], easing=["ease-in-out"])
    assert_allclose(spline, linear, rtol=0, atol=1e-12)


@pytest.mark.parametrize("kind", INTERPOLATIONS)
@pytest.mark.parametrize("period", [None, 5.0])
def test_single_key_is_constant(kind: str, period: float | None) -> None:
    n = 1 if period else 0
    out = sample_track(
        np.array([3.0]),
        np.array([[2.0, -1.0]]),
        np.array([-9.0, 3.0, 4.5, 40.0]),
        interpolation=[kind] * n,
        easing=["ease-in"] * n,
        loop_period=period,
    )
    assert_array_equal(out, np.tile([2.0, -1.0], (4, 1)))


@EVERY_KIND
@given(data=st.data())
def test_mixed_kinds_use_each_kind_on_its_own_segments(data: st.DataObject) -> None:
    keys, values, period = data.draw(tracks(min_keys=3))
    n = num_segments(keys, period)
    linear_segment = data.draw(st.integers(0, n - 1))
    easing = random_kinds(data.draw, n, EASINGS)
    end = keys[0] + period if period else keys[-1]
    frames = np.linspace(keys[0], end, 200, endpoint=False)
    is_linear = np.searchsorted(keys, frames, side="right") - 1 == linear_segment
    linear = sample_track(
        keys, values, frames, interpolation=["linear"] * n, easing=easing, loop_period=period
    )
    for spline in sorted(SPLINES):
        kinds = [spline] * n
        kinds[linear_segment] = "linear"
        mixed = sample_track(keys, values, frames, interpolation=kinds, easing=easing, loop_period=period)
        pure = sample_track(
            keys, values, frames, interpolation=[spline] * n, easing=easing, loop_period=period
        )
        assert_allclose(mixed[is_linear], linear[is_linear], rtol=0, atol=1e-12, err_msg=spline)
        assert_allclose(mixed[~is_linear], pure[~is_linear], rtol=0, atol=1e-12, err_msg=spline)


@EVERY_KIND
@given(data=st.data())
def test_trailing_shapes_sample_like_separate_tracks(data: st.DataObject) -> None:
    keys, values, period, n, easing = eased_track(data, trailing=(3, 4))
    frames = np.array(data.draw(st.lists(st.floats(-80.0, 80.0), min_size=1, max_size=10)))
    row, col = data.draw(st.integers(0, 2)), data.draw(st.integers(0, 3))
    for kind in INTERPOLATIONS:
        options = dict(interpolation=[kind] * n, easing=easing, loop_period=period)
        out = sample_track(keys, values, frames, **options)
        assert out.shape == (len(frames), 3, 4) and out.dtype == np.float64
        for i in range(3):  # slerp works per vector on the last axis, so rows are independent for every kind
            alone = sample_track(keys, values[:, i], frames, **options)
            assert_allclose(out[:, i], alone, rtol=0, atol=1e-12, err_msg=kind)
        if kind != "slerp":  # the other kinds also treat every scalar separately
            alone = sample_track(keys, values[:, row, col], frames, **options)
            assert_allclose(out[:, row, col], alone, rtol=0, atol=1e-12, err_msg=kind)


def test_slerp_track_slerps_each_w_vector() -> None:
    values = np.array([[[1.0, 0.0], [0.0, 2.0]], [[0.0, 1.0], [2.0, 0.0]]])  # [K=2, num_ws=2, w_dim=2]
    out = sample_track(
        np.array([0.0, 1.0]), values, np.array([0.5]), interpolation=["slerp"], easing=["linear"]
    )
    s = np.sqrt(0.5)
    assert_allclose(out, [[[s, s], [2 * s, 2 * s]]])


@pytest.mark.parametrize(
    "change,message",
    [
        (dict(key_values=np.zeros((2, 2))), "one row per key"),
        (dict(key_frames=np.array([0.0, 5.0, 5.0])), "strictly increasing"),
        (dict(key_frames=np.array([0.0, 6.0, 5.0])), "strictly increasing"),
        (dict(interpolation=["linear"]), "interpolation has 1 entries but the track has 2 segments"),
        (dict(easing=["linear"] * 3), "easing has 3 entries but the track has 2 segments"),
        (dict(interpolation=["linear", "bezier"]), "unknown interpolation 'bezier' for segment 1"),
        (dict(easing=["bounce", "linear"]), "unknown easing 'bounce' for segment 0"),
        (dict(interpolation="linear"), "not the string"),
        (
            dict(loop_period=10.0, interpolation=["linear"] * 3, easing=["linear"] * 3),
            "loop_period 10.0 must",
        ),
        (dict(loop_period=12.0), "interpolation has 2 entries but the track has 3 segments"),
        (dict(frames=np.zeros((2, 2))), "frames must be a 1-D array"),
        (dict(key_frames=np.array([0.0, np.nan, 10.0])), "finite"),
    ],
)
def test_bad_tracks_raise(change: dict, message: str) -> None:
    args = dict(
        key_frames=np.array([0.0, 5.0, 10.0]),
        key_values=np.zeros((3, 2)),
        frames=np.array([1.0]),
        interpolation=["linear"] * 2,
        easing=["linear"] * 2,
        loop_period=None,
    )
    args.update(change)
    with pytest.raises(ValueError, match=message):
        sample_track(args.pop("key_frames"), args.pop("key_values"), args.pop("frames"), **args)


# ------------------------------------------------------------------------------- lerp_track, renormalize


@FAST
@given(data=st.data())
def test_lerp_track_is_sample_track_with_linear_segments(data: st.DataObject) -> None:
    keys, values, period, n, easing = eased_track(data)
    frames = np.array(data.draw(st.lists(st.floats(-80.0, 80.0), min_size=1, max_size=10)))
    expected = sample_track(
        keys, values, frames, interpolation=["linear"] * n, easing=easing, loop_period=period
    )
    assert_array_equal(lerp_track(keys, values, frames, easing=easing, loop_period=period), expected)


@FAST
@given(
    hnp.arrays(np.float64, (4, 3, 5), elements=moderate),
    hnp.arrays(np.float64, (4, 3), elements=st.floats(0, 10)),
)
def test_renormalize(x: np.ndarray, norms: np.ndarray) -> None:
    out = renormalize(x, norms)
    length = np.linalg.norm(x, axis=-1)
    assert_allclose(np.linalg.norm(out, axis=-1), np.where(length > 0, norms, 0.0), rtol=1e-12, atol=1e-12)
    assert_allclose(out * length[..., None], x * np.linalg.norm(out, axis=-1, keepdims=True), atol=1e-9)


def test_renormalize_keeps_zero_rows_and_checks_shapes() -> None:
    out = renormalize(np.array([[0.0, 0.0], [3.0, 4.0]]), np.array([2.0, 10.0]))
    assert_array_equal(out, [[0.0, 0.0], [6.0, 8.0]])
    with pytest.raises(ValueError, match="norms must have shape"):
        renormalize(np.zeros((2, 3)), np.zeros(3))
