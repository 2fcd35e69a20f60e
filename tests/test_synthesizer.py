"""The Synthesizer protocol: the StyleGAN2 generator and its per-frame blend satisfy it, loaders
dispatch on the model family, and renderer.models stays below the rest of the package."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch

from renderer.errors import CheckpointError, UsageError
from renderer.jobs.stills import save_native
from renderer.models.blending import BlendedGenerator, blend, blend_per_frame
from renderer.models.checkpoints import (
    BUILDERS,
    build_generator,
    load_generator,
    read_checkpoint,
)
from renderer.models.stylegan2 import Generator, GeneratorConfig
from renderer.models.synthesizer import Synthesizer

REPO = Path(__file__).resolve().parents[1]


def small_config(architecture: str) -> GeneratorConfig:
    return GeneratorConfig(z_dim=8, w_dim=8, img_resolution=32, channels={4: 8, 8: 8, 16: 8, 32: 8},
                           mapping_layers=2, architecture=architecture)  # type: ignore[arg-type]


def test_generator_and_blend_satisfy_the_protocol() -> None:
    G = load_generator("demo")
    blended = blend_per_frame([G, load_generator("demo-transfer")])
    for model, num_models, can_blend in ((G, 1, True), (blended, 2, False)):
        assert isinstance(model, Synthesizer)
        assert model.family == "stylegan2"
        assert model.levels == (4, 8, 16, 32, 64, 128, 256)
        assert model.can_stop_early and model.architecture == "skip"
        assert model.num_models == num_models and model.can_blend is can_blend
    assert isinstance(blended, BlendedGenerator)
    resnet = Generator(small_config("resnet"))
    assert not resnet.can_stop_early and resnet.levels == (4, 8, 16, 32)


def test_a_blend_of_a_blend_is_refused() -> None:
    base, transfer = load_generator("demo"), load_generator("demo-transfer")
    with pytest.raises(UsageError, match="cannot be blended"):
        blend_per_frame([blend_per_frame([base, transfer]), base])


def test_noise_buffers_can_be_lent_and_restored() -> None:
    G = load_generator("demo")
    ws = G.mapping(torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(0)))
    stored = G.noise_buffers()
    assert len(stored) == 2 * len(G.levels) - 1 and stored[0].shape == (4, 4) and stored[-1].shape == (256, 256)
    before = G.synthesis(ws)
    G.set_noise_buffers([torch.zeros_like(m) for m in stored])
    assert torch.equal(G.synthesis(ws), G.synthesis(ws, noise_mode="none"))
    G.set_noise_buffers(stored)
    assert torch.equal(G.synthesis(ws), before)
    with pytest.raises(ValueError, match="noise maps"):
        G.set_noise_buffers(stored[:-1])


def test_single_models_take_no_model_weights_but_none() -> None:
    G = load_generator("demo")
    ws = G.mapping(torch.randn(2, G.z_dim))
    assert torch.equal(G.synthesis(ws, model_weights=None), G.synthesis(ws))
    with pytest.raises(ValueError, match="single model"):
        G.synthesis(ws, model_weights=torch.zeros(2, 2, len(G.levels)))
    with pytest.raises(TypeError, match="unexpected"):
        G.synthesis(ws, noise_mod="random")


def test_loaders_build_through_the_family_registry(fixtures: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ckpt = read_checkpoint(fixtures / "nvidia_base.pkl")
    assert ckpt.family == "stylegan2" and set(BUILDERS) == {"stylegan2", "stylegan3"}
    calls = []

    def build(ckpt, source):  # type: ignore[no-untyped-def]
        calls.append(source)
        return BUILDERS["stylegan2"](ckpt, source)

    monkeypatch.setitem(BUILDERS, "stylegan3", build)
    ckpt.family = "stylegan3"
    G = build_generator(ckpt, "x.pkl")
    assert calls == ["x.pkl"] and isinstance(G, Synthesizer)
    ckpt.family = "stylegan9"
    with pytest.raises(CheckpointError, match="stylegan9 model"):
        build_generator(ckpt, "x.pkl")


def test_a_saved_blend_loads_as_a_single_model(tmp_path: Path) -> None:
    G = blend(load_generator("demo"), load_generator("demo-transfer"), {"swap": 16})
    loaded = load_generator(save_native(G, tmp_path / "blend.safetensors"))
    assert isinstance(loaded, Synthesizer) and loaded.num_models == 1 and loaded.can_blend


def test_models_import_nothing_above_them() -> None:
    """renderer.models sits at the bottom: no plan, frames, output, jobs or cli (import contract)."""
    forbidden = ("renderer.plan", "renderer.frames", "renderer.output", "renderer.jobs", "renderer.cli")
    found = []
    for path in sorted((REPO / "renderer" / "models").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            found += [f"{path.name}: {n}" for n in names if n.startswith(forbidden)]
    assert not found
