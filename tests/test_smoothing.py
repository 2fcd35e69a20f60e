"""Temporal Gaussian smoothing computed chunk by chunk (renderer.plan.smoothing)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numpy.testing import assert_allclose, assert_array_equal
from scipy.ndimage import gaussian_filter1d

from renderer.plan.smoothing import gaussian_radius, smooth_frames

FAST = settings(max_examples=50, deadline=None)
# 0 means no smoothing; scipy itself divides by sigma**2, which underflows for tiny sigmas, so stay above.
sigmas = st.one_of(st.just(0.0), st.floats(0.01, 12.0))


@st.composite
def videos(draw: st.DrawFn) -> np.ndarray:
    """A per-frame track [num_frames, 2, 3] with values in [-10, 10]."""
    num_frames = draw(st.integers(1, 40))
    return draw(
        hnp.arrays(np.float64, (num_frames, 2, 3), elements=st.floats(-10.0, 10.0, allow_subnormal=False))
    )


def sampler(track: np.ndarray, calls: list[np.ndarray] | None = None) -> Callable[[np.ndarray], np.ndarray]:
    """A sample function over track that rejects indices outside the video (numpy would wrap negatives)."""

    def sample(frames: np.ndarray) -> np.ndarray:
        assert frames.dtype == np.int64
        assert ((frames >= 0) & (frames < len(track))).all(), frames
        if calls is not None:
            calls.append(frames)
        return track[frames]

    return sample


def test_gaussian_radius_examples() -> None:
    assert [gaussian_radius(s) for s in (-1.0, 0.0, 0.1, 1.0, 2.5, 3.0)] == [0, 0, 0, 4, 10, 12]


@given(st.floats(0.05, 20.0))
def test_gaussian_radius_is_scipys_kernel_half_width(sigma: float) -> None:
    impulse = np.zeros(201)
    impulse[100] = 1.0
    response = gaussian_filter1d(impulse, sigma, truncate=4.0, mode="constant")
    assert np.count_nonzero(response) == 2 * gaussian_radius(sigma) + 1


@FAST
@given(videos(), sigmas, st.booleans(), st.data())
def test_chunking_does_not_change_the_result(
    track: np.ndarray, sigma: float, loop: bool, data: st.DataObject
) -> None:
    n = len(track)
    cuts = sorted(data.draw(st.lists(st.integers(0, n), max_size=5)))
    bounds = [0, *cuts, n]
    options = dict(sigma=sigma, num_frames=n, loop=loop)
    whole = smooth_frames(sampler(track), 0, n, **options)
    chunks = [
        smooth_frames(sampler(track), a, b, **options) for a, b in zip(bounds[:-1], bounds[1:], strict=True)
    ]
    assert_array_equal(np.concatenate(chunks), whole)


@FAST
@given(videos(), sigmas, st.booleans())
def test_whole_video_matches_scipy(track: np.ndarray, sigma: float, loop: bool) -> None:
    out = smooth_frames(sampler(track), 0, len(track), sigma=sigma, num_frames=len(track), loop=loop)
    if sigma > 0:
        expected = gaussian_filter1d(track, sigma, axis=0, truncate=4.0, mode="wrap" if loop else "nearest")
    else:
        expected = track
    assert out.shape == track.shape and out.dtype == np.float64
    assert_allclose(out, expected, rtol=0, atol=1e-12)


def test_loop_and_edge_modes_differ() -> None:
    # Guards the test above: a ramp smoothed as a loop bends at the ends, replicated edges keep it flat.
    track = np.arange(10.0)[:, None]
    looped = smooth_frames(sampler(track), 0, 10, sigma=2.0, num_frames=10, loop=True)
    edges = smooth_frames(sampler(track), 0, 10, sigma=2.0, num_frames=10, loop=False)
    assert looped[0, 0] > 2.0 and 0.0 < edges[0, 0] < 1.0


@FAST
@given(st.integers(1, 30), sigmas, st.booleans(), st.floats(-5.0, 5.0), st.data())
def test_constant_track_stays_constant(
    n: int, sigma: float, loop: bool, value: float, data: st.DataObject
) -> None:
    start = data.draw(st.integers(0, n))
    stop = data.draw(st.integers(start, n))
    out = smooth_frames(
        lambda f: np.full((len(f), 4), value), start, stop, sigma=sigma, num_frames=n, loop=loop
    )
    assert out.shape == (stop - start, 4)
    assert_allclose(out, value, rtol=1e-12, atol=1e-12)


@FAST
@given(videos(), st.floats(0.1, 12.0))
def test_looping_smoothing_preserves_the_mean(track: np.ndarray, sigma: float) -> None:
    out = smooth_frames(sampler(track), 0, len(track), sigma=sigma, num_frames=len(track), loop=True)
    assert_allclose(out.mean(axis=0), track.mean(axis=0), rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    "loop,expected", [(True, [7, 8, 9, 0, 1, 2, 3, 4]), (False, [0, 0, 0, 0, 1, 2, 3, 4])]
)
def test_samples_once_with_wrapped_or_clamped_margins(loop: bool, expected: list[int]) -> None:
    calls: list[np.ndarray] = []
    smooth_frames(sampler(np.zeros((10, 1)), calls), 0, 2, sigma=0.75, num_frames=10, loop=loop)  # radius 3
    assert len(calls) == 1
    assert calls[0].tolist() == expected


def test_no_smoothing_returns_the_samples() -> None:
    track = np.random.default_rng(0).normal(size=(12, 3))
    calls: list[np.ndarray] = []
    for sigma in (0.0, -1.0, 1e-300):  # the last has a zero radius: its kernel is a single 1
        out = smooth_frames(sampler(track, calls), 4, 9, sigma=sigma, num_frames=12, loop=True)
        assert_array_equal(out, track[4:9])
        assert calls.pop().tolist() == [4, 5, 6, 7, 8]


def test_smoothing_changes_a_noisy_track() -> None:
    track = np.random.default_rng(1).normal(size=(50, 2))
    out = smooth_frames(sampler(track), 0, 50, sigma=3.0, num_frames=50, loop=False)
    assert np.abs(np.diff(out, axis=0)).mean() < 0.5 * np.abs(np.diff(track, axis=0)).mean()


@pytest.mark.parametrize(
    "start,stop,num_frames,message",
    [(-1, 3, 10, "0 <= start"), (4, 3, 10, "0 <= start"), (0, 11, 10, "0 <= start"), (0, 0, 0, "at least 1")],
)
def test_bad_ranges_raise(start: int, stop: int, num_frames: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        smooth_frames(lambda f: np.zeros(len(f)), start, stop, sigma=1.0, num_frames=num_frames, loop=False)


def test_sample_must_return_one_row_per_frame() -> None:
    with pytest.raises(ValueError, match="sample returned shape"):
        smooth_frames(lambda f: np.zeros(3), 0, 5, sigma=1.0, num_frames=5, loop=False)
