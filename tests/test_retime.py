"""Even pacing's re-timing math (renderer.plan.retime): synthetic arc lengths with known inverses."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from renderer.plan.paths import EASINGS, ease
from renderer.plan.retime import ArcLength, FrameWarp, SpeedClock, sample_positions, walk_key_frames


def measured(knots: np.ndarray, density, samples_per_frame: int = 8) -> ArcLength:
    """The arc length of a path whose image moves at `density(p)` per path frame, measured at the
    sample positions as the pacing pass would (each step: the exact integral of the density)."""
    positions = sample_positions(knots, samples_per_frame)
    fine = np.linspace(positions[0], positions[-1], 200 * len(positions))
    cumulative = np.concatenate([[0.0], np.cumsum(0.5 * (density(fine[1:]) + density(fine[:-1])) * np.diff(fine))])
    at = np.interp(positions, fine, cumulative)
    return ArcLength.from_steps(positions, np.diff(at))


def crawl_and_lurch(p: np.ndarray) -> np.ndarray:
    return 1.0 + 0.9 * np.sin(p / 5.0) + 0.5 * (p > 30)


KNOTS = np.array([0.0, 24.0, 48.0, 72.0, 96.0, 120.0])


def test_sample_positions_hold_every_knot_and_k_per_frame():
    positions = sample_positions(np.array([0.0, 3.0, 10.0]), 4)
    assert positions[0] == 0.0 and 3.0 in positions and positions[-1] == 10.0
    assert len(positions) == 1 + 3 * 4 + 7 * 4
    assert np.all(np.diff(positions) > 0)
    with pytest.raises(ValueError, match="samples per frame"):
        sample_positions(KNOTS, 0)


def test_even_pace_gives_equal_image_steps_within_each_segment():
    arc = measured(KNOTS, crawl_and_lurch)
    warp = FrameWarp(KNOTS, arc, easing=["linear"] * 5)
    frames = np.arange(0, 121, dtype=np.float64)
    steps = np.diff(arc.at(warp(frames)))
    for a, b in zip(KNOTS[:-1].astype(int), KNOTS[1:].astype(int), strict=True):
        segment = steps[a:b]
        assert segment.std() / segment.mean() < 1e-6
    # Before pacing, the same path lurches.
    before = np.diff(arc.at(frames))
    assert before[:24].std() / before[:24].mean() > 0.1


def test_keyframes_stay_on_their_frames_exactly():
    arc = measured(KNOTS, crawl_and_lurch)
    warp = FrameWarp(KNOTS, arc, easing=["ease-in-out", "linear", "smoothstep", "ease-in", "ease-out"])
    assert np.array_equal(warp(KNOTS), KNOTS)
    # Outside an open path's keys the path holds, so frames are shifted with the nearest key.
    assert np.array_equal(warp(np.array([-3.0, 125.0])), np.array([-3.0, 125.0]))


@settings(max_examples=20, deadline=None)
@given(st.sampled_from(EASINGS), st.integers(0, 4))
def test_easing_applies_to_the_arc_length(easing, segment):
    arc = measured(KNOTS, crawl_and_lurch)
    easings = ["linear"] * 5
    easings[segment] = easing
    warp = FrameWarp(KNOTS, arc, easing=easings)
    a, b = KNOTS[segment], KNOTS[segment + 1]
    frames = np.linspace(a, b, 25)
    fraction = (arc.at(warp(frames)) - arc.at([a])) / (arc.at([b]) - arc.at([a]))
    np.testing.assert_allclose(fraction, ease((frames - a) / (b - a), easing), atol=1e-9)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(0.05, 5.0), min_size=121, max_size=121))
def test_target_speed_curve_sets_the_image_change_per_frame(speed):
    """The audio 'speed' reaction's input: image steps in proportion to the curve, per segment."""
    speed = np.array(speed)
    arc = measured(KNOTS, crawl_and_lurch)
    warp = FrameWarp(KNOTS, arc, easing=["linear"] * 5, speed=SpeedClock(speed, 121, loop=False))
    steps = np.diff(arc.at(warp(np.arange(121.0))))
    assert np.array_equal(warp(KNOTS), KNOTS)
    for a, b in zip(KNOTS[:-1].astype(int), KNOTS[1:].astype(int), strict=True):
        ratio = steps[a:b] / speed[a:b]
        np.testing.assert_allclose(ratio, ratio.mean(), rtol=1e-6)


def test_flat_speed_curve_is_the_default():
    arc = measured(KNOTS, crawl_and_lurch)
    flat = FrameWarp(KNOTS, arc, easing=["linear"] * 5, speed=SpeedClock(np.full(121, 3.0), 121, loop=False))
    default = FrameWarp(KNOTS, arc, easing=["linear"] * 5)
    frames = np.arange(121.0)
    np.testing.assert_allclose(flat(frames), default(frames), atol=1e-9)


def test_speed_curve_errors():
    arc = measured(KNOTS, crawl_and_lurch)
    with pytest.raises(ValueError, match="one value per frame"):
        SpeedClock(np.ones(10), 121, loop=False)
    with pytest.raises(ValueError, match=">= 0"):
        SpeedClock(-np.ones(121), 121, loop=False)
    stalled = np.ones(121)
    stalled[24:48] = 0.0
    with pytest.raises(ValueError, match="zero over all of segment 1"):
        FrameWarp(KNOTS, arc, easing=["linear"] * 5, speed=SpeedClock(stalled, 121, loop=False))


def test_loop_warp_is_periodic_and_closes_on_the_first_key():
    knots = np.array([0.0, 20.0, 50.0])
    period = 80.0
    arc = measured(np.append(knots, period), lambda p: 1.0 + 0.8 * np.cos(p / 7.0))
    warp = FrameWarp(knots, arc, easing=["linear"] * 3, loop_period=period)
    frames = np.arange(80.0)
    positions = warp(frames)
    np.testing.assert_allclose(warp(frames + period), positions + period, atol=1e-9)
    assert np.array_equal(warp(knots), knots)
    steps = np.diff(arc.at(np.append(positions, period)))
    closing = steps[50:80]
    assert closing.std() / closing.mean() < 1e-6


def test_walk_mode_moves_keyframes_so_the_whole_walk_is_even():
    # Segment 1 holds most of the image change: its keyframes spread out in time.
    density = lambda p: np.where((p >= 24) & (p < 48), 5.0, 1.0)  # noqa: E731
    arc = measured(KNOTS, density)
    frames_of_keys = walk_key_frames(KNOTS, arc)
    assert frames_of_keys[0] == 0 and frames_of_keys[-1] == 120
    assert np.all(np.diff(frames_of_keys) > 0)
    assert frames_of_keys[2] - frames_of_keys[1] > 2 * (frames_of_keys[1] - frames_of_keys[0])
    warp = FrameWarp(KNOTS, arc, frame_knots=frames_of_keys, easing=["linear"] * 5)
    assert np.array_equal(warp(frames_of_keys.astype(np.float64)), KNOTS)
    steps = np.diff(arc.at(warp(np.arange(121.0))))
    assert steps.std() / steps.mean() < 0.05  # whole-walk, only keyframe rounding left


def test_walk_mode_keeps_one_frame_per_segment():
    density = lambda p: np.where(p < 24, 1000.0, 1e-3)  # noqa: E731
    arc = measured(KNOTS, density)
    frames_of_keys = walk_key_frames(KNOTS, arc)
    assert np.all(np.diff(frames_of_keys) >= 1) and frames_of_keys[-1] == 120


def test_still_segment_is_paced_linearly():
    density = lambda p: np.where((p >= 24) & (p < 48), 0.0, 1.0)  # noqa: E731
    arc = measured(KNOTS, density)
    warp = FrameWarp(KNOTS, arc, easing=["linear"] * 5)
    positions = warp(np.arange(24.0, 49.0))
    assert np.all(np.diff(positions) > 0) and positions[0] == 24.0 and positions[-1] == 48.0


def test_warp_is_the_same_in_any_chunking():
    arc = measured(KNOTS, crawl_and_lurch)
    warp = FrameWarp(KNOTS, arc, easing=["ease-in-out"] * 5)
    frames = np.arange(121.0)
    whole = warp(frames)
    parts = np.concatenate([warp(frames[a : a + 17]) for a in range(0, 121, 17)])
    assert np.array_equal(whole, parts)


def test_arc_must_be_measured_at_the_keyframes():
    positions = np.linspace(0.5, 119.5, 50)
    arc = ArcLength.from_steps(positions, np.ones(49))
    with pytest.raises(ValueError, match="every keyframe"):
        FrameWarp(KNOTS, arc, easing=["linear"] * 5)
