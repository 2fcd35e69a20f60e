"""Every example script renders on the built-in demo models (at a small size) and decodes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from renderer.jobs.job import RenderSettings
from renderer.jobs.preview import PreviewSettings, preview, preview_pipeline
from renderer.jobs.render import render
from renderer.output.ffmpeg import probe, read_frames
from renderer.plan.framing import size_at_level
from renderer.plan.script import load_script
from tests.conftest import REPO

EXAMPLES = sorted(p for p in (REPO / "examples").iterdir() if p.suffix in (".toml", ".json", ".yaml"))
SMALL = 32  # a synthesis level of the demo model: the examples run in seconds


def test_the_examples_the_readme_promises_exist() -> None:
    names = {p.name for p in EXAMPLES}
    for name in ("latent_walk_music_video.toml", "photo_to_ukiyoe.toml", "style_mix.toml",
                 "truncation_sweep.toml", "loop.toml", "storyboard.toml", "morph.toml", "widescreen.toml",
                 "audio_reactive.toml", "camera_sg3.toml"):
        assert name in names


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_example_renders_and_decodes(example: Path, tmp_path: Path) -> None:
    script = load_script(example)
    out = tmp_path / f"{example.stem}.mp4"
    result = render(script, RenderSettings(device="cpu", resolution=SMALL, output={"file": out}))
    info = probe(out)
    assert (info.width, info.height) == size_at_level(script.size, SMALL)  # the script's aspect
    assert info.num_frames == script.num_frames and info.fps == pytest.approx(script.fps)
    assert (info.audio_codec == "aac") == (script.output.audio is not None)
    frames = np.stack(list(read_frames(out)))
    assert frames.std() > 5  # pictures, not a blank video
    assert result.sidecar.exists()


def test_the_preview_example_previews(tmp_path: Path) -> None:
    script = load_script(REPO / "examples" / "storyboard.toml")
    result = preview(script, tmp_path, PreviewSettings(resolution=SMALL, between=2, every=4, device="cpu"))
    assert result.sheet and result.sheet.exists() and result.plot and result.plot.exists()
    assert probe(result.draft).num_frames == len(range(0, script.num_frames, 4))


def test_the_widescreen_example_previews_wide(tmp_path: Path) -> None:
    script = load_script(REPO / "examples" / "widescreen.toml")
    assert script.size == (1920, 1080) and script.fit.mode == "extend"
    result = preview(script, tmp_path, PreviewSettings(resolution=16, between=1, every=6, device="cpu", plot=False))
    info = probe(result.draft)
    assert (info.width, info.height) == (28, 16)  # the draft keeps 16:9
    # The sheet's tiles are the same frames: 28 x 16, three to a row (about six squares wide).
    settings = PreviewSettings(resolution=16, device="cpu")
    assert preview_pipeline(script, settings).frame_shape == (16, 28, 3)
    sheet = np.asarray(Image.open(result.sheet))
    assert sheet.shape[1] < sheet.shape[0] * 3 and result.sheet.stat().st_size > 0
def test_the_audio_example_pulses_on_the_kicks(tmp_path: Path) -> None:
    from renderer.audio.features import analyze_file

    script = load_script(REPO / "examples" / "audio_reactive.toml")
    out = tmp_path / "audio.mp4"
    render(script, RenderSettings(device="cpu", resolution=SMALL, output={"file": out}))
    frames = np.stack(list(read_frames(out))).astype(np.float64)
    change = np.abs(np.diff(frames, axis=0)).mean(axis=(1, 2, 3))  # change[f - 1]: frame f against f - 1
    kicks = analyze_file(script.output.audio, fps=script.fps).beat_frames()
    kicks = kicks[(kicks > 0) & (kicks < script.num_frames)]
    between = np.setdiff1d(np.arange(1, script.num_frames), np.concatenate([kicks + d for d in (-1, 0, 1)]))
    # Each kick is a visible jump: the picture changes far more on a hit than between hits.
    assert np.median(change[kicks - 1]) > 3 * np.median(change[between - 1])
