"""The built-in models: trained on procedural faces, packaged, deterministic, a base/transfer pair."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from renderer import load_generator, seeds_to_z, to_uint8
from renderer.jobs.faces import PRINT_INK, face_images
from renderer.models.demo import TRAINED_RESOLUTION, builtin_weights_path, grow_generator
from renderer.models.stylegan2 import Generator, GeneratorConfig, upsample2d


def _images(name: str, seeds: list[int], psi: float = 0.7) -> np.ndarray:
    G = load_generator(name)
    z = torch.from_numpy(seeds_to_z(seeds, G.z_dim))
    with torch.no_grad():
        return to_uint8(G(z, truncation_psi=psi)).numpy()


def _small(images: np.ndarray) -> np.ndarray:
    """[N, 256, 256, 3] -> [N, 64, 64, 3] float (area average)."""
    n, r = images.shape[0], images.shape[1]
    k = r // TRAINED_RESOLUTION
    return images.reshape(n, TRAINED_RESOLUTION, k, TRAINED_RESOLUTION, k, 3).mean(axis=(2, 4))


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def test_demo_is_deterministic_and_packaged() -> None:
    a, b = load_generator("demo").state_dict(), load_generator("demo").state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    for name in ("demo", "demo-transfer", "demo-pastel"):
        assert builtin_weights_path(name).stat().st_size < 3_000_000  # a few MB in the package


def test_packaged_weights_name_no_machine_path() -> None:
    """The notes a training run leaves in the weights' metadata are relative to the repository."""
    import re

    from safetensors import safe_open

    for name in ("demo", "demo-transfer", "demo-pastel"):
        with safe_open(str(builtin_weights_path(name)), framework="pt") as f:
            text = " ".join(f.metadata().values())
        assert not re.search(r"(^|[\s\"'(])(/|[A-Za-z]:\\)\S", text), text


def test_demo_shape() -> None:
    G = load_generator("demo")
    assert G.img_resolution == 256 and G.num_ws == 14 and G.info.format == "builtin"
    assert G.parameter_count() < 1_000_000  # cheap on a CPU


def test_frames_are_the_trained_64px_image_upsampled() -> None:
    """The 128 and 256 px blocks add nothing but the FIR upsampling (see renderer.models.demo)."""
    G = load_generator("demo")
    ws = G.mapping(torch.from_numpy(seeds_to_z([0, 1], G.z_dim)), truncation_psi=0.7)
    with torch.no_grad():
        full = G.synthesis(ws)
        low = G.synthesis(ws, max_resolution=TRAINED_RESOLUTION)
    f2 = G.synthesis.f2
    torch.testing.assert_close(full, upsample2d(upsample2d(low, f2), f2), atol=1e-5, rtol=0)


def test_demo_draws_faces_like_its_training_set() -> None:
    """The average demo frame has the layout of the average drawn face (head, hair, shoulders)."""
    generated = _small(_images("demo", list(range(24)), psi=1.0)).mean(axis=0)
    photos = face_images(2020, 64, size=64, style="photo").astype(np.float64).mean(axis=0)
    prints = face_images(2020, 64, size=64, style="woodblock").astype(np.float64).mean(axis=0)
    assert _correlation(generated, photos) > 0.8
    assert _correlation(generated, photos) > _correlation(generated, prints)
    # Seeds differ: the frames are not one mean face.
    frames = _small(_images("demo", list(range(6))))
    assert np.median([np.abs(frames[i] - frames[j]).mean() for i in range(6) for j in range(i)]) > 15


def test_transfer_prints_in_the_woodblock_palette() -> None:
    """demo-transfer's frames sit closer to the print inks and paper than demo's."""

    def ink_distance(images: np.ndarray) -> float:
        pixels = _small(images).reshape(-1, 1, 3)
        return float(np.sqrt(((pixels - PRINT_INK[None]) ** 2).sum(-1)).min(-1).mean())

    seeds = list(range(12))
    base, transfer = _images("demo", seeds), _images("demo-transfer", seeds)
    assert ink_distance(transfer) < 0.85 * ink_distance(base)  # measured: 37 vs 49 (0.75)


def test_pastel_frames_are_paler_and_lighter() -> None:
    """demo-pastel learned the washed-out pastel drawings: lower saturation, higher value than demo."""
    import cv2

    def saturation_value(images: np.ndarray) -> tuple[float, float]:
        hsv = cv2.cvtColor(_small(images).astype(np.uint8).reshape(-1, TRAINED_RESOLUTION, 3), cv2.COLOR_RGB2HSV)
        return float(hsv[..., 1].mean()), float(hsv[..., 2].mean())

    seeds = list(range(12))
    base_s, base_v = saturation_value(_images("demo", seeds))
    pastel_s, pastel_v = saturation_value(_images("demo-pastel", seeds))
    assert pastel_s < 0.8 * base_s and pastel_v > base_v


@pytest.mark.parametrize("name", ["demo-transfer", "demo-pastel"])
def test_transfer_is_fine_tuned_from_demo(name: str) -> None:
    base, transfer = load_generator("demo"), load_generator(name)
    assert base.config == transfer.config
    b, t = base.state_dict(), transfer.state_dict()
    assert all(not torch.equal(b[k], t[k]) for k in b if k.endswith("conv1.weight") and "b128" not in k and "b256" not in k)
    # Fine-tuning moves weights a little (the base's structure is kept), not to a new random model.
    for key in ("synthesis.b8.conv1.weight", "synthesis.b32.conv1.weight"):
        assert _correlation(b[key].numpy(), t[key].numpy()) > 0.5
    # The transfer kept demo's mapping (--mapping-lr 0): the same seed is the same w in both models.
    assert all(torch.equal(b[k], t[k]) for k in b if k.startswith("mapping.") and not k.endswith("w_avg"))


def test_grow_generator_only_upsamples() -> None:
    torch.manual_seed(0)
    G = Generator(GeneratorConfig(z_dim=8, w_dim=8, img_resolution=16, channels={4: 8, 8: 8, 16: 8}, mapping_layers=2))
    grown = grow_generator(G, 64, {32: 4, 64: 4})
    assert grown.img_resolution == 64 and grown.num_ws == 10
    z = torch.randn(2, 8)
    with torch.no_grad():
        small, big = G(z), grown(z)
    f2 = G.synthesis.f2
    torch.testing.assert_close(big, upsample2d(upsample2d(small, f2), f2), atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="more than 16"):
        grow_generator(G, 16, {})
