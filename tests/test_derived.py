"""Weight-derived tensors are computed once per weight and recomputed whenever the weight changes."""

from __future__ import annotations

import torch
from torch import nn

from renderer.models.derived import derived
from renderer.models.stylegan2 import Generator, GeneratorConfig, demodulation, squared_kernel_norms


def counting() -> tuple[list[int], object]:
    calls: list[int] = []

    def make(w: torch.Tensor) -> torch.Tensor:
        calls.append(1)
        return w.square().sum(dim=(2, 3))

    return calls, make


def test_a_parameters_derived_tensor_is_made_once_and_remade_after_a_change() -> None:
    weight = nn.Parameter(torch.randn(4, 3, 3, 3), requires_grad=False)
    calls, make = counting()
    first = derived(weight, "w2", make)
    assert derived(weight, "w2", make) is first and len(calls) == 1
    with torch.no_grad():
        weight.mul_(2)  # in place: a new version
    again = derived(weight, "w2", make)
    assert len(calls) == 2 and torch.allclose(again, first * 4)
    weight.data = torch.randn(4, 3, 3, 3)  # new storage, as Module.to() swaps it
    assert torch.equal(derived(weight, "w2", make), weight.square().sum(dim=(2, 3))) and len(calls) == 3


def test_no_cache_for_plain_tensors_or_under_autograd() -> None:
    calls, make = counting()
    plain = torch.randn(4, 3, 3, 3)
    derived(plain, "w2", make), derived(plain, "w2", make)
    assert len(calls) == 2
    trained = nn.Parameter(torch.randn(4, 3, 3, 3))  # requires grad
    derived(trained, "w2", make), derived(trained, "w2", make)
    assert len(calls) == 4
    with torch.no_grad():
        derived(trained, "w2", make), derived(trained, "w2", make)
    assert len(calls) == 5


def test_demodulation_is_bit_identical_with_the_cache_and_follows_the_weights() -> None:
    torch.manual_seed(0)
    G = Generator(GeneratorConfig(z_dim=8, w_dim=8, img_resolution=16, channels={4: 8, 8: 8, 16: 8}, mapping_layers=2)).eval()
    layer = G.synthesis.b8.conv0
    styles = torch.randn(2, layer.weight.shape[1])
    uncached = (styles.square() @ squared_kernel_norms(layer.weight.detach()).t() + 1e-8).rsqrt()
    with torch.no_grad():
        assert torch.equal(demodulation(layer.weight, styles), uncached)
        z = torch.randn(2, 8)
        image = G(z)
        assert torch.equal(G(z), image)  # the second call reuses the cache: same bits
        layer.weight.add_(torch.randn_like(layer.weight))  # (a scale alone is demodulated away)
        changed = G(z)
    assert not torch.equal(changed, image)
    fresh = Generator(G.config).eval()
    fresh.load_state_dict(G.state_dict())
    with torch.no_grad():
        assert torch.equal(fresh(z), changed)
