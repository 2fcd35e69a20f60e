"""Every command creates the missing folders of the output paths it is given, as `generate -o` does."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from renderer.output.ffmpeg import probe
from tests.test_cli import invoke
from tests.test_project_cli import PHOTO
from tests.test_render import write_script


def test_render_creates_the_folder_of_its_output_file(tmp_path: Path) -> None:
    script = write_script(tmp_path, "demo", size=32)
    out = tmp_path / "new" / "deeper" / "clip.mp4"
    result = invoke("render", script, "-o", out, "--device", "cpu", "--encoder-preset", "ultrafast", "-q")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(out)
    assert probe(out).num_frames == 37
    assert sorted(p.name for p in out.parent.iterdir()) == ["clip.mp4", "clip.mp4.json"]


def test_render_creates_a_png_frame_folder_and_its_parents(tmp_path: Path) -> None:
    script = write_script(tmp_path, "demo", size=32)
    out = tmp_path / "new" / "frames"
    result = invoke("render", script, "-o", out, "--device", "cpu", "-q")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == [f"frame{i:06d}.png" for i in range(37)]


def test_preview_creates_its_output_folder(tmp_path: Path) -> None:
    script = write_script(tmp_path, "demo")
    out = tmp_path / "new" / "preview"
    result = invoke("preview", script, "-o", out, "--res", "16", "--no-plot", "--device", "cpu", "-q")
    assert result.exit_code == 0, result.output
    assert result.stdout.split() == [str(out / "clip.sheet.png"), str(out / "clip.draft.mp4")]
    assert probe(out / "clip.draft.mp4").num_frames == 37


def test_validate_creates_the_folder_of_the_timeline_file(tmp_path: Path) -> None:
    script = write_script(tmp_path, "demo")
    out = tmp_path / "new" / "deeper" / "tracks.npz"
    result = invoke("validate", script, "--timeline", out)
    assert result.exit_code == 0, result.output
    with np.load(out) as data:
        assert data["time"].shape == (37,)
    assert list(out.parent.iterdir()) == [out]  # no temporary left beside it


def test_convert_and_blend_create_the_folders_of_their_outputs(tmp_path: Path) -> None:
    converted = tmp_path / "new" / "demo.safetensors"
    result = invoke("convert", "demo", converted)
    assert result.exit_code == 0, result.output
    assert converted.is_file()
    blended = tmp_path / "blends" / "b.safetensors"
    grid = tmp_path / "grids" / "g.png"
    result = invoke("blend", "demo", "demo-transfer", "--swap", "16", "-o", blended, "--grid", grid, "--seeds", "0",
                    "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert blended.is_file() and grid.is_file()


def test_project_creates_the_folders_of_its_latent_and_video(tmp_path: Path) -> None:
    out = tmp_path / "new" / "face.npz"
    video = tmp_path / "videos" / "progress.mp4"
    result = invoke("project", PHOTO, "-m", "demo", "-o", out, "--no-align", "--steps", "2", "--video", video,
                    "--device", "cpu", "-q")
    assert result.exit_code == 0, result.output
    assert result.stdout.split() == [str(out), str(out.with_suffix(".png")), str(video)]
    assert probe(video).num_frames == 2
