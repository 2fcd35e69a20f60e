"""The built-in models: deterministic, colourful, different per seed, and a plausible base/transfer pair."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from renderer import load_generator, seeds_to_z, to_uint8


def _images(name: str, seeds: list[int]) -> np.ndarray:
    G = load_generator(name)
    z = torch.from_numpy(seeds_to_z(seeds, G.z_dim))
    return to_uint8(G(z)).numpy()


def test_demo_is_deterministic() -> None:
    a, b = load_generator("demo").state_dict(), load_generator("demo").state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_demo_shape() -> None:
    G = load_generator("demo")
    assert G.img_resolution == 256 and G.info.format == "builtin"
    assert G.parameter_count() < 2_000_000  # cheap on a CPU


def test_frames_are_colourful_and_differ_by_seed() -> None:
    images = _images("demo", list(range(6)))
    saturation = [np.asarray(Image.fromarray(im).convert("HSV"))[..., 1].mean() for im in images]
    assert min(saturation) > 50, saturation  # out of 255: clearly coloured, not grey
    mean_colours = images.reshape(6, -1, 3).mean(axis=1)
    # Seeds differ in their dominant colour, not only in detail.
    pairwise = [np.abs(mean_colours[i] - mean_colours[j]).max() for i in range(6) for j in range(i + 1, 6)]
    assert np.median(pairwise) > 25, pairwise
    clipped = np.mean((images == 0) | (images == 255))
    assert clipped < 0.05  # the range is used, not saturated


def test_transfer_is_a_drifted_copy_of_demo() -> None:
    base, transfer = load_generator("demo"), load_generator("demo-transfer")
    assert base.config == transfer.config
    b, t = base.state_dict(), transfer.state_dict()
    assert all(torch.equal(b[k], t[k]) for k in b if k.startswith("mapping.fc"))
    assert all(not torch.equal(b[k], t[k]) for k in b if k.endswith("conv1.weight"))
    z = torch.from_numpy(seeds_to_z([0, 1, 2], base.z_dim))
    diff = (base(z) - transfer(z)).abs().mean()
    assert float(diff) > 0.2
