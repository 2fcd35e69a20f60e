"""The Ray backend on a local Ray cluster (2 CPUs and 2 fake GPUs, started once per session).

Run with `pytest -m ray` (needs the ray extra). Each render starts its own workers, so these take
a minute or two on two cores.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from renderer.cli import app
from renderer.errors import CheckpointError
from renderer.jobs.job import RayOptions, RenderSettings
from renderer.jobs.render import RenderProgress, render
from renderer.output.ffmpeg import probe, read_frames
from renderer.plan.script import Script, load_script
from tests.conftest import REPO

ray = pytest.importorskip("ray")

pytestmark = pytest.mark.ray

EXAMPLE = REPO / "examples" / "latent_walk_music_video.toml"  # 288 frames at 24 fps, with audio
SMALL = 32
SEGMENT_S = 1.0  # 24-frame segments: 12 of them, for two workers to share


@pytest.fixture(scope="session", autouse=True)
def local_ray() -> Iterator[None]:
    """One local Ray for the session; its workers import this checkout's renderer."""
    ray.init(
        num_cpus=2, num_gpus=2, include_dashboard=False, log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": str(REPO)}},
    )
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def script() -> Script:
    return load_script(EXAMPLE)


def settings(out: Path, *, backend: str = "ray", resume: bool = False, **ray_options: object) -> RenderSettings:
    return RenderSettings(
        device="cpu", resolution=SMALL, resume=resume, backend=backend,  # type: ignore[arg-type]
        ray=RayOptions(workers=2, **ray_options),  # type: ignore[arg-type]
        output={"file": out, "segment": SEGMENT_S},
    )


def png_frames(folder: Path) -> np.ndarray:
    return np.stack([np.asarray(Image.open(p)) for p in sorted(folder.glob("frame*.png"))])


@pytest.fixture(scope="module")
def local_frames(script: Script, tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    """The reference: the local render of the example as PNG frames."""
    out = tmp_path_factory.mktemp("local") / "frames"
    render(script, settings(out, backend="local"))
    return png_frames(out)


def journal_segments(out: Path) -> int:
    manifest = out.parent / f".{out.name}.parts" / "manifest.json"
    try:
        return len(json.loads(manifest.read_text())["segments"])
    except (OSError, ValueError):
        return 0


def test_a_ray_render_equals_the_local_render_frame_for_frame(script: Script, local_frames: np.ndarray, tmp_path: Path) -> None:
    out = tmp_path / "frames"
    seen: list[RenderProgress] = []
    result = render(script, settings(out), progress=seen.append)
    assert len(local_frames) == script.num_frames
    np.testing.assert_array_equal(png_frames(out), local_frames)
    backend = json.loads(result.sidecar.read_text())["backend"]
    assert backend["name"] == "ray"
    assert sum(w["segments"] for w in backend["workers"]) == 12 == result.segments_rendered
    assert all(w["storage"] == "shared" for w in backend["workers"])  # one host: the work folder is visible
    # One bar over all workers: frames never go backwards without a death, and end at the total.
    done = [p.frames_done for p in seen if p.stage == "generating"]
    assert done == sorted(done) and done[-1] == script.num_frames
    assert any(p.workers for p in seen)
    assert not (tmp_path / ".frames.parts").exists()


def test_a_ray_mp4_sent_back_as_bytes_has_the_local_frames_and_audio(script: Script, tmp_path: Path) -> None:
    local, remote = tmp_path / "local.mp4", tmp_path / "ray.mp4"
    render(script, settings(local, backend="local"))
    result = render(script, settings(remote, segment_storage="bytes"))
    a, b = probe(local), probe(remote)
    assert b.num_frames == a.num_frames == script.num_frames
    assert b.audio_codec == a.audio_codec == "aac"
    assert b.duration == pytest.approx(a.duration, abs=0.05)
    # Same frames, same encoder settings: the same picture once decoded.
    np.testing.assert_array_equal(np.stack(list(read_frames(remote))), np.stack(list(read_frames(local))))
    backend = json.loads(result.sidecar.read_text())["backend"]
    assert {w["storage"] for w in backend["workers"]} == {"bytes"}
    assert all(s["bytes"] > 0 for s in backend["segments"])


def test_a_worker_killed_mid_render_has_its_segments_retried(script: Script, local_frames: np.ndarray, tmp_path: Path) -> None:
    out = tmp_path / "frames"
    killed: list[int] = []

    def kill_one(p: RenderProgress) -> None:
        if not killed and p.frames_done >= 60 and p.workers:
            killed.append(p.workers[0].pid)
            os.kill(p.workers[0].pid, signal.SIGKILL)

    result = render(script, settings(out), progress=kill_one)
    assert killed
    np.testing.assert_array_equal(png_frames(out), local_frames)
    backend = json.loads(result.sidecar.read_text())["backend"]
    assert any(r["error"] == "the worker died" for r in backend["retried"])
    assert [w["state"] for w in backend["workers"]].count("dead") == 1
    assert len(backend["workers"]) == 3  # a replacement took the dead worker's place


def wait_gone(pids: set[int], timeout: float = 15.0) -> set[int]:
    """The processes still alive after up to `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        alive = set()
        for pid in pids:
            try:
                os.kill(pid, 0)
                alive.add(pid)
            except ProcessLookupError:
                pass
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.2)


def test_a_render_interrupted_on_ray_resumes_locally(script: Script, local_frames: np.ndarray, tmp_path: Path) -> None:
    out = tmp_path / "frames"
    pids: set[int] = set()

    def interrupt(p: RenderProgress) -> None:
        pids.update(w.pid for w in p.workers)
        if journal_segments(out) >= 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        render(script, settings(out), progress=interrupt)
    assert not out.exists()  # nothing at the output path until the join
    assert pids and not wait_gone(pids)  # Ctrl-C ends the workers
    assert not list((tmp_path / ".frames.parts").glob(".*partial*"))
    result = render(script, settings(out, backend="local", resume=True))
    assert result.segments_reused >= 2
    np.testing.assert_array_equal(png_frames(out), local_frames)


def test_a_local_render_interrupted_resumes_on_ray(script: Script, local_frames: np.ndarray, tmp_path: Path) -> None:
    out = tmp_path / "frames"

    def interrupt(p: RenderProgress) -> None:
        if journal_segments(out) >= 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        render(script, settings(out, backend="local"), progress=interrupt)
    result = render(script, settings(out, resume=True))
    assert result.segments_reused >= 3 and result.segments_rendered == 12 - result.segments_reused
    np.testing.assert_array_equal(png_frames(out), local_frames)


def small_script(tmp_path: Path, model: Path) -> Path:
    path = tmp_path / "walk.toml"
    path.write_text(
        f'fps = 12\n[models]\nbase = "{model.as_posix()}"\n[output]\nsegment = 1.0\n'
        "[[keyframes]]\ntime = 0\nseed = 1\n[[keyframes]]\ntime = \"3s\"\nseed = 2\n"
    )
    return path


def test_a_checkpoint_missing_on_the_workers_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import renderer
    import renderer.jobs.ray_backend as backend

    model = tmp_path / "model.safetensors"
    renderer.save_native(renderer.load_generator("demo"), model)
    script = small_script(tmp_path, model)
    real = backend.load_animation

    def driver_only(*args: object, **kwargs: object) -> object:
        # The driver reads the checkpoint; then it is gone, as on a worker host without the file.
        loaded = real(*args, **kwargs)  # type: ignore[arg-type]
        model.unlink()
        return loaded

    monkeypatch.setattr(backend, "load_animation", driver_only)
    out = tmp_path / "walk.mp4"
    result = CliRunner().invoke(
        app, ["render", str(script), "-o", str(out), "--device", "cpu", "--backend", "ray", "--workers", "2", "-q"],
    )
    assert result.exit_code == 2, result.output  # a checkpoint is the user's input
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: worker ") and str(model) in lines[0], result.output
    assert not out.exists()
    renderer.save_native(renderer.load_generator("demo"), model)
    with pytest.raises(CheckpointError) as error:  # the library raises the worker's own error type
        render(load_script(script), settings(tmp_path / "again.mp4"))
    assert "\n" not in str(error.value) and str(model) in str(error.value)


def test_a_segment_failing_twice_stops_the_render_with_one_line(tmp_path: Path) -> None:
    script = small_script(tmp_path, Path("demo"))
    out = tmp_path / "walk.mp4"
    # No NVENC in this ffmpeg: every worker fails the first segment it opens.
    result = CliRunner().invoke(
        app, ["render", str(script), "-o", str(out), "--device", "cpu", "--codec", "h264-nvenc",
              "--backend", "ray", "--workers", "2", "-q"],
    )
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert "failed 2 times" in lines[0] and "h264_nvenc" in lines[0] and lines[0].startswith("error: segment ")
    assert not out.exists() and not (tmp_path / ".walk.mp4.parts").exists()
