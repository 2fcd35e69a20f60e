"""`renderer validate`: the summary, the timeline export, and exit code 2 for script mistakes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from renderer.cli import app
from tests.conftest import REPO

runner = CliRunner()
EXAMPLES = sorted(p for p in (REPO / "examples").iterdir() if p.suffix in (".toml", ".json", ".yaml"))


def test_there_are_examples() -> None:
    assert len(EXAMPLES) >= 3


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_every_example_validates_and_exports(example: Path, tmp_path: Path) -> None:
    out = tmp_path / "timeline.npz"
    result = runner.invoke(app, ["validate", str(example), "--timeline", str(out)])
    assert result.exit_code == 0, result.output
    assert "frames" in result.stdout and ("seed" in result.stdout or "file" in result.stdout)
    data = np.load(out)
    frames = len(data["time"])
    assert data["psi"].shape == (frames,)
    latents = data["z"] if "z" in data else data["ws"]
    assert latents.shape[0] == frames and np.isfinite(latents).all()
    np.testing.assert_allclose(np.diff(data["time"]), np.diff(data["time"])[0])


def test_summary_lists_keyframes_with_frame_time_and_beat() -> None:
    result = runner.invoke(app, ["validate", str(REPO / "examples" / "loop.toml")])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "288 frames" in out and "120 bpm" in out and "loop" in out
    for fragment in ("beat", "0:02.00", "seed 2026", "cubic, ease-in-out"):
        assert fragment in out


def test_timeline_layout_z_space(tmp_path: Path) -> None:
    out = tmp_path / "t.npz"
    result = runner.invoke(app, ["validate", str(REPO / "examples" / "calm.toml"), "--timeline", str(out)])
    assert result.exit_code == 0, result.output
    data = np.load(out)
    assert set(data.files) == {"time", "z", "psi", "key_frames"}
    assert data["z"].shape == (241, 128)
    assert data["psi"][0] == pytest.approx(0.5) and data["psi"][120] == pytest.approx(0.8)


def test_script_mistake_exits_2_with_one_line(tmp_path: Path) -> None:
    script = tmp_path / "bad.toml"
    script.write_text('[models]\nbase = "demo"\n[[keyframes]]\ntime = 0\nseeed = 1\n')
    result = runner.invoke(app, ["validate", str(script)])
    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "keyframes[0] (t=0s)" in lines[0] and "did you mean 'seed'" in lines[0]
    assert "Traceback" not in result.output


def test_missing_script_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(tmp_path / "none.toml")])
    assert result.exit_code == 2 and "no such file" in result.stderr


def test_morph_example_validates_and_dumps_per_resolution_alphas(tmp_path: Path) -> None:
    """demo -> demo-transfer, alpha 0 to 1, coarse resolutions first."""
    out = tmp_path / "morph.npz"
    result = runner.invoke(app, ["validate", str(REPO / "examples" / "morph.toml"), "--timeline", str(out)])
    assert result.exit_code == 0, result.output
    assert "blend" in result.stdout and "swap 8, width 0.5" in result.stdout
    data = np.load(out)
    alphas, resolutions = data["blend"], data["blend_resolutions"]
    assert resolutions.tolist() == [4, 8, 16, 32, 64, 128, 256]
    assert alphas.shape == (len(data["time"]), 7)
    np.testing.assert_allclose(alphas[0], 0, atol=1e-6)
    np.testing.assert_allclose(alphas[-1], 1, atol=1e-6)
    # Coarse first: at every frame, a coarser resolution is at least as far along as a finer one.
    assert np.all(np.diff(alphas, axis=1) <= 1e-6)
    halfway = [int(np.argmax(alphas[:, j] >= 0.5)) for j in range(7)]
    assert halfway == sorted(halfway) and halfway[0] < halfway[-1]


def test_validate_refuses_a_transfer_model_of_another_architecture(fixtures: Path, tmp_path: Path) -> None:
    script = tmp_path / "bad.toml"
    transfer = (fixtures / "nvidia_transfer.pkl").as_posix()
    script.write_text(f'[models]\nbase = "demo"\ntransfer = "{transfer}"\n[[keyframes]]\ntime = 0\nseed = 1\nblend = 0.5\n')
    result = runner.invoke(app, ["validate", str(script)])
    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "models.transfer" in lines[0] and "architectures differ" in lines[0]


def test_a_timeline_export_must_be_named_npz_and_leaves_nothing_else(tmp_path: Path) -> None:
    script = tmp_path / "s.toml"
    script.write_text('[models]\nbase = "demo"\n[path]\nspace = "z"\n[[keyframes]]\ntime = 0\nseed = 1\n')
    result = CliRunner().invoke(app, ["validate", str(script), "--timeline", str(tmp_path / "x.txt")])
    assert result.exit_code == 2 and "written as .npz" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.toml"]


def test_a_folder_given_as_a_model_names_the_key(tmp_path: Path) -> None:
    from renderer.plan.script import ScriptError, load_script

    (tmp_path / "models").mkdir()
    script = tmp_path / "s.toml"
    script.write_text('[models]\nbase = "models"\n[[keyframes]]\ntime = 0\nseed = 1\n')
    with pytest.raises(ScriptError, match=r"models\.base: 'models' is a folder; give a checkpoint file"):
        load_script(script)


def test_a_long_timeline_exports_in_constant_memory(tmp_path: Path) -> None:
    """An hours-long script's tracks stream into the .npz a chunk at a time (np.savez would hold
    all of them, twice): equal values, and peak memory far below the file's size."""
    import tracemalloc

    from renderer.jobs.stills import export_timeline, load_timeline

    script = tmp_path / "long.toml"
    script.write_text('fps = 30\n[models]\nbase = "demo"\n[path]\nspace = "z"\n[[keyframes]]\ntime = 0\nseed = 1\npsi = 0.5\n'
                      '[[keyframes]]\ntime = "40:00"\nseed = 2\npsi = 1.0\n')
    _, timeline = load_timeline(script)
    assert timeline.num_frames == 72_001
    out = tmp_path / "long.npz"
    tracemalloc.start()
    try:
        export_timeline(timeline, out, chunk_size=1024)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    data = np.load(out)
    assert data["z"].shape == (72_001, 128) and data["z"].nbytes > 30e6
    assert peak < data["z"].nbytes / 4, f"peak {peak / 1e6:.1f} MB"
    whole = timeline.chunk(0, timeline.num_frames)
    np.testing.assert_array_equal(data["z"], whole.latents)
    np.testing.assert_array_equal(data["psi"], whole.psi)
    np.testing.assert_array_equal(data["time"], whole.time)
    assert data["key_frames"].tolist() == [0, 72_000]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.npz", "long.toml"]  # no temporaries left
