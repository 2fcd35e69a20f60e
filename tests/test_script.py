"""Keyframe scripts: the schema, times, formats, and one clear error per mistake naming its place."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from renderer import load_generator
from renderer.frames.latents import build_timeline
from renderer.plan.script import ScriptError, load_script, parse_schedule, parse_time

BASIC = """
fps = 24
bpm = 120
[models]
base = "demo"
[path]
space = "w"
[[keyframes]]
time = 0
seed = 1
psi = 0.7
[[keyframes]]
time = "4b"
seed = 2
"""


def write(tmp_path: Path, text: str, name: str = "s.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def error_of(tmp_path: Path, text: str, name: str = "s.toml") -> str:
    path = write(tmp_path, text, name)
    with pytest.raises(ScriptError) as err:
        script = load_script(path)
        build_timeline(script, load_generator(script.base_model))
    message = str(err.value)
    assert "\n" not in message and str(path) in message
    return message


@pytest.mark.parametrize(
    "value,frames",
    [(2.5, 60.0), ("2.5s", 60.0), ("48f", 48.0), ("4b", 48.0), ("1:02.5", 1500.0), ("1:00:00", 86400.0), ("0", 0.0)],
)
def test_time_forms(value, frames: float) -> None:
    assert parse_time(value, fps=24, bpm=120) == pytest.approx(frames)


def test_defaults_and_frames(tmp_path: Path) -> None:
    script = load_script(write(tmp_path, BASIC))
    assert [k.frame for k in script.keyframes] == [0, 48]
    assert script.num_frames == 49  # the last keyframe is shown
    assert script.keyframe_psi() == [0.7, 0.7]  # a keyframe without psi keeps the previous one
    assert script.path.interpolation == "cubic" and script.path.track_interpolation == "pchip"
    assert script.beat(48) == 4


def test_loop_default_duration_adds_a_closing_segment(tmp_path: Path) -> None:
    script = load_script(write(tmp_path, BASIC.replace('space = "w"', 'space = "w"\nloop = true')))
    assert script.num_frames == 96  # 48 frames to the last keyframe + an average segment back


def test_explicit_duration(tmp_path: Path) -> None:
    script = load_script(write(tmp_path, 'duration = "8b"\n' + BASIC))
    assert script.num_frames == 96 and script.duration == 4.0


def test_toml_json_yaml_share_the_schema(tmp_path: Path) -> None:
    import tomllib

    data = tomllib.loads(BASIC)
    from_toml = load_script(write(tmp_path, BASIC))
    from_json = load_script(write(tmp_path, json.dumps(data), "s.json"))
    from_yaml = load_script(write(tmp_path, yaml.safe_dump(data), "s.yaml"))
    for other in (from_json, from_yaml):
        assert other.keyframes == from_toml.keyframes and other.path == from_toml.path
        assert other.num_frames == from_toml.num_frames


def test_schedule_strings() -> None:
    schedule = parse_schedule("0:(0.7), 8s:(1.0), 300: (0.5)", fps=30, bpm=None)
    assert schedule.frames == (0, 240, 300) and schedule.values == (0.7, 1.0, 0.5)
    with pytest.raises(ValueError, match="not evaluated"):
        parse_schedule("0:(0.5*sin(t))", fps=30, bpm=None)
    with pytest.raises(ValueError, match="strictly increase"):
        parse_schedule("10:(1), 5:(2)", fps=30, bpm=None)


@pytest.mark.parametrize(
    "edit,fragments",
    [
        (("fps = 24", "fsp = 24"), ["top level", "unknown key 'fsp'", "did you mean 'fps'"]),
        (("seed = 2", "seeed = 2"), ["keyframes[1] (t=2s)", "unknown key 'seeed'", "did you mean 'seed'"]),
        (("fps = 24", 'fps = "fast"'), ["fps", "must be a number", "'fast'"]),
        (("bpm = 120\n", ""), ["keyframes[1]", "needs bpm"]),
        (('time = "4b"', 'time = "-1s"'), ["keyframes[1]", ">= 0"]),
        (('time = "4b"', "time = 0"), ["keyframes[1]", "strictly increase", "keyframes[0]"]),
        (("seed = 2", 'seed = 2\nlatent = "x.npz"'), ["keyframes[1]", "two latent sources", "seed and latent"]),
        (("seed = 2", ""), ["keyframes[1]", "no latent source"]),
        (("seed = 2", 'latent = "missing.npz"'), ["keyframes[1]", "latent", "'missing.npz' not found"]),
        (('space = "w"', 'space = "x"'), ["path.space", "'x' is not accepted"]),
        (('space = "w"', 'space = "w"\ninterpolation = "cubik"'), ["path.interpolation", "did you mean 'cubic'"]),
        (('base = "demo"', 'base = "nope.pkl"'), ["models.base", "'nope.pkl' not found"]),
        (("psi = 0.7", "psi = 0.7\nblend = 0.5"), ["keyframes[0]", "blend", "models.transfer"]),
        (("[path]", '[tracks]\npsi = "0:(0.5)"\n[path]'), ["tracks.psi", "also set at keyframes [0]"]),
        (("seed = 1", 'seed = 1\nmix = {layers = "fine", seed = 3}\n'), None),  # valid: a mix in w space
    ],
)
def test_each_mistake_names_its_place(tmp_path: Path, edit: tuple[str, str], fragments: list[str] | None) -> None:
    text = BASIC.replace(*edit, 1)
    if fragments is None:
        load_script(write(tmp_path, text))
        return
    message = error_of(tmp_path, text)
    for fragment in fragments:
        assert fragment in message, message


def test_invalid_toml_reports_the_line(tmp_path: Path) -> None:
    message = error_of(tmp_path, BASIC.replace("seed = 2", "seed = = 2"))
    assert "invalid TOML" in message and "line" in message


def test_invalid_json_and_yaml(tmp_path: Path) -> None:
    assert "invalid JSON at line 1" in error_of(tmp_path, '{"fps": }', "s.json")
    assert "invalid YAML" in error_of(tmp_path, "fps: [1, 2\nmodels: {", "s.yaml")


def test_w_keyframe_in_z_space(tmp_path: Path) -> None:
    G = load_generator("demo")
    np.savez(tmp_path / "face.npz", w=np.zeros((1, G.num_ws, G.w_dim), np.float32))
    text = BASIC.replace('space = "w"', 'space = "z"').replace("seed = 2", 'latent = "face.npz"')
    message = error_of(tmp_path, text)
    assert "keyframes[1] (t=2s)" in message and 'space = "z"' in message


@pytest.mark.parametrize(
    "array,fragment",
    [
        (np.zeros((3, 7)), "has shape [3, 7]"),
        (np.zeros(5), "has shape [5]"),
    ],
)
def test_latent_file_of_the_wrong_shape(tmp_path: Path, array: np.ndarray, fragment: str) -> None:
    np.save(tmp_path / "bad.npy", array)
    message = error_of(tmp_path, BASIC.replace("seed = 2", 'latent = "bad.npy"'))
    assert "keyframes[1] (t=2s).latent" in message and fragment in message and "this model accepts" in message


def test_ambiguous_vector_needs_a_key(tmp_path: Path) -> None:
    G = load_generator("demo")
    assert G.z_dim == G.w_dim
    np.save(tmp_path / "v.npy", np.zeros(G.z_dim))
    assert "could be z or w" in error_of(tmp_path, BASIC.replace("seed = 2", 'latent = "v.npy"'))


def test_mix_layers_beyond_the_model(tmp_path: Path) -> None:
    text = BASIC.replace("seed = 2", 'seed = 2\nmix = {layers = "10-40", seed = 3}')
    message = error_of(tmp_path, text)
    assert "keyframes[1] (t=2s).mix[0].layers" in message and "do not exist" in message


def test_lag_needs_w_space(tmp_path: Path) -> None:
    text = BASIC.replace('space = "w"', 'space = "z"\n[path.lag]\nfine = 0.5')
    assert 'need space = "w"' in error_of(tmp_path, text)


def test_missing_script_and_unknown_type(tmp_path: Path) -> None:
    with pytest.raises(ScriptError, match="no such file"):
        load_script(tmp_path / "none.toml")
    with pytest.raises(ScriptError, match="unknown script type '.txt'"):
        load_script(write(tmp_path, BASIC, "s.txt"))


def test_schedule_beyond_the_video(tmp_path: Path) -> None:
    text = BASIC.replace("[path]", '[tracks]\npsi = "0:(0.5), 500:(1.0)"\n[path]').replace("psi = 0.7", "")
    assert "tracks.psi" in error_of(tmp_path, text) and "after the video's last frame 48" in error_of(tmp_path, text)


def test_torch_free_modules_do_not_import_torch() -> None:
    import subprocess
    import sys

    code = (
        "import sys, renderer.plan.script, renderer.plan.paths, renderer.plan.smoothing, renderer.plan.timeline, renderer.plan.seeds; "
        "sys.exit('torch' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


END_ON_THIRD = """
fps = 12
duration = 2
[models]
base = "demo"
[path]
space = "w"
interpolation = "linear"
[[keyframes]]
time = 0
seed = 1
[[keyframes]]
time = 1
seed = 2
[[keyframes]]
time = 2
seed = 3
"""


def test_a_keyframe_at_exactly_the_duration_is_where_the_path_heads(tmp_path: Path) -> None:
    script = load_script(write(tmp_path, END_ON_THIRD))
    assert script.num_frames == 24 and script.keyframes[-1].frame == 24  # duration x fps, not one more
    timeline = build_timeline(script, load_generator("demo"))
    latents = timeline.chunk(0, 24).latents
    keys = timeline.keys.latents.astype(np.float32)
    # The last frame is 11/12 of the way from the second keyframe to the third: heading there.
    np.testing.assert_allclose(latents[23], keys[1] + (keys[2] - keys[1]) * 11 / 12, atol=1e-5)




def test_a_smoothed_and_pinned_path_may_end_on_a_keyframe(tmp_path: Path) -> None:
    text = END_ON_THIRD.replace('interpolation = "linear"', 'interpolation = "linear"\nsmooth = 0.1\npin_keyframes = true')
    timeline = build_timeline(load_script(write(tmp_path, text)), load_generator("demo"))
    latents = timeline.chunk(0, 24).latents
    np.testing.assert_allclose(latents[12], timeline.keys.latents[1].astype(np.float32), atol=1e-5)  # pinned


def test_keyframes_after_the_duration_and_loops_ending_on_a_keyframe_are_refused(tmp_path: Path) -> None:
    late = error_of(tmp_path, END_ON_THIRD.replace("duration = 2", 'duration = "23f"'))
    assert "duration: 23 frames end before the last keyframe (frame 24); need at least 24" in late
    looped = error_of(tmp_path, END_ON_THIRD.replace('interpolation = "linear"', 'interpolation = "linear"\nloop = true'), "l.toml")
    assert "need at least 25 for a loop" in looped
