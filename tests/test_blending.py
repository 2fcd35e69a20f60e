"""Resolution-dependent model blending: the reference arrays, per-frame blends, costs, the CLI."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image
from torch.utils.flop_counter import FlopCounterMode

from renderer.blendspec import alpha_by_resolution
from renderer.errors import UsageError
from renderer.jobs.stills import save_native
from renderer.models.blending import (
    BlendedGenerator,
    alphas_to_model_weights,
    blend,
    blend_models,
    check_same_architecture,
    tensor_resolution,
)
from renderer.models.checkpoints import load_generator
from renderer.models.stylegan2 import Generator, GeneratorConfig, SynthesisNetwork
from tests.conftest import FIXTURES, HAVE_FIXTURES
from tests.test_cli import assert_one_line_error, invoke

ATOL = 1e-4
PAIRS = {
    "nvidia": ("nvidia_base.pkl", "nvidia_transfer.pkl"),
    "rosinality": ("rosinality_base.pt", "rosinality_transfer.pt"),
}


def reference_specs(ref: np.lib.npyio.NpzFile) -> dict[str, object]:
    """The blends each reference image was made with (fixtures README, section 4)."""
    return {
        "img_rswap8": {"swap": 8},
        "img_rswap16": {"swap": 16},
        "img_smooth": {int(r): float(a) for r, a in zip(ref["smooth_res"], ref["smooth_alpha"], strict=True)},
        "img_transfer_synthesis": 1.0,
    }


_pairs: dict[str, tuple[Generator, Generator]] = {}


def pair(name: str) -> tuple[Generator, Generator]:
    if not HAVE_FIXTURES:
        pytest.skip(f"reference fixtures not found at {FIXTURES} (set RENDERER_FIXTURES)")
    if name not in _pairs:
        base, transfer = PAIRS[name]
        _pairs[name] = (load_generator(FIXTURES / base), load_generator(FIXTURES / transfer))
    return _pairs[name]


@pytest.mark.parametrize("name", list(PAIRS))
def test_static_blends_reproduce_the_reference(name: str) -> None:
    base, transfer = pair(name)
    ref = np.load(FIXTURES / f"ref_blend_{name}.npz")
    ws = torch.from_numpy(ref["ws"])
    for key, spec in reference_specs(ref).items():
        G = blend(base, transfer, spec)  # type: ignore[arg-type]
        mapped = G.mapping(torch.from_numpy(ref["z"]), truncation_psi=0.7)  # the base mapping and w_avg
        np.testing.assert_allclose(mapped.numpy(), ref["ws"], atol=1e-5, rtol=0)
        np.testing.assert_allclose(G.synthesis(ws).numpy(), ref[key], atol=ATOL, rtol=0, err_msg=key)
    # No swap (r_swap < 4) is the base model.
    base_ref = np.load(FIXTURES / f"ref_{name}_base.npz")
    G = blend(base, transfer, {"swap": 2})
    np.testing.assert_allclose(G.synthesis(ws).numpy(), base_ref["img_psi0_7"], atol=ATOL, rtol=0)


@pytest.mark.parametrize("name", list(PAIRS))
def test_one_batch_with_per_frame_blends_reproduces_every_reference(name: str) -> None:
    base, transfer = pair(name)
    ref = np.load(FIXTURES / f"ref_blend_{name}.npz")
    specs = reference_specs(ref)
    G = BlendedGenerator([base, transfer])
    n = len(ref["ws"])
    # Interleave: frame i of the batch uses variant i % 4, so neighbours always differ.
    order = [(key, i) for i in range(n) for key in specs]
    ws = torch.from_numpy(np.stack([ref["ws"][i] for _, i in order]))
    alphas = np.stack([alpha_by_resolution(specs[key], G.resolutions) for key, _ in order])  # type: ignore[arg-type]
    images = G.synthesis(ws, model_weights=alphas_to_model_weights(alphas)).numpy()
    expected = np.stack([ref[key][i] for key, i in order])
    np.testing.assert_allclose(images, expected, atol=ATOL, rtol=0)


@pytest.mark.parametrize("name", list(PAIRS))
def test_a_constant_batch_reproduces_the_reference(name: str) -> None:
    base, transfer = pair(name)
    ref = np.load(FIXTURES / f"ref_blend_{name}.npz")
    G = BlendedGenerator([base, transfer])
    alphas = alpha_by_resolution(reference_specs(ref)["img_smooth"], G.resolutions)  # type: ignore[arg-type]
    weights = alphas_to_model_weights(np.tile(alphas, (len(ref["ws"]), 1)))
    images = G.synthesis(torch.from_numpy(ref["ws"]), model_weights=weights).numpy()
    np.testing.assert_allclose(images, ref["img_smooth"], atol=ATOL, rtol=0)


def perturbed(G: Generator, seed: int, scale: float = 0.3) -> Generator:
    """A third model of the same architecture: every tensor moved by `scale` of its spread."""
    other = copy.deepcopy(G)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for t in other.state_dict().values():
            if t.is_floating_point() and t.numel() > 1:
                t += scale * t.std() * torch.randn(t.shape, generator=gen)
    return other


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    alphas=arrays(np.float64, (5, 4), elements=st.floats(-0.5, 1.5, allow_nan=False)),
    noise_mode=st.sampled_from(["const", "none"]),
)
def test_per_frame_blend_equals_the_static_blend_of_each_frame(alphas: np.ndarray, noise_mode: str) -> None:
    """Any alphas per frame and resolution, including extrapolation beyond [0, 1]."""
    base, transfer = pair("nvidia")
    G = BlendedGenerator([base, transfer])
    ws = base.mapping(torch.from_numpy(np.random.RandomState(1).randn(len(alphas), base.z_dim)).float(), truncation_psi=0.7)
    batched = G.synthesis(ws, noise_mode=noise_mode, model_weights=alphas_to_model_weights(alphas))
    for i, row in enumerate(alphas):
        static = blend(base, transfer, {int(r): float(a) for r, a in zip(G.resolutions, row, strict=True)})
        expected = static.synthesis(ws[i : i + 1], noise_mode=noise_mode)
        torch.testing.assert_close(batched[i : i + 1], expected, atol=ATOL, rtol=0)


def test_three_models_blend_per_frame_like_the_static_n_model_blend() -> None:
    base, transfer = pair("nvidia")
    third = perturbed(base, seed=3)
    models = [base, transfer, third]
    G = BlendedGenerator(models)
    rng = np.random.RandomState(0)
    raw = rng.rand(6, 3, len(G.resolutions)) + 0.05
    weights = raw / raw.sum(axis=1, keepdims=True)  # [N, M, R], summing to 1 per resolution
    ws = base.mapping(torch.from_numpy(rng.randn(6, base.z_dim)).float())
    batched = G.synthesis(ws, model_weights=torch.from_numpy(weights).float())
    for i in range(6):
        static = blend_models(models, weights[i])
        torch.testing.assert_close(batched[i : i + 1], static.synthesis(ws[i : i + 1]), atol=ATOL, rtol=0)


def test_blend_takes_every_tensor_of_a_resolution_and_nothing_else() -> None:
    base, transfer = pair("rosinality")
    G = blend(base, transfer, {"swap": 8})
    b, t, g = base.state_dict(), transfer.state_dict(), G.state_dict()
    assert set(g) == set(b)
    for key, value in g.items():
        res = tensor_resolution(key)
        source = t if res is not None and res <= 8 else b
        assert torch.equal(value, source[key]), key
    # The noise buffers are part of their resolution, and the mapping comes from the base.
    assert torch.equal(g["synthesis.b8.conv0.noise_const"], t["synthesis.b8.conv0.noise_const"])
    assert torch.equal(g["mapping.w_avg"], b["mapping.w_avg"])
    assert tensor_resolution("mapping.fc0.weight") is None
    assert tensor_resolution("synthesis.b128.torgb.affine.bias") == 128


def test_mapping_alpha_blends_the_mapping_and_w_avg() -> None:
    base, transfer = pair("nvidia")
    G = blend(base, transfer, 0.0, mapping_alpha=0.25)
    expected = 0.75 * base.mapping.w_avg + 0.25 * transfer.mapping.w_avg
    torch.testing.assert_close(G.mapping.w_avg, expected)
    torch.testing.assert_close(G.synthesis.b32.conv1.weight, base.synthesis.b32.conv1.weight)
    animated = BlendedGenerator([base, transfer], mapping_weights=[0.75, 0.25])
    torch.testing.assert_close(animated.mapping.w_avg, expected)


def test_mismatched_architectures_name_the_first_differing_tensors() -> None:
    base, _ = pair("nvidia")
    demo = load_generator("demo")
    with pytest.raises(UsageError) as info:
        blend(base, demo, {"swap": 16})
    message = str(info.value)
    assert "architectures differ" in message and "\n" not in message
    assert "mapping.fc0.weight [64, 64] vs [128, 128]" in message
    assert "more)" in message
    # A larger model of otherwise the same shapes: the extra block is named, with the sizes.
    config = base.config
    bigger = Generator(
        dataclasses.replace(config, img_resolution=64, channels={**config.channels, 64: 16})
    )
    with pytest.raises(UsageError) as info:
        check_same_architecture([base, bigger], ["base.pkl", "big.pkl"])
    message = str(info.value)
    assert message.startswith("cannot blend base.pkl with big.pkl: the architectures differ (32 px vs 64 px): ")
    assert "synthesis.b64.conv0.weight missing vs [16, 32, 3, 3]" in message


def test_weights_must_sum_to_one() -> None:
    base, transfer = pair("nvidia")
    with pytest.raises(UsageError, match="sum to 1"):
        blend_models([base, transfer], np.full((2, 4), 0.6))
    with pytest.raises(UsageError, match="2 weight specs"):
        blend_models([base, transfer], [0.5])
    G = BlendedGenerator([base, transfer])
    with pytest.raises(ValueError, match="model_weights must be"):
        G.synthesis(torch.zeros(2, base.num_ws, base.w_dim))
    with pytest.raises(ValueError, match="single model"):
        base.synthesis(torch.zeros(2, base.num_ws, base.w_dim), model_weights=torch.zeros(2, 2, 4))


def synthesis_flops(network: SynthesisNetwork, ws: torch.Tensor, weights: torch.Tensor | None) -> int:
    with FlopCounterMode(display=False) as counter:
        network(ws, model_weights=weights)
    return counter.get_total_flops()


def test_blend_costs_in_multiply_adds() -> None:
    """A constant blend does the arithmetic of one model; per-frame alphas at most about twice."""
    base = load_generator("demo")
    transfer = load_generator("demo-transfer")
    G = BlendedGenerator([base, transfer])
    ws = base.mapping(torch.randn(4, base.z_dim))
    single = synthesis_flops(base.synthesis, ws, None)
    constant = alphas_to_model_weights(np.full((4, len(G.resolutions)), 0.3))
    varying = alphas_to_model_weights(np.linspace(0, 1, 4)[:, None].repeat(len(G.resolutions), 1))
    # The constant blend adds only the once-per-batch blend of the weights (O(parameters)): 0.34%
    # for the trained demo models (128 channels at 4-8 px, few at 256 px), so well under 1%.
    assert single <= synthesis_flops(G.synthesis, ws, constant) <= 1.01 * single
    assert single < synthesis_flops(G.synthesis, ws, varying) <= 2.2 * single


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_per_frame_blend_stays_close_to_fp32(monkeypatch: pytest.MonkeyPatch, dtype: torch.dtype) -> None:
    """The stacked-weight normalisation of the half-precision path keeps the blend exact (CPU-forced)."""
    G = BlendedGenerator([load_generator("demo"), load_generator("demo-transfer")])
    ws = G.mapping(torch.from_numpy(np.random.RandomState(0).randn(3, G.z_dim)).float(), truncation_psi=0.7)
    weights = alphas_to_model_weights(np.array([[0.0] * 7, [0.5] * 7, [1, 1, 0.8, 0.5, 0.2, 0, 0]]))
    reference = G.synthesis(ws, model_weights=weights)
    monkeypatch.setattr(SynthesisNetwork, "block_dtype", lambda self, res, device: dtype if res >= 32 else torch.float32)
    half = G.synthesis(ws, model_weights=weights)
    diff = (half - reference).abs()
    assert torch.isfinite(half).all() and float(diff.mean()) < (2e-3 if dtype == torch.float16 else 2e-2)


def test_blended_checkpoint_round_trips_through_safetensors(tmp_path: Path) -> None:
    base, transfer = pair("nvidia")
    G = blend(base, transfer, {"swap": 16, "width": 1.0})
    path = save_native(G, tmp_path / "blend.safetensors")
    loaded = load_generator(path)
    ws = base.mapping(torch.randn(2, base.z_dim))
    assert torch.equal(loaded.synthesis(ws), G.synthesis(ws))
    assert any("blend of" in note for note in loaded.info.notes)


def test_cli_blend_writes_a_loadable_checkpoint_and_a_grid(tmp_path: Path) -> None:
    out, grid = tmp_path / "toon.safetensors", tmp_path / "grid.png"
    result = invoke("blend", "demo", "demo-transfer", "--swap", "16", "-o", out, "--grid", grid, "--seeds", "0-2", "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert result.stdout.split() == [str(out), str(grid)]
    G = load_generator(out)
    expected = blend(load_generator("demo"), load_generator("demo-transfer"), {"swap": 16})
    ws = G.mapping(torch.randn(1, G.z_dim))
    assert torch.equal(G.synthesis(ws), expected.synthesis(ws))
    sheet = np.asarray(Image.open(grid))
    # Three 256 px columns and three rows, plus labels and gaps.
    assert 3 * 256 < sheet.shape[1] < 3 * 256 + 200 and 3 * 256 < sheet.shape[0] < 3 * 256 + 100
    # The middle column differs from both neighbours (the blend is neither model).
    tiles = [sheet[-260:-4, x : x + 256].astype(int) for x in (sheet.shape[1] - 3 * 260 + 4 + 260 * j for j in range(3))]
    assert np.abs(tiles[1] - tiles[0]).mean() > 1 and np.abs(tiles[1] - tiles[2]).mean() > 1


def test_cli_blend_alphas_table(tmp_path: Path) -> None:
    out = tmp_path / "soft.safetensors"
    result = invoke("blend", "demo", "demo-transfer", "--alphas", "4=1,8=1,16=0.5,32=0", "-o", out, "--device", "cpu")
    assert result.exit_code == 0, result.output
    G, base, transfer = load_generator(out), load_generator("demo"), load_generator("demo-transfer")
    mid = 0.5 * base.synthesis.b16.conv1.weight + 0.5 * transfer.synthesis.b16.conv1.weight
    torch.testing.assert_close(G.synthesis.b16.conv1.weight, mid)
    assert torch.equal(G.synthesis.b8.conv0.weight, transfer.synthesis.b8.conv0.weight)
    assert torch.equal(G.synthesis.b64.conv0.weight, base.synthesis.b64.conv0.weight)


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["-o", "x.safetensors"], ["give one of --swap"]),
        (["--swap", "16", "--alphas", "4=1", "-o", "x.safetensors"], ["got --swap, --alphas"]),
        (["--swap", "16"], ["nothing to write"]),
        (["--swap", "16", "-o", "x.pt"], ["must end in .safetensors"]),
        (["--alphas", "4:1", "-o", "x.safetensors"], ["resolution=alpha"]),
        (["--width", "1", "-o", "x.safetensors"], ["give one of"]),
        (["--swap", "16", "--low", "top", "-o", "x.safetensors"], ["low must be"]),
    ],
)
def test_cli_blend_usage_errors(tmp_path: Path, args: list[str], fragments: list[str]) -> None:
    args = [str(tmp_path / a) if a.startswith("x.") else a for a in args]
    assert_one_line_error(invoke("blend", "demo", "demo-transfer", *args), 2, *fragments)
    assert not list(tmp_path.iterdir())


def test_cli_blend_refuses_mismatched_models(fixtures: Path, tmp_path: Path) -> None:
    out = tmp_path / "x.safetensors"
    result = invoke("blend", "demo", fixtures / "nvidia_transfer.pkl", "--swap", "16", "-o", out, "--device", "cpu")
    assert_one_line_error(result, 2, "architectures differ", "vs")
    assert not out.exists()


def test_constant_blend_cache_follows_weights_and_in_place_edits() -> None:
    base, transfer = pair("nvidia")
    G = BlendedGenerator([base, transfer])
    ws = base.mapping(torch.randn(3, base.z_dim))
    R = len(G.resolutions)
    for alpha in (0.2, 0.7, 0.2):  # the cache must not return the previous blend
        out = G.synthesis(ws, model_weights=alphas_to_model_weights(np.full((3, R), alpha)))
        torch.testing.assert_close(out, blend(base, transfer, alpha).synthesis(ws), atol=ATOL, rtol=0)
    with torch.no_grad():
        G.synthesis.b16.conv1.bias += 0.5  # both stacked models' bias, in place
    changed = G.synthesis(ws, model_weights=alphas_to_model_weights(np.full((3, R), 0.2)))
    edited = copy.deepcopy(G)  # new tensors: nothing cached applies to them
    fresh = edited.synthesis(ws, model_weights=alphas_to_model_weights(np.full((3, R), 0.2)))
    assert torch.equal(changed, fresh) and not torch.allclose(changed, out)


def small_config(architecture: str) -> GeneratorConfig:
    return GeneratorConfig(z_dim=8, w_dim=8, img_resolution=32, channels={4: 8, 8: 8, 16: 8, 32: 8},
                           mapping_layers=2, architecture=architecture)  # type: ignore[arg-type]


@pytest.mark.parametrize("architecture", ["resnet", "orig"])
def test_per_frame_blends_of_other_architectures_equal_the_static_blend(architecture: str) -> None:
    torch.manual_seed(0)
    base, transfer = Generator(small_config(architecture)), Generator(small_config(architecture))
    G = BlendedGenerator([base, transfer])
    ws = base.mapping(torch.randn(3, 8))
    alphas = np.array([[0.0, 0.3, 0.6, 1.0], [1.0, 1.0, 0.5, 0.0], [0.25] * 4])  # the last: per frame
    batched = G.synthesis(ws, model_weights=alphas_to_model_weights(alphas))
    for i, row in enumerate(alphas):
        static = blend(base, transfer, {r: float(a) for r, a in zip(G.resolutions, row, strict=True)})
        torch.testing.assert_close(batched[i : i + 1], static.synthesis(ws[i : i + 1]), atol=ATOL, rtol=0)


def test_constant_blend_cache_follows_casts_replacements_and_loads() -> None:
    base, transfer = load_generator("demo"), load_generator("demo-transfer")
    G = BlendedGenerator([base, transfer])
    ws = base.mapping(torch.randn(2, base.z_dim))
    weights = alphas_to_model_weights(np.full((2, len(G.resolutions)), 0.4))
    first = G.synthesis(ws, model_weights=weights)
    G.half().float()  # new storages, values rounded: blended anew, whatever addresses are reused
    assert torch.equal(G.synthesis(ws, model_weights=weights), copy.deepcopy(G).synthesis(ws, model_weights=weights))
    G.load_state_dict(BlendedGenerator([base, transfer]).state_dict())  # copied in place
    assert torch.equal(G.synthesis(ws, model_weights=weights), first)
    layer = G.synthesis.b8.conv0
    layer.bias = torch.nn.Parameter(layer.bias * 2, requires_grad=False)  # replaced
    replaced = G.synthesis(ws, model_weights=weights)
    assert not torch.equal(replaced, first)
    with torch.no_grad():
        layer.bias.mul_(0.5)  # in place through the tensor itself: needs forget_constant_blends()
    G.forget_constant_blends()
    assert torch.equal(G.synthesis(ws, model_weights=weights), first)
