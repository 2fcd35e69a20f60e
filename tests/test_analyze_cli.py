"""`renderer analyze` and audio in `renderer validate`: outputs, suggestions, fast start, exit 2 for bad audio."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from renderer.cli import app
from renderer.plan.script import load_script
from tests.audio_signals import click_track, kicks_and_hats, write_wav
from tests.conftest import REPO

runner = CliRunner()


@pytest.fixture(scope="module")
def song(tmp_path_factory: pytest.TempPathFactory) -> Path:
    x, _ = click_track(128.0, seconds=20.0, start=0.4)
    t = np.arange(len(x)) / 22_050
    x = x + np.where(t < 10.0, 0.2 * np.sin(2 * np.pi * 220 * t), 0.2 * np.sin(2 * np.pi * 330 * t))
    return write_wav(tmp_path_factory.mktemp("analyze") / "song.wav", x)


def test_analyze_writes_the_plot_the_features_and_pasteable_keyframes(song: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["analyze", str(song), "--fps", "24", "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    npz, png = tmp_path / "song.features.npz", tmp_path / "song.analysis.png"
    assert str(npz) in result.stdout and str(png) in result.stdout and png.stat().st_size > 10_000
    data = np.load(npz)
    assert float(data["tempo"]) == pytest.approx(128.0, abs=0.5)
    assert len(data["time"]) == 20 * 24 and data["chroma"].shape == (480, 12)
    for name in ("rms", "onset", "low.rms", "mid.onset", "high.percussive", "beats", "sections", "waveform"):
        assert name in data
    assert np.abs(data["sections"] - 10.0).min() < 0.25
    # The suggestion is a script fragment: pasted under [models], it loads and lands on the beats.
    toml = result.stdout[result.stdout.index("# song.wav"):]
    script = tmp_path / "pasted.toml"
    script.write_text(toml.replace('[output]', '[models]\nbase = "demo"\n\n[output]'))
    (tmp_path / "song.wav").write_bytes(song.read_bytes())
    parsed = load_script(script)
    assert parsed.bpm == pytest.approx(128.0, abs=0.5) and len(parsed.keyframes) >= 3
    beat_frames = np.rint(np.asarray(parsed.beat_times) * 24)
    assert all(k.frame in beat_frames for k in parsed.keyframes)


def test_analyze_takes_bands_in_hz(song: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["analyze", str(song), "-o", str(tmp_path), "--bands", "sub=20-60,click=800-1200"])
    assert result.exit_code == 0, result.output
    data = np.load(tmp_path / "song.features.npz")
    assert list(data["band_names"]) == ["sub", "click"] and "click.onset" in data
    bad = runner.invoke(app, ["analyze", str(song), "--bands", "x=300-100"])
    assert bad.exit_code == 2 and "low < high" in bad.output


@pytest.mark.parametrize("case", ["missing", "not audio", "silent"])
def test_bad_audio_is_one_line_naming_the_file_and_exit_2(tmp_path: Path, case: str) -> None:
    path = tmp_path / ("song.mp3" if case == "not audio" else "song.wav")
    if case == "not audio":
        path.write_text("not a song")
    elif case == "silent":
        write_wav(path, np.zeros(22_050))
    result = runner.invoke(app, ["analyze", str(path)])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0] and lines[0].startswith("error:")


def test_analyze_starts_without_torch(song: Path, tmp_path: Path) -> None:
    code = ("import sys; from renderer.cli import app; "
            "sys.argv = ['renderer', 'analyze', sys.argv[1], '-o', sys.argv[2]]; "
            "import typer.main\n"
            "try:\n    app()\nexcept SystemExit:\n    pass\n"
            "assert 'torch' not in sys.modules, 'analyze imported torch'")
    done = subprocess.run([sys.executable, "-c", code, str(song), str(tmp_path)], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr


def test_validate_shows_detected_beats_and_reactions_and_exports_them(song: Path, tmp_path: Path) -> None:
    script = song.parent / "react.toml"
    script.write_text(f'''fps = 24
bpm = "auto"
beats = "detected"
[models]
base = "demo"
[output]
audio = "{song.name}"
[[keyframes]]
time = "0b"
seed = 1
[[keyframes]]
time = "16b"
seed = 2
[[reactions]]
psi = {{ feature = "high.onset", range = [0.4, 0.9] }}
''')
    out = tmp_path / "t.npz"
    result = runner.invoke(app, ["validate", str(script), "--timeline", str(out)])
    assert result.exit_code == 0, result.output
    assert "bpm" in result.stdout and "beats: 3" not in result.stdout
    assert "reaction #0: psi <- high.onset of song.wav mapped to [0.4, 0.9]" in result.stdout
    data = np.load(out)
    np.testing.assert_array_equal(data["psi"], data["reaction0.psi"])


def test_validate_a_stem_shorter_than_the_video_exits_2(song: Path, tmp_path: Path) -> None:
    stem = write_wav(tmp_path / "drums.wav", kicks_and_hats(seconds=3.0, kicks=(1.0,), hats=(2.0,))[0])
    script = tmp_path / "short.toml"
    script.write_text(f'''[models]
base = "demo"
[output]
audio = "{song}"
[[keyframes]]
time = 0
seed = 1
[[keyframes]]
time = "8s"
seed = 2
[[reactions]]
pulse = {{ audio = "drums.wav", seed = 3 }}
''')
    result = runner.invoke(app, ["validate", str(script)])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and str(stem) in lines[0] and "shorter than the video" in lines[0]
