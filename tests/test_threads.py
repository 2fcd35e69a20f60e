"""The thread policy (renderer/jobs/threads.py), and every command running under it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from renderer.jobs import threads as policy
from renderer.jobs.job import RenderSettings
from renderer.jobs.preview import PreviewSettings, preview
from renderer.jobs.projector import ProjectSettings
from renderer.jobs.render import render
from renderer.jobs.stills import blend_grid, project_photo, save_seed_images
from renderer.jobs.threads import SMALL_WORK_PIXELS, ThreadPlan, idle_cores, plan_threads, use_threads
from renderer.models.stylegan2 import Generator, GeneratorConfig
from renderer.plan.script import load_script
from tests.test_render import write_script

BIG = 256 * 256  # a frame's pixels well above SMALL_WORK_PIXELS


@pytest.mark.parametrize(
    "cores,load,idle",
    [(2, 0.0, 2), (2, 0.4, 2), (2, 0.6, 1), (2, 16.0, 1), (8, 3.0, 5), (8, 2.5, 6), (1, 0.0, 1), (4, -1.0, 4)],
)
def test_idle_cores_are_the_cores_less_the_load_at_least_one(cores: int, load: float, idle: int) -> None:
    assert idle_cores(cores, load) == idle


def test_a_cpu_command_gives_torch_the_idle_cores_less_one_per_encoder() -> None:
    def plan(**kw) -> ThreadPlan:
        return plan_threads("cpu", work_pixels=BIG, environ={}, **kw)

    assert plan(cores=8, load=0.0) == ThreadPlan(torch=8, interop=1, encoder=1)
    assert plan(cores=8, load=0.0, encoders=1).torch == 7
    assert plan(cores=8, load=0.0, encoders=3).torch == 5
    assert plan(cores=8, load=3.0, encoders=1).torch == 4  # 5 idle, one of them the encoder's
    assert plan(cores=2, load=0.0, encoders=1).torch == 1
    assert plan(cores=2, load=16.0).torch == 1  # a busy machine: no stragglers
    assert plan(cores=2, load=0.0, encoders=4).torch == 1  # never below one
    # The encoders always get one thread each beside generation on a CPU.
    assert {plan(cores=c, load=0.0, encoders=e).encoder for c in (1, 2, 16) for e in (0, 1, 3)} == {1}


def test_small_work_runs_on_one_thread() -> None:
    small = plan_threads("cpu", work_pixels=SMALL_WORK_PIXELS - 1, cores=16, load=0.0, environ={})
    assert small.torch == 1
    assert plan_threads("cpu", work_pixels=SMALL_WORK_PIXELS, cores=16, load=0.0, environ={}).torch == 16
    assert plan_threads("cpu", work_pixels=None, cores=16, load=0.0, environ={}).torch == 16


def test_the_environment_sets_or_caps_torchs_threads() -> None:
    assert plan_threads("cpu", cores=16, load=0.0, environ={"RENDERER_THREADS": "3"}).torch == 3
    assert plan_threads("cpu", cores=2, load=9.0, environ={"RENDERER_THREADS": "3"}).torch == 3  # outright
    assert plan_threads("cpu", cores=16, load=0.0, environ={"OMP_NUM_THREADS": "2"}).torch == 2
    assert plan_threads("cpu", cores=2, load=0.0, environ={"OMP_NUM_THREADS": "8"}).torch == 2  # a cap only
    for bad in ("0", "-1", "two", ""):
        assert plan_threads("cpu", cores=4, load=0.0, environ={"RENDERER_THREADS": bad}).torch == 4


def test_on_a_gpu_the_encoders_share_the_idle_cores() -> None:
    plan = plan_threads("cuda", encoders=4, cores=16, load=0.0, environ={})
    assert plan == ThreadPlan(torch=1, interop=1, encoder=4, encoders=4)
    assert plan_threads("cuda", encoders=1, cores=16, load=6.0, environ={}).encoder == 10
    assert plan_threads("cuda", encoders=8, cores=4, load=0.0, environ={}).encoder == 1


def test_the_defaults_read_this_machine() -> None:
    plan = plan_threads("cpu", environ={})
    assert 1 <= plan.torch <= policy.usable_cores()
    assert policy.machine_load() >= 0


def test_use_threads_sets_torchs_threads_for_the_block_and_restores_them() -> None:
    before = torch.get_num_threads()
    with use_threads(ThreadPlan(torch=3)):
        assert torch.get_num_threads() == 3
    assert torch.get_num_threads() == before
    with pytest.raises(KeyError), use_threads(ThreadPlan(torch=3)):
        raise KeyError
    assert torch.get_num_threads() == before


# --- every command runs under the policy --------------------------------------------------------

def tiny() -> Generator:
    torch.manual_seed(0)
    return Generator(GeneratorConfig(z_dim=8, w_dim=8, img_resolution=32, channels={4: 8, 8: 8, 16: 8, 32: 8},
                                     mapping_layers=2)).eval()


ODD = ThreadPlan(torch=3, interop=1, encoder=2)  # a plan no default would pick on this machine


@pytest.fixture
def odd_plan(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """plan_threads replaced by one returning ODD wherever a command asks; returns the calls' arguments."""
    calls: list[dict] = []

    def fake(device="cpu", **kw) -> ThreadPlan:
        calls.append({"device": str(device), **kw})
        return ODD

    for module in ("renderer.jobs.render", "renderer.jobs.preview", "renderer.jobs.stills"):
        monkeypatch.setattr(f"{module}.plan_threads", fake)
    return calls


def test_generate_and_blend_grid_run_with_the_policys_threads(odd_plan: list[dict], tmp_path: Path) -> None:
    G = tiny()
    before = torch.get_num_threads()
    seen: list[int] = []
    save_seed_images(G, [1, 2], tmp_path, progress=lambda done, total: seen.append(torch.get_num_threads()))
    assert seen == [3, 3] and torch.get_num_threads() == before
    assert odd_plan[0]["work_pixels"] == 32 * 32  # batch 1 on a CPU
    G.synthesis.register_forward_pre_hook(lambda module, args: seen.append(torch.get_num_threads()))
    seen.clear()
    blend_grid([G], [1, 2])
    assert seen == [3, 3] and torch.get_num_threads() == before


def test_preview_runs_with_the_policys_threads_and_encoder_threads(odd_plan: list[dict], tmp_path: Path) -> None:
    script = load_script(write_script(tmp_path, "demo", size=32))
    before = torch.get_num_threads()
    seen: list[int] = []
    result = preview(script, tmp_path / "out", PreviewSettings(resolution=16, plot=False, preset="ultrafast"),
                     progress=lambda p: seen.append(torch.get_num_threads()))
    assert result.draft is not None and result.sheet is not None
    assert set(seen) == {3} and torch.get_num_threads() == before
    assert odd_plan == [{"device": "cpu", "encoders": 0, "work_pixels": 16 * 16}]  # the demo model stops early


def test_preview_passes_the_encoder_threads_to_ffmpeg(odd_plan: list[dict], tmp_path: Path, monkeypatch) -> None:
    import renderer.jobs.preview as module

    opened: list[object] = []
    real = module.open_segment

    def spy(path, **kw):
        opened.append(kw["settings"].threads)
        return real(path, **kw)

    monkeypatch.setattr(module, "open_segment", spy)
    script = load_script(write_script(tmp_path, "demo", size=32))
    preview(script, tmp_path, PreviewSettings(resolution=16, plot=False, sheet=False, preset="ultrafast"))
    assert opened == [2]


def test_project_runs_with_the_policys_threads(odd_plan: list[dict], tmp_path: Path, monkeypatch) -> None:
    import renderer.jobs.stills as module

    G = tiny()
    photo = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(photo)
    encoders: list[object] = []
    real = module.open_segment
    monkeypatch.setattr(module, "open_segment", lambda path, **kw: encoders.append(kw["settings"].threads) or real(path, **kw))
    before = torch.get_num_threads()
    seen: list[int] = []
    project_photo(photo, G, tmp_path / "w.npz", ProjectSettings(steps=3, w_std_samples=200), align=False,
                  video=tmp_path / "steps.mp4", progress=lambda step: seen.append(torch.get_num_threads()))
    assert seen == [3, 3, 3] and torch.get_num_threads() == before
    assert encoders == [2] and odd_plan[0]["work_pixels"] == 32 * 32


def test_a_cpu_render_runs_with_the_policys_threads_and_restores_them(odd_plan: list[dict], tmp_path: Path) -> None:
    before = torch.get_num_threads()
    seen: list[int] = []
    script = load_script(write_script(tmp_path, "demo", size=32))
    result = render(script, RenderSettings(device="cpu", batch_size=4), progress=lambda p: seen.append(torch.get_num_threads()))
    assert torch.get_num_threads() == before
    assert set(seen[1:-2]) == {3}  # while generating
    assert json.loads(result.sidecar.read_text())["encoder"]["threads"] == 2
    assert odd_plan == [{"device": "cpu", "encoders": "auto", "work_pixels": 256 * 256 * 4}]  # 256 px synthesis, encoders by default auto
