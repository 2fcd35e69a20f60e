"""Frame sizes, fits, windows and camera tracks: the torch-free plan (renderer.plan.framing, .camera)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from renderer.plan.framing import (
    MAX_SIDE,
    SIZE_NAMES,
    Fit,
    canvas_grid,
    canvas_shape,
    parse_fit,
    parse_size,
    size_at_level,
    whole_pixels,
    windows,
)
from renderer.plan.script import ScriptError, parse_script
from renderer.plan.timeline import ResolvedKeyframes, plan_timeline
from tests.test_cli import assert_one_line_error, invoke


def script(**top: object) -> dict:
    data = {"models": {"base": "demo"}, "keyframes": [{"time": 0, "seed": 1}, {"time": 1, "seed": 2}]}
    data.update(top)
    return data


def test_sizes_are_sides_pairs_strings_or_names() -> None:
    assert parse_size(512) == (512, 512)
    assert parse_size([1920, 1080]) == (1920, 1080)
    assert parse_size("1280x720") == (1280, 720)
    assert parse_size("1080p") == (1920, 1080) and parse_size("Vertical") == (1080, 1920)
    assert parse_size("4k") == (3840, 2160)
    assert all(w % 2 == 0 and h % 2 == 0 for w, h in SIZE_NAMES.values()), "named sizes fit yuv420p as they are"


@pytest.mark.parametrize(
    ("value", "message"),
    [(0, "from 1 to 8192"), ([1920, 0], "height 0"), (MAX_SIDE + 1, "8K"), ([7680, 9000], "outside"),
     ("huge", "unknown size"), ([1, 2, 3], "must be"), (True, "must be"), ([8000, 100], "between 1:8")],
)
def test_sizes_that_cannot_be_met_fail(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_size(value)


def test_a_script_reads_size_and_fit() -> None:
    parsed = parse_script(script(size="1080p", fit={"mode": "pad", "color": "#102030"}))
    assert parsed.size == (1920, 1080)
    assert parsed.fit == Fit(mode="pad", color=(16, 32, 48))
    assert parse_script(script(size=96)).size == (96, 96) and parse_script(script()).fit.mode == "extend"
    crop = parse_script(script(size=[1080, 1920], fit={"mode": "crop", "anchor": "top"})).fit
    assert crop.anchor == (0.0, -1.0) and crop.covers
    assert parse_fit({"mode": "extend", "canvas": "3:1", "padding": "tile"}).canvas == (3.0, 1.0)


@pytest.mark.parametrize(
    ("top", "where"),
    [({"size": 0}, "size"), ({"size": [1921, 1080]}, "size"), ({"size": [8200, 4320]}, "size"),
     ({"fit": "stretch"}, "fit"), ({"fit": {"mode": "pad", "color": "mauve"}}, "fit"),
     ({"fit": {"mode": "crop", "anchor": [2, 0]}}, "fit"), ({"fit": {"mode": "crop", "zoom": 2}}, "fit"),
     ({"tracks": {"zoom": "0:(0.5)"}}, "tracks.zoom"), ({"tracks": {"pan_x": "0:(3)"}}, "tracks.pan_x")],
)
def test_bad_sizes_and_fits_name_their_key(top: dict, where: str) -> None:
    with pytest.raises(ScriptError, match=f"^{where.replace('.', '[.]')}: "):
        parse_script(script(**top))


def test_odd_sizes_fail_unless_rounded_or_padded() -> None:
    with pytest.raises(ScriptError, match="1921x1080 cannot be encoded as yuv420p"):
        parse_script(script(size=[1921, 1080]))
    assert parse_script(script(size=[1921, 1080], output={"even_size": "round"})).size == (1921, 1080)
    assert parse_script(script(size=[1921, 1080], output={"even_size": "pad"})).size == (1921, 1080)
    assert parse_script(script(size=[1921, 1081], output={"pix_fmt": "yuv444p"})).size == (1921, 1081)
    assert parse_script(script(size=[1921, 1080], output={"format": "png"})).size == (1921, 1080)


def test_cli_validate_refuses_impossible_sizes_in_one_line(tmp_path: Path) -> None:
    for size, fragment in (("0", "from 1 to 8192"), ("[1921, 1080]", "cannot be encoded as yuv420p"),
                           ("[9000, 4320]", "8K")):
        path = tmp_path / "clip.toml"
        path.write_text(f'size = {size}\n[models]\nbase = "demo"\n[[keyframes]]\ntime = 0\nseed = 1\n')
        assert_one_line_error(invoke("validate", path), 2, "size", fragment)


def test_the_canvas_grid_follows_the_aspect_in_whole_cells() -> None:
    extend = Fit()
    assert canvas_grid(None, extend) == (4, 4) and canvas_grid((300, 300), extend) == (4, 4)
    assert canvas_grid((1920, 1080), extend) == (4, 7)  # 1024 x 1792 on a 1024 px model
    assert canvas_grid((1080, 1920), extend) == (7, 4)
    assert canvas_grid((1920, 1080), Fit(canvas=(3, 1))) == (4, 12)
    assert canvas_grid((1920, 1080), Fit(mode="crop")) == (4, 4)
    assert canvas_shape((4, 7), 1024) == (1024, 1792) and canvas_shape((4, 7), 32) == (32, 56)


@given(st.integers(16, 4000), st.integers(16, 4000), st.sampled_from([4, 8, 16, 32, 64, 128, 256]))
def test_sizes_at_a_level_keep_the_aspect_and_are_even(width: int, height: int, level: int) -> None:
    if max(width, height) / min(width, height) > 8:
        return
    w, h = size_at_level((width, height), level)
    assert min(w, h) == level and w % 2 == 0 and h % 2 == 0
    assert abs(w / h - width / height) <= 2 / min(w, h) + 1e-9 or (w == h == level and width == height)
    assert size_at_level((width, width), level) == (level, level)


@given(
    st.integers(8, 600), st.integers(8, 600), st.integers(16, 2000), st.integers(16, 2000),
    st.floats(1, 8), st.floats(-1, 1), st.floats(-1, 1), st.sampled_from(["extend", "crop", "pad", "blur-pad"]),
)
def test_windows_lie_inside_the_canvas_with_the_frames_aspect(
    ch: int, cw: int, width: int, height: int, zoom: float, px: float, py: float, mode: str
) -> None:
    fit = Fit(mode=mode)  # type: ignore[arg-type]
    if mode in ("pad", "blur-pad"):
        cw = ch  # the pad fits show the square
    x0, y0, w, h = windows(fit, (ch, cw), (width, height), np.array([zoom]), np.array([[px, py]]))[0]
    tol = 1e-9 * max(cw, ch)
    assert x0 >= -tol and y0 >= -tol and x0 + w <= cw + tol and y0 + h <= ch + tol
    aspect = width / height if fit.covers else 1.0
    assert w / h == pytest.approx(aspect)
    # At zoom 1 the window touches two opposite edges of the canvas: the largest that fits.
    x0, y0, w, h = windows(fit, (ch, cw), (width, height))[0]
    assert w == pytest.approx(cw) or h == pytest.approx(ch)


def test_anchors_and_pans_put_the_window_at_the_edges() -> None:
    canvas = (100, 300)  # height, width
    left, centre, right = (windows(Fit(mode="crop", anchor=(x, 0.0)), canvas, (100, 100))[0] for x in (-1.0, 0.0, 1.0))
    assert left[0] == 0 and centre[0] == 100 and right[0] + right[2] == 300
    zoomed = windows(Fit(), canvas, (300, 100), np.array([2.0]), np.array([[1.0, 1.0]]))[0]
    assert zoomed.tolist() == [150.0, 50.0, 150.0, 50.0]  # half size, bottom-right corner
    assert whole_pixels(np.array([[0.4, 1.6, 10.2, 9.7]])).tolist() == [[0, 2, 11, 9]]  # edges rounded


def camera_timeline(**top: object):
    data = script(**top)
    parsed = parse_script(data)
    latents = np.zeros((len(parsed.keyframes), 4, 3))
    return plan_timeline(parsed, ResolvedKeyframes(latents=latents, num_ws=4))


def test_zoom_and_pan_are_keyframed_like_psi() -> None:
    keys = [{"time": 0, "seed": 1, "zoom": 1, "pan": "left"}, {"time": "1s", "seed": 2, "zoom": 4},
            {"time": "2s", "seed": 3, "pan": [1, 0.5]}]
    timeline = camera_timeline(fps=10, keyframes=keys, path={"track_interpolation": "linear"})
    chunk = timeline.chunk(0, 21)
    zoom, pan = chunk.tracks["zoom"], chunk.tracks["pan"]
    assert zoom[0] == 1 and zoom[10] == 4 and zoom[20] == 4  # carried over, like psi
    assert zoom[5] == pytest.approx(2.0)  # log space: halfway from 1 to 4 is 2
    assert pan[0].tolist() == [-1, 0] and pan[10].tolist() == [-1, 0] and pan[20].tolist() == [1, 0.5]
    assert "zoom" not in camera_timeline().tracks and "pan" not in camera_timeline().tracks


def test_camera_schedules_and_the_anchor() -> None:
    timeline = camera_timeline(fps=10, tracks={"pan_x": "0:(-1), 10:(1)", "zoom": "0:(1), 10:(2)"},
                               fit={"mode": "crop", "anchor": "bottom"})
    chunk = timeline.chunk(0, 11)
    assert chunk.tracks["pan"][:, 1].tolist() == [1.0] * 11  # y held at the anchor
    assert chunk.tracks["pan"][0, 0] == -1 and chunk.tracks["pan"][10, 0] == 1
    assert np.all(np.diff(chunk.tracks["zoom"]) > 0)
    with pytest.raises(ScriptError, match="also set at keyframes"):
        parse_script(script(tracks={"pan_y": "0:(0)"}, keyframes=[{"time": 0, "seed": 1, "pan": [0, 0]}]))
