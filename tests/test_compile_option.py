"""`--compile auto|on|off`: the auto decision, the cache folder and index, padding, and the option's
plumbing from the CLI to the render's sidecar. Nothing here compiles (tests/test_compiled.py does)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from renderer.errors import UsageError
from renderer.jobs.compiling import WARM_S_PER_BLOCK, decide_compile, estimate_seconds, synthesis_flops
from renderer.jobs.job import RenderSettings, resolve_job
from renderer.jobs.stills import GenerateSettings
from renderer.models import compiled as compiled_module
from renderer.models.canvas import extend_canvas
from renderer.models.checkpoints import load_generator
from renderer.models.compiled import CompileIndex, compile_cache_dir, compile_key, pad_rows
from renderer.models.synthesizer import FrameNoise
from renderer.plan.script import load_script
from tests.test_cli import assert_one_line_error, invoke
from tests.test_render import write_script


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
    monkeypatch.setenv("RENDERER_COMPILE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_the_cache_folder_respects_inductors_then_ours_then_xdg() -> None:
    assert compile_cache_dir({"XDG_CACHE_HOME": "/x"}) == Path("/x/renderer/compile")
    assert compile_cache_dir({"XDG_CACHE_HOME": "/x", "RENDERER_COMPILE_CACHE": "/r"}) == Path("/r")
    assert compile_cache_dir({"RENDERER_COMPILE_CACHE": "/r", "TORCHINDUCTOR_CACHE_DIR": "/t"}) == Path("/t")
    assert compile_cache_dir({}) == Path.home() / ".cache" / "renderer" / "compile"


def test_off_never_compiles_and_short_jobs_and_tiny_models_stay_eager() -> None:
    G = load_generator("demo")
    assert not decide_compile("off", G, frames=10**9, batch_size=1).enabled
    plan = decide_compile("auto", G, frames=240, batch_size=1)
    assert not plan.enabled and plan.notice is None and "240 frames" in plan.reason and "cold cache" in plan.reason
    assert decide_compile("on", G, frames=1, batch_size=1).enabled
    # The default suite's renders: tens of frames of the demo model never repay a compile.
    assert not decide_compile("auto", G, frames=10_000, batch_size=1).enabled


def test_auto_compiles_a_long_render_and_a_warm_cache_lowers_the_bar(_cache: Path) -> None:
    G = load_generator("demo")
    per_frame, cold = estimate_seconds(G, frames=1, level=None, warm=False)
    _, warm = estimate_seconds(G, frames=1, level=None, warm=True)
    assert warm == WARM_S_PER_BLOCK * len(G.levels) < cold
    between = int(2 * (cold + warm) / 2 / per_frame)  # repays a warm compile twice, not a cold one
    assert not decide_compile("auto", G, frames=between, batch_size=1).enabled
    assert decide_compile("auto", G, frames=int(2.01 * cold / per_frame), batch_size=1).enabled
    key = compile_key(G, batch_size=1, noise_mode="const", level=None)
    CompileIndex(_cache).record(key, 50.0)
    plan = decide_compile("auto", G, frames=between, batch_size=1)
    assert plan.enabled and plan.key == key and "warm cache" in plan.reason
    # Another batch size, noise mode or level is another configuration: still cold.
    assert not decide_compile("auto", G, frames=between, batch_size=4).enabled
    assert not decide_compile("auto", G, frames=between, batch_size=1, noise_mode="random").enabled
    assert json.loads((_cache / "renderer-index.json").read_text())[key]["compile_s"] == 50.0


def test_the_estimate_follows_the_work() -> None:
    G = load_generator("demo")
    full = synthesis_flops(G)
    levels = [synthesis_flops(G, level=r) for r in (8, 16, 32, 64, 128)]
    assert levels == sorted(levels) and levels[-1] < full  # every level adds work
    # The demo's 128 and 256 px blocks have 8 channels but 20x the pixels: about half of the work.
    assert full / 3 < synthesis_flops(G, level=64) < 2 * full / 3
    assert synthesis_flops(extend_canvas(G, (4, 8), "reflect")) == pytest.approx(2 * full)


def test_without_a_cxx_compiler_auto_and_on_run_eagerly_with_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compiled_module.shutil, "which", lambda name: None)
    G = load_generator("demo")
    for mode in ("auto", "on"):
        plan = decide_compile(mode, G, frames=10**9, batch_size=1)  # type: ignore[arg-type]
        assert not plan.enabled and plan.notice is not None and "no C++ compiler" in plan.notice
        assert "\n" not in plan.notice


def test_stylegan3_compiles_when_asked_and_its_blends_run_eagerly_with_a_reason() -> None:
    from renderer.models.blending import blend_per_frame

    G = load_generator("demo-sg3")
    assert decide_compile("on", G, frames=100, batch_size=1).enabled
    assert not decide_compile("auto", G, frames=10**6, batch_size=1).enabled  # auto estimates StyleGAN2 only
    blend = blend_per_frame([G, load_generator("demo-sg3-transfer")])
    plan = decide_compile("on", blend, frames=100, batch_size=1)
    assert not plan.enabled and plan.notice and "StyleGAN3 per-frame blends run eagerly" in plan.notice


def test_short_batches_are_padded_with_the_last_row() -> None:
    t = torch.arange(6.0).reshape(3, 2)
    padded = pad_rows(t, 5)
    assert padded.shape == (5, 2) and torch.equal(padded[:3], t) and torch.equal(padded[3:], t[[2, 2]])
    assert pad_rows(t, 3) is t
    noise = compiled_module._pad_argument("noise", FrameNoise((None, torch.zeros(3, 1, 4, 4)), (torch.ones(3), None)), 4)
    assert noise.maps[0] is None and noise.maps[1].shape == (4, 1, 4, 4) and noise.gains[0].shape == (4,)
    assert compiled_module._pad_argument("model_weights", torch.zeros(3, 2, 7), 4).shape == (4, 2, 7)
    assert compiled_module._pad_argument("transform", torch.zeros(3, 3, 3), 4).shape == (4, 3, 3)
    shared = torch.eye(3)  # one transform for the whole batch stays as it is
    assert compiled_module._pad_argument("transform", shared, 4) is shared


def test_settings_refuse_a_bad_mode_and_the_job_carries_it(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="compile must be one of auto, on, off"):
        RenderSettings(compile="sometimes")  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="compile"):
        GenerateSettings(compile="yes")  # type: ignore[arg-type]
    job = resolve_job(load_script(write_script(tmp_path, "demo", size=32)), RenderSettings(compile="off"))
    assert job.compile == "off" and ("render.compile", "off", "settings") in job.describe()
    assert dataclasses.replace(job).compile == "off"


def test_cli_render_takes_the_option_into_the_sidecar(tmp_path: Path) -> None:
    script = write_script(tmp_path, "demo", size=32)
    result = invoke("render", script, "-o", tmp_path / "off.mp4", "--device", "cpu", "--compile", "off", "-q")
    assert result.exit_code == 0, result.output
    sidecar = json.loads((tmp_path / "off.mp4.json").read_text())
    assert sidecar["compile"] == {"mode": "off", "enabled": False, "reason": "off"}
    result = invoke("render", script, "-o", tmp_path / "auto.mp4", "--device", "cpu", "-q")
    assert result.exit_code == 0, result.output
    decided = json.loads((tmp_path / "auto.mp4.json").read_text())["compile"]
    assert decided["mode"] == "auto" and not decided["enabled"] and "37 frames" in decided["reason"]
    assert "compile_s" not in json.loads((tmp_path / "auto.mp4.json").read_text())["timings"]


def test_cli_a_bad_compile_value_is_one_line_exit_2(tmp_path: Path) -> None:
    script = write_script(tmp_path, "demo", size=32)
    assert_one_line_error(invoke("render", script, "--compile", "fast", "-q"), 2, "compile must be one of", "'fast'")
    assert_one_line_error(invoke("generate", "--model", "demo", "--seeds", "1", "-o", tmp_path / "g", "--compile", "1"), 2, "compile")


def test_cli_generate_without_a_compiler_says_so_once_and_still_draws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compiled_module.shutil, "which", lambda name: None)
    result = invoke("generate", "--model", "demo", "--seeds", "1-2", "-o", tmp_path / "g", "--compile", "on", "-q")
    assert result.exit_code == 0, result.output
    assert [line for line in result.stderr.splitlines() if line.strip()] == [
        "compile: running eagerly: no C++ compiler found (set CXX, or install g++ or clang++)"
    ]
    assert sorted(p.name for p in (tmp_path / "g").iterdir()) == ["seed0001.png", "seed0002.png"]
    assert np.asarray(__import__("PIL.Image", fromlist=["Image"]).open(tmp_path / "g" / "seed0001.png")).shape == (256, 256, 3)


def test_an_auto_resume_keeps_the_partial_renders_choice(tmp_path: Path) -> None:
    from renderer.jobs.render import resumed_batching
    from renderer.output.manifest import Journal

    job = resolve_job(load_script(write_script(tmp_path, "demo", size=32)), RenderSettings(resume=True))
    job.work_folder.mkdir()
    for saved, decided in (({"device": "cpu", "batch_size": 2, "compiled": True}, "on"), ({"device": "cpu", "batch_size": 2}, "off")):
        Journal(job.work_folder, {"batching": saved}).flush()
        resumed = resumed_batching(job)
        assert (resumed.compile, resumed.batch_size) == (decided, 2)
        assert resumed_batching(dataclasses.replace(job, compile="off")).compile == "off"  # named: kept
