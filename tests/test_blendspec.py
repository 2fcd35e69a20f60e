"""Blend specs -> per-resolution alphas (torch-free)."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from renderer.blendspec import (
    alpha_by_resolution,
    describe_blend,
    make_spec,
    model_weights,
    parse_alpha_table,
    swap_alphas,
)

RES = [4, 8, 16, 32, 64, 128, 256]


def test_blendspec_imports_no_torch() -> None:
    import subprocess

    code = "import renderer.blendspec, sys; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_number_is_every_resolution() -> None:
    assert alpha_by_resolution(0.25, RES).tolist() == [0.25] * len(RES)


def test_swap_is_the_papers_step() -> None:
    # r <= r_swap from the transferred model (alpha 1), above it from the base.
    assert alpha_by_resolution({"swap": 16}, RES).tolist() == [1, 1, 1, 0, 0, 0, 0]
    assert alpha_by_resolution({"swap": 8, "low": "transfer"}, RES).tolist() == [1, 1, 0, 0, 0, 0, 0]
    assert alpha_by_resolution({"swap": 16, "low": "base"}, RES).tolist() == [0, 0, 0, 1, 1, 1, 1]
    assert alpha_by_resolution({"swap": 2}, RES).tolist() == [0] * len(RES)  # no swap: the base model
    assert alpha_by_resolution({"swap": 1024}, RES).tolist() == [1] * len(RES)


def test_swap_width_is_a_logistic_ramp_in_log2_resolution() -> None:
    alphas = alpha_by_resolution({"swap": 16, "width": 1.0}, RES)
    assert np.all(np.diff(alphas) < 0)  # monotone: low resolutions most transferred
    # Centred half an octave above the swap resolution.
    for r, a in zip(RES, alphas, strict=True):
        x = math.log2(r) - (math.log2(16) + 0.5)
        assert a == pytest.approx(1 / (1 + math.exp(x)))
    assert alphas[2] == pytest.approx(1 / (1 + math.exp(-0.5)))


@given(st.sampled_from([4, 8, 16, 32, 64, 128]), st.sampled_from(["transfer", "base"]))
def test_a_narrow_ramp_tends_to_the_step(swap: int, low: str) -> None:
    step = swap_alphas(RES, swap, low=low)
    ramp = swap_alphas(RES, swap, low=low, width=0.01)
    assert np.allclose(ramp, step, atol=1e-12)


def test_table_interpolates_in_log2_and_holds_the_ends() -> None:
    alphas = alpha_by_resolution({4: 1.0, 16: 0.5, 64: 0.0}, RES)
    assert alphas.tolist() == [1.0, 0.75, 0.5, 0.25, 0.0, 0.0, 0.0]
    # Keys as strings (TOML tables) work the same.
    assert alpha_by_resolution({"8": 0.2}, RES).tolist() == [0.2] * len(RES)


@pytest.mark.parametrize(
    "spec, fragment",
    [
        ({"swap": 16, "low": "middle"}, "low must be"),
        ({"swap": 16, "width": -1}, "width"),
        ({"swap": 16, "blur": 1}, "unknown: blur"),
        ({"swap": "x"}, "swap must be"),
        ({12: 1.0}, "not a resolution"),
        ({"8": "half"}, "must be a number"),
        ({}, "at least one"),
        (True, "boolean"),
        (float("nan"), "finite"),
        ("0.5", "number or a table"),
    ],
)
def test_bad_specs_say_what_is_wrong(spec: object, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        alpha_by_resolution(spec, RES)  # type: ignore[arg-type]


def test_parse_alpha_table() -> None:
    assert parse_alpha_table("4=1,8=1,16=0.5") == {4: 1.0, 8: 1.0, 16: 0.5}
    assert parse_alpha_table(" 4 = 1 , 32=0 ,") == {4: 1.0, 32: 0.0}
    for bad, fragment in [("4:1", "resolution=alpha"), ("6=1", "resolution=alpha"), ("4=x", "not a number"), ("", "no resolution")]:
        with pytest.raises(ValueError, match=fragment):
            parse_alpha_table(bad)


def test_make_spec_takes_exactly_one_form() -> None:
    assert make_spec(swap=16) == {"swap": 16, "low": "transfer"}
    assert make_spec(swap=16, low="base", width=0.5) == {"swap": 16, "low": "base", "width": 0.5}
    assert make_spec(alphas="4=1,8=0.5") == {4: 1.0, 8: 0.5}
    assert make_spec(alpha=0.3) == 0.3
    with pytest.raises(ValueError, match="give one of"):
        make_spec()
    with pytest.raises(ValueError, match="got --alpha, --swap"):
        make_spec(alpha=0.5, swap=16)
    with pytest.raises(ValueError, match="add --swap"):
        make_spec(alpha=0.5, width=1.0)
    with pytest.raises(ValueError, match="low must be"):
        make_spec(swap=16, low="top")


def test_model_weights_for_n_models_must_sum_to_one() -> None:
    weights = model_weights([{4: 1.0, 16: 0.0}, {4: 0.0, 16: 0.5}, {4: 0.0, 16: 0.5}], [4, 8, 16, 32])
    assert weights.shape == (3, 4)
    assert np.allclose(weights.sum(axis=0), 1.0)
    assert weights[:, 1].tolist() == [0.5, 0.25, 0.25]
    with pytest.raises(ValueError, match="sum to 1 at every resolution; they sum to 8: 1.5"):
        model_weights([{4: 1.0, 8: 1.0, 16: 0.0}, {4: 0.0, 8: 0.5, 16: 1.0}], [4, 8, 16])
    with pytest.raises(ValueError, match="at least two"):
        model_weights([1.0], [4])


def test_describe_blend() -> None:
    assert describe_blend(None) == "base"
    assert describe_blend(0.5) == "alpha 0.5"
    assert describe_blend({"swap": 16, "low": "transfer"}) == "swap 16"
    assert describe_blend({"swap": 16, "low": "base", "width": 1.0}) == "swap 16, width 1, low base"
    assert describe_blend({16: 0.5, 4: 1.0}) == "4:1 16:0.5"
