"""The generator's own behaviour, on random tiny models of many shapes and on the fixtures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from renderer import Generator, GeneratorConfig, load_generator, save_native
from renderer.models.stylegan2 import (
    blur_after_transposed_conv,
    estimate_w_avg,
    resample_filter_2d,
    upsample2d,
)


def tiny(**overrides) -> GeneratorConfig:
    kwargs = dict(z_dim=16, w_dim=16, img_resolution=16, channels={4: 16, 8: 12, 16: 8}, mapping_layers=2)
    kwargs.update(overrides)
    return GeneratorConfig(**kwargs)


def random_generator(config: GeneratorConfig, seed: int = 0) -> Generator:
    torch.manual_seed(seed)
    G = Generator(config)
    with torch.no_grad():
        for name, p in G.named_parameters():
            if name.endswith(("bias", "noise_strength")):
                p.add_(0.1 * torch.randn_like(p))
        G.mapping.w_avg.copy_(torch.randn(config.w_dim))
    return G


def upfirdn2d_reference(x: torch.Tensor, taps: tuple[float, ...], up: int, pad: tuple[int, int], gain: float):
    """The definition: insert zeros, pad, convolve (true convolution) with the 2-D filter times gain."""
    n, c, h, w = x.shape
    if up > 1:
        u = torch.zeros(n, c, h * up, w * up, dtype=x.dtype)
        u[:, :, ::up, ::up] = x
        x = u
    x = F.pad(x, [pad[0], pad[1], pad[0], pad[1]])
    f = torch.outer(torch.tensor(taps), torch.tensor(taps))
    f = f / f.sum() * gain
    return F.conv2d(x, f.flip([0, 1])[None, None].repeat(c, 1, 1, 1), groups=c)


@pytest.mark.parametrize("taps", [(1.0, 3.0, 3.0, 1.0), (1.0, 2.0, 5.0, 3.0), (1.0, 1.0), (1.0, 2.0, 4.0, 4.0, 2.0, 1.0)])
def test_fir_upsampling_matches_its_definition(taps: tuple[float, ...]) -> None:
    x = torch.randn(2, 3, 5, 7)
    f2 = resample_filter_2d(taps)
    k = len(taps)
    expected = upfirdn2d_reference(x, taps, up=2, pad=((k + 1) // 2, (k - 2) // 2), gain=4)
    assert torch.allclose(upsample2d(x, f2), expected, atol=1e-6)
    expected_blur = upfirdn2d_reference(x, taps, up=1, pad=((k - 2) // 2, (k - 2) // 2), gain=4)
    assert torch.allclose(blur_after_transposed_conv(x, f2), expected_blur, atol=1e-6)


@pytest.mark.parametrize(
    "config",
    [
        tiny(),
        tiny(z_dim=12, w_dim=20, mapping_layers=3, mapping_hidden=24),
        tiny(img_resolution=32, channels={4: 8, 8: 8, 16: 6, 32: 4}),
        tiny(architecture="orig"),
        tiny(architecture="resnet"),
        tiny(conv_clamp=0.5),
        tiny(use_noise=False),
        tiny(c_dim=5),
        tiny(img_channels=1),
        tiny(img_resolution=4, channels={4: 8}),
    ],
    ids=["plain", "z!=w", "32px", "orig", "resnet", "clamp", "no-noise", "conditional", "grey", "4px"],
)
def test_any_architecture_runs_and_round_trips(config: GeneratorConfig, tmp_path: Path) -> None:
    G = random_generator(config)
    z = torch.randn(3, config.z_dim)
    c = F.one_hot(torch.tensor([0, 1, 4]), config.c_dim).float() if config.c_dim else None
    ws = G.mapping(z, c, truncation_psi=0.5)
    assert ws.shape == (3, config.num_ws, config.w_dim)
    assert config.num_ws == 2 * int(np.log2(config.img_resolution)) - 2
    img = G.synthesis(ws)
    assert img.shape == (3, config.img_channels, config.img_resolution, config.img_resolution)
    assert torch.isfinite(img).all()
    loaded = load_generator(save_native(G, tmp_path / "g.safetensors"))
    assert loaded.config == config
    assert torch.equal(loaded.synthesis(ws), img)
    assert torch.equal(loaded.mapping(z, c, truncation_psi=0.5), ws)


def test_num_ws_counts_convs_and_the_last_torgb() -> None:
    assert tiny().num_ws == 6  # 4: conv1 | 8: conv0, conv1 | 16: conv0, conv1 | final ToRGB
    assert tiny(img_resolution=1024, channels={2**i: 8 for i in range(2, 11)}).num_ws == 18


def test_orig_and_resnet_layouts() -> None:
    orig = random_generator(tiny(architecture="orig"))
    assert [hasattr(getattr(orig.synthesis, f"b{r}"), "torgb") for r in (4, 8, 16)] == [False, False, True]
    resnet = random_generator(tiny(architecture="resnet"))
    assert hasattr(resnet.synthesis.b8, "skip") and not hasattr(resnet.synthesis.b4, "skip")
    skip = random_generator(tiny())
    assert all(hasattr(getattr(skip.synthesis, f"b{r}"), "torgb") for r in (4, 8, 16))


def test_conv_clamp_bounds_activations() -> None:
    clamped = random_generator(tiny(conv_clamp=0.05))
    free = random_generator(tiny())
    ws = free.mapping(torch.randn(2, 16))
    assert not torch.allclose(clamped.synthesis(ws), free.synthesis(ws))


TRUNC_G = random_generator(tiny())


@settings(max_examples=40, deadline=None)
@given(
    psi=st.floats(-1.0, 2.0, allow_nan=False),
    cutoff=st.one_of(st.none(), st.integers(0, 8)),
    seed=st.integers(0, 2**31 - 1),
)
def test_truncation_formula_and_cutoff(psi: float, cutoff: int | None, seed: int) -> None:
    z = torch.from_numpy(np.random.RandomState(seed).randn(2, 16)).float()
    plain = TRUNC_G.mapping(z)
    ws = TRUNC_G.mapping(z, truncation_psi=psi, truncation_cutoff=cutoff)
    n = TRUNC_G.num_ws if cutoff is None else min(cutoff, TRUNC_G.num_ws)
    expected = TRUNC_G.w_avg + psi * (plain[:, :n] - TRUNC_G.w_avg)
    assert torch.allclose(ws[:, :n], expected, atol=1e-5)
    assert torch.equal(ws[:, n:], plain[:, n:])


def test_per_sample_psi_tensor_equals_scalar_psi() -> None:
    z = torch.randn(3, 16)
    psis = torch.tensor([0.3, 0.7, 1.0])
    batched = TRUNC_G.mapping(z, truncation_psi=psis)
    for i, psi in enumerate(psis.tolist()):
        assert torch.allclose(batched[i], TRUNC_G.mapping(z[i : i + 1], truncation_psi=psi)[0], atol=1e-6)


def test_noise_modes(fixtures: Path) -> None:
    G = load_generator(fixtures / "nvidia_base.pkl")
    ws = G.mapping(torch.randn(2, G.z_dim))
    const = G.synthesis(ws, noise_mode="const")
    assert torch.equal(const, G.synthesis(ws, noise_mode="const"))
    assert float((G.synthesis(ws, noise_mode="none") - const).abs().max()) > 0.1
    torch.manual_seed(1)
    r1 = G.synthesis(ws, noise_mode="random")
    torch.manual_seed(1)
    assert torch.equal(r1, G.synthesis(ws, noise_mode="random"))
    assert not torch.equal(r1, G.synthesis(ws, noise_mode="random"))
    with pytest.raises(ValueError, match="noise_mode"):
        G.synthesis(ws, noise_mode="loud")  # type: ignore[arg-type]


def test_shape_errors_name_the_expected_shape() -> None:
    with pytest.raises(ValueError, match=r"z must be \[N, 16\]"):
        TRUNC_G.mapping(torch.randn(2, 15))
    with pytest.raises(ValueError, match=r"ws must be \[N, 6, 16\]"):
        TRUNC_G.synthesis(torch.randn(2, 5, 16))


def test_half_precision_is_cuda_only() -> None:
    """On CPU a half-precision request leaves the output bit-identical to fp32."""
    G = random_generator(tiny())
    ws = G.mapping(torch.randn(2, 16))
    reference = G.synthesis(ws)
    for precision in ("fp16", "bf16"):
        G.set_precision(precision)
        assert G.precision == precision
        assert torch.equal(G.synthesis(ws), reference)
    G.set_precision("fp32")
    with pytest.raises(ValueError, match="precision"):
        G.set_precision("fp8")  # type: ignore[arg-type]


def test_estimate_w_avg_is_deterministic_and_converges() -> None:
    G = random_generator(tiny())
    a = estimate_w_avg(G.mapping, num_samples=4000, seed=3)
    assert torch.equal(a, estimate_w_avg(G.mapping, num_samples=4000, seed=3, batch=512))
    b = estimate_w_avg(G.mapping, num_samples=4000, seed=4)
    spread = float(G.mapping(torch.randn(4000, 16))[:, 0].std(0).mean())
    assert float((a - b).abs().max()) < 0.15 * spread


def test_config_dict_round_trip_and_validation() -> None:
    config = tiny(conv_clamp=256.0, c_dim=3, architecture="resnet")
    assert GeneratorConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="power of two"):
        tiny(img_resolution=24)
    with pytest.raises(ValueError, match="channels missing"):
        tiny(channels={4: 8, 8: 8})
    with pytest.raises(ValueError, match="even number"):
        tiny(resample_filter=(1.0, 2.0, 1.0))
    with pytest.raises(ValueError, match="unknown generator config keys"):
        GeneratorConfig.from_dict({**config.to_dict(), "fmap_base": 1})


@pytest.mark.parametrize("dtype,mean_tol,max_tol", [(torch.float16, 1e-3, 1e-2), (torch.bfloat16, 1e-2, 5e-2)])
def test_half_precision_layers_stay_close_to_fp32(
    monkeypatch: pytest.MonkeyPatch, dtype: torch.dtype, mean_tol: float, max_tol: float
) -> None:
    """The half-precision code path (fp16 normalisation, clamp fallback, casts), run on CPU.

    Users only get it on CUDA; here the block dtype is forced so the path is tested without a GPU.
    """
    from renderer.models.stylegan2 import SynthesisNetwork

    G = load_generator("demo")
    z = torch.from_numpy(np.random.RandomState(0).randn(3, G.z_dim)).float()
    reference = G(z, truncation_psi=0.7)
    monkeypatch.setattr(
        SynthesisNetwork, "block_dtype", lambda self, res, device: dtype if res >= 32 else torch.float32
    )
    half = G(z, truncation_psi=0.7)
    assert half.dtype == torch.float32 and torch.isfinite(half).all()
    diff = (half - reference).abs()
    assert 0 < float(diff.mean()) < mean_tol and float(diff.max()) < max_tol


def test_cpu_activations_are_channels_last_and_give_the_contiguous_result(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a CPU the activations run channels-last (oneDNN's own layout, no reorder around each
    conv); the arithmetic does not depend on the layout, so the contiguous layout (what other
    devices use) gives the same images to float rounding, at batch 1 (weights modulated) and 3."""
    import renderer.models.stylegan2 as stylegan2

    G = random_generator(tiny(img_resolution=32, channels={4: 16, 8: 12, 16: 8, 32: 8})).eval()
    ws = G.mapping(torch.randn(3, G.z_dim), truncation_psi=0.7)
    seen: list[bool] = []
    hook = G.synthesis.b16.conv1.register_forward_hook(lambda m, i, o: seen.append(o.is_contiguous(memory_format=torch.channels_last)))
    with torch.no_grad():
        channels_last = [G.synthesis(ws, noise_mode="const"), G.synthesis(ws[:1], noise_mode="const")]
    hook.remove()
    assert seen == [True, True]
    monkeypatch.setattr(stylegan2, "activation_layout", lambda device: torch.contiguous_format)
    seen.clear()
    hook = G.synthesis.b16.conv1.register_forward_hook(lambda m, i, o: seen.append(o.is_contiguous()))
    with torch.no_grad():
        contiguous = [G.synthesis(ws, noise_mode="const"), G.synthesis(ws[:1], noise_mode="const")]
    hook.remove()
    assert seen == [True, True]
    for a, b in zip(channels_last, contiguous, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5)
    torch.testing.assert_close(channels_last[1], channels_last[0][:1], rtol=0, atol=1e-5)  # batch 1 = its row of 3
