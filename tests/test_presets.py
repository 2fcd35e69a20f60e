"""Presets: shipped partial scripts, their precedence (defaults < presets < script < CLI) and origins."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from renderer.errors import UsageError
from renderer.frames.images import to_uint8
from renderer.frames.pipeline import FramePipeline
from renderer.jobs.job import RenderSettings, output_path, resolve_job
from renderer.jobs.render import render
from renderer.jobs.stills import load_animation
from renderer.models.blending import blend
from renderer.models.demo import build_demo
from renderer.plan.script import (
    ScriptError,
    available_presets,
    load_script,
    parse_script,
    preset_description,
    resolved_settings,
)
from renderer.plan.seeds import seeds_to_z
from tests.test_cli import assert_one_line_error, invoke

EXPECTED = {
    "share", "draft", "archive", "hevc-apple", "nvenc", "gif",
    "toonify", "ukiyoe-structure", "ukiyoe-render", "ukiyoe-soft",
    "music-video", "calm", "preview",
}
KEYS = [{"time": 0, "seed": 1, "psi": 0.7}, {"time": 1, "seed": 2}]
PAIR = {"base": "demo", "transfer": "demo-transfer"}


def test_the_issue_presets_are_shipped_and_described() -> None:
    assert set(available_presets()) == EXPECTED
    for name in EXPECTED:
        assert preset_description(name), name


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_preset_applies_to_a_plain_script(name: str) -> None:
    script = parse_script({"preset": name, "models": PAIR, "keyframes": KEYS})
    assert script.presets == (name,)
    assert any(origin == f"preset {name}" for origin in script.origins.values())


def test_precedence_defaults_then_presets_in_order_then_the_script() -> None:
    script = parse_script({
        "preset": ["share", "draft"],  # draft after share: its crf and speed win
        "models": PAIR,
        "output": {"preset": "fast"},  # the script's own key beats both
        "keyframes": KEYS,
    })
    assert (script.output.crf, script.output.preset, script.output.pix_fmt) == (28, "fast", "yuv420p")
    origins = {key: origin for key, _, origin in resolved_settings(script)}
    assert origins["output.crf"] == "preset draft"
    assert origins["output.preset"] == "script"
    assert origins["output.segment"] == "default"
    assert origins["models.base"] == "script"


def test_extra_presets_come_after_the_scripts_own(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text('preset = "calm"\n[models]\nbase = "demo"\n[[keyframes]]\ntime = 0\nseed = 1\n[[keyframes]]\ntime = 1\nseed = 2\n')
    script = load_script(path, presets=["music-video"])
    assert script.presets == ("calm", "music-video")
    assert script.path.interpolation == "cubic" and script.path.space == "w" and script.path.loop  # music-video's
    assert script.path.easing == "ease-in-out"  # calm's, which music-video leaves alone


def test_a_users_own_preset_file(tmp_path: Path) -> None:
    (tmp_path / "mine.toml").write_text('description = "mine"\nsize = 96\n[output]\ncrf = 30\n')
    script = parse_script({"preset": "mine.toml", "models": PAIR, "keyframes": KEYS}, base_dir=tmp_path)
    assert (script.size, script.output.crf) == ((96, 96), 30)


@pytest.mark.parametrize(
    ("preset", "message"),
    [
        ("toonfy", "unknown preset 'toonfy'; did you mean 'toonify'?"),
        ("missing.toml", "preset file 'missing.toml' not found"),
        (["share", 3], "must be a preset name or a list"),
    ],
)
def test_bad_preset_names_are_one_line_errors(preset: object, message: str) -> None:
    with pytest.raises(ScriptError, match=message.replace("?", r"\?")):
        parse_script({"preset": preset, "models": PAIR, "keyframes": KEYS})


def test_a_preset_cannot_hold_keyframes_or_models(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text('[models]\nbase = "demo"\n')
    with pytest.raises(ScriptError, match="unknown key 'models'"):
        parse_script({"preset": "bad.toml", "models": PAIR, "keyframes": KEYS}, base_dir=tmp_path)


def test_a_blend_preset_needs_a_transfer_model() -> None:
    with pytest.raises(ScriptError, match="blending needs a transfer model"):
        parse_script({"preset": "toonify", "models": {"base": "demo"}, "keyframes": KEYS})


def test_a_top_level_blend_renders_the_static_blend() -> None:
    script = parse_script({"preset": "ukiyoe-structure", "models": PAIR, "path": {"space": "z"}, "keyframes": KEYS})
    G, timeline = load_animation(script)
    frames = np.concatenate(list(FramePipeline(timeline, G, batch_size=2).frames(0, 2)))
    static = blend(build_demo("demo"), build_demo("demo-transfer"), {"swap": 16})
    z = torch.from_numpy(seeds_to_z([1], static.z_dim))
    expected = to_uint8(static(z, truncation_psi=0.7)).numpy()[0]
    assert np.abs(frames[0].astype(int) - expected).max() <= 1


def test_the_format_picks_the_default_output_name(tmp_path: Path) -> None:
    script = parse_script({"preset": "gif", "models": PAIR, "keyframes": KEYS}, file=tmp_path / "clip.toml")
    assert output_path(script, script.output) == tmp_path / "clip.gif" and script.size == (256, 256)
    frames = parse_script({"models": PAIR, "output": {"format": "png"}, "keyframes": KEYS}, file=tmp_path / "clip.toml")
    assert output_path(frames, frames.output) == tmp_path / "clip_frames"


def test_cli_flags_beat_presets_and_a_changed_preset_blocks_resume(tmp_path: Path) -> None:
    path = tmp_path / "clip.toml"
    path.write_text('preset = "draft"\nfps = 8\nsize = 32\n[models]\nbase = "demo"\n[output]\nsegment = "1s"\n'
                    '[[keyframes]]\ntime = 0\nseed = 1\n[[keyframes]]\ntime = 2\nseed = 2\n')
    result = render(load_script(path), RenderSettings(device="cpu", output={"crf": 20}))
    sidecar = json.loads(result.sidecar.read_text())
    assert sidecar["encoder"]["crf"] == 20 and sidecar["encoder"]["preset"] == "veryfast"
    assert sidecar["script"]["presets"] == ["draft"]

    calls = 0

    def stop(progress: object) -> None:
        nonlocal calls
        calls += 1
        if calls == 12:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        render(load_script(path), RenderSettings(device="cpu", batch_size=1), progress=stop)
    path.write_text(path.read_text().replace('preset = "draft"', 'preset = ["draft", "calm"]'))
    with pytest.raises(UsageError, match="resolved settings"):
        render(load_script(path), RenderSettings(device="cpu", resume=True))


def test_presets_added_on_the_command_line_render_to_their_own_file(tmp_path: Path) -> None:
    path = tmp_path / "clip.toml"
    path.write_text('fps = 8\nsize = 32\n[models]\nbase = "demo"\n[[keyframes]]\ntime = 0\nseed = 1\n[[keyframes]]\ntime = 1\nseed = 2\n')
    full = tmp_path / "clip.mp4"
    full.write_bytes(b"the full render")
    result = invoke("render", str(path), "-p", "preview", "-p", "draft", "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert full.read_bytes() == b"the full render"  # trying presets never replaces the full render
    assert (tmp_path / "clip.preview.draft.mp4").is_file()
    # Naming the file is the way to write over it.
    assert resolve_job(load_script(path, presets=["preview"]), RenderSettings(output={"file": full})).path == full


def test_cli_presets_lists_and_shows() -> None:
    listing = invoke("presets")
    assert listing.exit_code == 0
    for name in EXPECTED:
        assert name in listing.stdout
    shown = invoke("presets", "share")
    assert shown.exit_code == 0 and 'crf = 18' in shown.stdout
    assert_one_line_error(invoke("presets", "nope"), 2, "unknown preset 'nope'")


def test_cli_validate_shows_where_each_setting_came_from(tmp_path: Path) -> None:
    path = tmp_path / "clip.toml"
    path.write_text('[models]\nbase = "demo"\ntransfer = "demo-transfer"\n[output]\ncrf = 21\n'
                    '[[keyframes]]\ntime = 0\nseed = 1\n[[keyframes]]\ntime = 1\nseed = 2\n')
    result = invoke("validate", str(path), "--preset", "share", "-p", "toonify", "--settings")
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.stdout.splitlines() if line.strip()}
    assert lines["output.crf"].split()[1:] == ["21", "script"]
    assert lines["output.preset"].split()[1:] == ["slow", "preset", "share"]
    assert "preset toonify" in lines["blend"] and "swap 16" in lines["blend"]
    assert lines["output.segment"].split()[-1] == "default"
    assert "presets: share, toonify" in result.stdout


def test_path_lag_is_replaced_whole_and_errors_name_the_preset(tmp_path: Path) -> None:
    (tmp_path / "lag.toml").write_text('[path.lag]\ncoarse = "2f"\n[output]\ncrf = "high"\n')
    with pytest.raises(ScriptError, match=r"output\.crf: .*\(set by preset lag\.toml\)"):
        parse_script({"preset": "lag.toml", "models": PAIR, "keyframes": KEYS}, base_dir=tmp_path)
    (tmp_path / "lag.toml").write_text('[path.lag]\ncoarse = "2f"\n')
    script = parse_script({"preset": "lag.toml", "models": PAIR, "path": {"lag": {"fine": "3f"}}, "keyframes": KEYS},
                          base_dir=tmp_path)
    assert script.path.lag == (("fine", 3.0),)  # [path] merges key by key; lag is one key
    with pytest.raises(ScriptError, match=r"blending needs a transfer model: add models.transfer \(set by preset toonify\)"):
        parse_script({"preset": "toonify", "models": {"base": "demo"}, "keyframes": KEYS})


def test_a_presets_files_are_relative_to_the_preset(tmp_path: Path) -> None:
    (tmp_path / "presets").mkdir()
    (tmp_path / "presets" / "song.wav").write_bytes(b"")
    (tmp_path / "presets" / "sound.toml").write_text('[output]\naudio = "song.wav"\n')
    script = parse_script({"preset": "presets/sound.toml", "models": PAIR, "keyframes": KEYS}, base_dir=tmp_path)
    assert script.output.audio == tmp_path / "presets" / "song.wav"


def test_cli_preset_files_are_relative_to_the_current_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "sub").mkdir()
    script = tmp_path / "sub" / "clip.toml"
    script.write_text('[models]\nbase = "demo"\n[[keyframes]]\ntime = 0\nseed = 1\n')
    (tmp_path / "mine.toml").write_text("size = 64\n")
    monkeypatch.chdir(tmp_path)
    result = invoke("validate", str(script), "-p", "mine.toml", "--settings")
    assert result.exit_code == 0, result.output
    assert "preset" in [line.split()[2] for line in result.stdout.splitlines() if line.startswith("size ")]
    slow = invoke("validate", str(script), "-p", "slow")
    assert_one_line_error(slow, 2, "unknown preset 'slow'", "--encoder-preset")


def test_an_installed_package_has_every_subpackage_and_the_shipped_presets(tmp_path: Path) -> None:
    """A wheel (what `pip install .` installs) holds the subpackages and the top-level presets/."""
    import shutil
    import subprocess
    import sys
    import zipfile

    from tests.conftest import REPO

    source = tmp_path / "source"  # built from a copy: pip builds in place and would leave build/ behind
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    for folder in ("renderer", "presets"):
        shutil.copytree(REPO / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__"))
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(source), "-w", str(tmp_path)],
        capture_output=True, text=True, check=False,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = tmp_path.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for package in ("plan", "models", "models/checkpoints", "frames", "output", "jobs"):
        assert f"renderer/{package}/__init__.py" in names
    shipped = {Path(n).stem for n in names if n.startswith("renderer/presets/") and n.endswith(".toml")}
    assert shipped == set(available_presets())
