"""Two renders to one output never mix: the second refuses while the first completes intact; a killed
render's lock does not block the next one; a finished render leaves no lock behind."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from renderer.errors import UsageError
from renderer.jobs.job import RenderSettings
from renderer.jobs.render import RenderProgress, render
from renderer.output.ffmpeg import probe
from renderer.output.files import OutputLock
from renderer.plan.script import load_script
from tests.conftest import REPO
from tests.test_render import write_script

SMALL = RenderSettings(device="cpu", resolution=16)


def test_a_second_render_to_the_same_output_refuses_while_the_first_completes(tmp_path: Path) -> None:
    script = load_script(write_script(tmp_path, "demo"))
    out = tmp_path / "clip.mp4"
    settings = RenderSettings(device="cpu", resolution=16, output={"file": out})
    refusals: list[str] = []

    def start_a_second_render(progress: RenderProgress) -> None:
        if progress.stage == "generating" and progress.frames_done > 0 and not refusals:
            with pytest.raises(UsageError) as error:
                render(script, settings)
            refusals.append(str(error.value))

    first = render(script, settings, progress=start_a_second_render)
    assert refusals and "another render is writing this output (process" in refusals[0]
    assert "\n" not in refusals[0] and str(out) in refusals[0]
    assert first.segments_rendered == 3 and probe(out).num_frames == script.num_frames  # intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "clip.mp4.json", "clip.toml"]  # no leftovers


def test_a_killed_renders_lock_does_not_block_the_next(tmp_path: Path) -> None:
    script = load_script(write_script(tmp_path, "demo"))
    out = tmp_path / "clip.mp4"
    hold = (
        "from renderer.output.files import OutputLock\nimport time\n"
        f"with OutputLock({str(out)!r}):\n    print('locked', flush=True)\n    time.sleep(60)"
    )
    holder = subprocess.Popen([sys.executable, "-c", hold], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(UsageError, match=f"process {holder.pid}"):
            render(script, RenderSettings(device="cpu", resolution=16, output={"file": out}))
    finally:
        holder.kill()  # like kill -9: the lock file stays, the lock dies with the process
        holder.wait()
    assert (tmp_path / ".clip.mp4.lock").exists()
    result = render(script, RenderSettings(device="cpu", resolution=16, output={"file": out}))
    assert result.num_frames == script.num_frames and not (tmp_path / ".clip.mp4.lock").exists()


def test_the_cli_refuses_a_busy_output_with_one_line(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from renderer.cli import app

    script = write_script(tmp_path, "demo")
    with OutputLock(tmp_path / "clip.mp4"):
        result = CliRunner().invoke(app, ["render", str(script), "-o", str(tmp_path / "clip.mp4"), "--res", "16", "-q"])
    assert result.exit_code == 2 and "another render is writing" in result.output
    assert not (tmp_path / "clip.mp4").exists() and not (tmp_path / ".clip.mp4.parts").exists()


def test_a_render_that_fails_before_finishing_a_segment_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from renderer.errors import EncoderError
    from renderer.jobs.runner import SegmentRunner

    def fail(*args, **kwargs):
        raise EncoderError("ffmpeg failed")

    monkeypatch.setattr(SegmentRunner, "run", fail)
    script = load_script(write_script(tmp_path, "demo"))
    with pytest.raises(EncoderError):
        render(script, SMALL)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.toml"]  # no .clip.16px.mp4.parts, no lock


def test_a_png_folder_changes_only_when_the_render_completes(tmp_path: Path) -> None:
    from PIL import Image

    script = load_script(write_script(tmp_path, "demo"))
    frames = tmp_path / "frames"
    frames.mkdir()
    (frames / "notes.txt").write_text("mine")
    settings = RenderSettings(device="cpu", resolution=16, output={"file": frames})
    first = render(script, settings)
    before = {p.name: p.read_bytes() for p in frames.glob("*.png")}
    assert first.num_frames == len(before) == 37

    def stop_in_second_segment(progress: RenderProgress) -> None:
        if progress.frames_done >= 20:
            raise KeyboardInterrupt

    other = load_script(write_script(tmp_path, "demo", keyframes='[[keyframes]]\ntime = 0\nseed = 9\n[[keyframes]]\ntime = "2s"\nseed = 8\n'))
    with pytest.raises(KeyboardInterrupt):
        render(other, settings, progress=stop_in_second_segment)
    assert {p.name: p.read_bytes() for p in frames.glob("*.png")} == before  # untouched by the interrupted render

    resumed = render(other, RenderSettings(device="cpu", resolution=16, resume=True, output={"file": frames}))
    after = sorted(frames.glob("*.png"))
    assert resumed.segments_reused == 1 and len(after) == other.num_frames == 25  # the longer render's extra frames are gone
    assert (frames / "notes.txt").read_text() == "mine"  # other files in the folder are left alone
    assert Image.open(after[0]).size == (16, 16) and after[0].read_bytes() != before["frame000000.png"]
