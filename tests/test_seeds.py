"""Seed lists and the NVIDIA seed -> z convention."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from renderer import UsageError, parse_seeds, seed_to_z, seeds_to_z


def test_examples() -> None:
    assert parse_seeds("0-3,7") == [0, 1, 2, 3, 7]
    assert parse_seeds("5") == [5]
    assert parse_seeds(" 9, 2-3 ") == [9, 2, 3]


@given(st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 20)), min_size=1, max_size=6))
def test_ranges_expand_in_order(parts: list[tuple[int, int]]) -> None:
    spec = ",".join(f"{a}-{a + n}" if n else str(a) for a, n in parts)
    expected = [s for a, n in parts for s in range(a, a + n + 1)]
    assert parse_seeds(spec) == expected


@pytest.mark.parametrize(
    "spec,message",
    [("3-1", "runs backwards"), ("a", "not a seed"), ("1,,2", "empty entry"), ("-4", "not a seed"),
     ("4294967296", "must lie in")],
)
def test_bad_seed_lists(spec: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_seeds(spec)


def test_seed_to_z_is_the_nvidia_convention(fixtures: Path) -> None:
    ref = np.load(fixtures / "ref_nvidia_base.npz")
    for i, seed in enumerate(ref["seeds"]):
        np.testing.assert_array_equal(seed_to_z(int(seed), 64)[0], ref["z"][i])
    z = seeds_to_z([int(s) for s in ref["seeds"]], 64)
    assert z.dtype == np.float32 and z.shape == (4, 64)
    np.testing.assert_array_equal(z, ref["z"].astype(np.float32))
