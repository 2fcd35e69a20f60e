"""The Ray backend's settings and driver-side pieces that need no Ray cluster (the renders are in
test_ray_backend.py, marked `ray`)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from renderer.cli import app
from renderer.errors import RendererError, UsageError
from renderer.jobs.job import RayOptions, RenderSettings, resolve_job
from renderer.jobs.ray_backend import (
    _read_segment,
    _remote_error,
    _store_segment,
    driver_device,
    segment_name,
)
from renderer.plan.script import load_script

SCRIPT = 'fps = 12\n[models]\nbase = "demo"\n[[keyframes]]\ntime = 0\nseed = 1\n[[keyframes]]\ntime = "2s"\nseed = 2\n'


def test_without_ray_the_ray_backend_says_how_to_install_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails, as when it is not installed
    script = tmp_path / "walk.toml"
    script.write_text(SCRIPT)
    result = CliRunner().invoke(app, ["render", str(script), "--backend", "ray"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "pip install 'stylegan-renderer[ray]'" in lines[0], result.output
    with pytest.raises(UsageError, match=r"stylegan-renderer\[ray\]"):
        RenderSettings(backend="ray")
    RenderSettings()  # the local backend needs no Ray


def test_an_unknown_backend_is_one_line(tmp_path: Path) -> None:
    script = tmp_path / "walk.toml"
    script.write_text(SCRIPT)
    result = CliRunner().invoke(app, ["render", str(script), "--backend", "spark"])
    assert result.exit_code == 2
    assert result.output.strip() == "error: backend must be one of local, ray, not 'spark'"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"workers": 0}, "workers must be at least 1"),
        ({"gpus_per_worker": -1}, "gpus per worker must be 0 or more"),
        ({"cpus_per_worker": 0}, "cpus per worker must be more than 0"),
        ({"segment_storage": "nfs"}, "segment storage must be one of auto, shared, bytes"),
    ],
)
def test_ray_options_are_checked(options: dict[str, object], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        RayOptions(**options)  # type: ignore[arg-type]


def test_the_job_carries_and_describes_the_backend(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    (tmp_path / "walk.toml").write_text(SCRIPT)
    script = load_script(tmp_path / "walk.toml")
    options = RayOptions(address="auto", workers=3, gpus_per_worker=1)
    job = resolve_job(script, RenderSettings(backend="ray", ray=options))
    assert (job.backend, job.ray) == ("ray", options)
    rows = {key: value for key, value, _ in job.describe()}
    assert rows["render.backend"] == "ray" and rows["render.ray.workers"] == 3 and rows["render.ray.address"] == "auto"
    local = resolve_job(script)
    assert not any(key.startswith("render.ray.") for key, _, _ in local.describe())


def test_segments_are_named_as_by_the_local_backend() -> None:
    # Either backend resumes the other's segments: the journal names them the same way.
    assert segment_name(3, ".mp4") == "segment00003.mp4" and segment_name(12, "") == "segment00012"


def test_a_segment_sent_back_as_bytes_is_stored_whole(tmp_path: Path) -> None:
    worker = tmp_path / "worker"
    worker.mkdir()
    (worker / "segment00001.mp4").write_bytes(b"\x00video" * 100)
    frames = worker / "segment00002"
    frames.mkdir()
    for i in (48, 49):
        (frames / f"frame{i:06d}.png").write_bytes(bytes([i]) * 10)
    work = tmp_path / "work"
    work.mkdir()
    (work / "segment00002").mkdir()  # an abandoned attempt's frames
    (work / "segment00002" / "frame000047.png").write_bytes(b"old")
    for name in ("segment00001.mp4", "segment00002"):
        _store_segment(work, name, _read_segment(worker / name))
    assert (work / "segment00001.mp4").read_bytes() == b"\x00video" * 100
    assert sorted(p.name for p in (work / "segment00002").iterdir()) == ["frame000048.png", "frame000049.png"]
    assert (work / "segment00002" / "frame000049.png").read_bytes() == bytes([49]) * 10
    assert sorted(p.name for p in work.iterdir()) == ["segment00001.mp4", "segment00002"]  # no temporaries left


def test_a_worker_error_keeps_its_type_and_becomes_one_line() -> None:
    error = _remote_error(UsageError("bad thing\nwith details"), "segment 3 (frames 72-95) failed 2 times: ")
    assert type(error) is UsageError and str(error) == "segment 3 (frames 72-95) failed 2 times: bad thing"
    other = _remote_error(ZeroDivisionError("division by zero"), "worker 1: ")
    assert type(other) is RendererError and str(other) == "worker 1: division by zero (ZeroDivisionError)"


def test_the_driver_resolves_on_the_job_device_where_this_host_has_it() -> None:
    import torch

    assert driver_device("cpu") == "cpu" and driver_device("auto") == "auto"
    assert driver_device("cuda:1") == ("cuda:1" if torch.cuda.is_available() else "cpu")
