"""Audio that does not cover the video is said (a warning line), or refused with --audio-strict."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from renderer.cli import app
from renderer.errors import UsageError
from renderer.jobs.job import RenderSettings
from renderer.jobs.render import audio_gap, render
from renderer.plan.script import load_script
from tests.test_render import write_script, write_tone

SONG = Path("song.wav")


@pytest.mark.parametrize(
    ("length", "offset", "video", "expected"),
    [
        (10.0, 0.0, 3.0, None),
        (3.0, 0.0, 3.0, None),
        (3.0, 0.0, 3.03, None),  # a frame of rounding
        (2.0, 0.0, 3.0, "ends 1.00 s before the 3.00 s video"),
        (10.0, 8.5, 3.0, "ends 1.50 s before"),
        (10.0, 12.0, 3.0, "the video has no sound"),
        (2.0, -1.0, 3.0, None),  # starts 1 s late and plays 2 s: covers 3 s
        (1.5, -1.0, 3.0, "ends 0.50 s before"),
        (None, 5.0, 3.0, None),  # no duration reported: nothing to say
    ],
)
def test_audio_gap(length: float | None, offset: float, video: float, expected: str | None) -> None:
    said = audio_gap(SONG, length, offset, video)
    assert (said is None) if expected is None else (expected in said)


def test_short_audio_is_a_warning_and_strict_refuses_before_any_work(tmp_path: Path) -> None:
    write_tone(tmp_path / "song.wav", 1.5)
    script = load_script(write_script(tmp_path, "demo", output='audio = "song.wav"'))  # a 37-frame, 3.08 s video
    result = render(script, RenderSettings(device="cpu", resolution=16))
    assert len(result.warnings) == 1 and "the audio ends 1.58 s before the 3.08 s video" in result.warnings[0]
    with pytest.raises(UsageError, match="the audio ends"):
        render(script, RenderSettings(device="cpu", resolution=16, audio_strict=True, output={"file": tmp_path / "s.mp4"}))
    assert not (tmp_path / "s.mp4").exists() and not (tmp_path / ".s.mp4.parts").exists()


def test_the_cli_prints_the_warning_and_exits_2_when_strict(tmp_path: Path) -> None:
    write_tone(tmp_path / "song.wav", 1.0)
    script = write_script(tmp_path, "demo", output='audio = "song.wav"\naudio_offset = 5')
    result = CliRunner().invoke(app, ["render", str(script), "--res", "16", "-q"])
    assert result.exit_code == 0 and "warning:" in result.output and "the video has no sound" in result.output
    strict = CliRunner().invoke(app, ["render", str(script), "--res", "16", "-q", "--audio-strict", "-o", str(tmp_path / "x.mp4")])
    assert strict.exit_code == 2 and "the video has no sound" in strict.output
