"""Projection: recovers a known image, its w renders exactly, schedules, settings, noise, perceptual net."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from renderer.errors import CheckpointError, RendererError, UsageError
from renderer.frames.images import to_uint8
from renderer.frames.latents import read_latent_file
from renderer.jobs.projector import (
    PerceptualDistance,
    ProjectionResult,
    ProjectionStep,
    ProjectSettings,
    latent_noise_scales,
    learning_rates,
    load_perceptual,
    noise_regularization,
    project,
    psnr,
    save_projection,
)
from renderer.models.stylegan2 import Generator, SynthesisLayer
from renderer.plan.seeds import seeds_to_z
from tests.conftest import FIXTURES, HAVE_FIXTURES

# Tiny stand-in networks are made the way NVIDIA's vgg16.pt was, with TorchScript, which this
# torch version marks deprecated.
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")

# A few steps are enough to test the mechanics; the acceptance test runs a real schedule.
QUICK = ProjectSettings(steps=12, w_std_samples=500)


# Single-threaded torch here: the 32-px model's ops are tiny, and with two OpenMP threads on a
# 2-core machine busy with anything else every op waits for a descheduled thread (100 steps took
# 49 s instead of 3.5 s). The results do not depend on it.
@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def G() -> Generator:
    if not HAVE_FIXTURES:
        pytest.skip(f"reference fixtures not found at {FIXTURES} (set RENDERER_FIXTURES)")
    from renderer.models.checkpoints import load_generator

    return load_generator(FIXTURES / "nvidia_base.pkl")


@pytest.fixture(scope="module")
def known(G: Generator) -> tuple[np.ndarray, np.ndarray]:
    """A target the model can make exactly: seed 3 at psi 0.7, with its w [num_ws, w_dim]."""
    with torch.no_grad():
        ws = G.mapping(torch.from_numpy(seeds_to_z([3], G.z_dim)), truncation_psi=0.7)
        image = to_uint8(G.synthesis(ws, noise_mode="const"))[0].numpy()
    return image, ws[0].numpy()


def render(G: Generator, w: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return to_uint8(G.synthesis(torch.from_numpy(w).to(G.device), noise_mode="const"))[0].cpu().numpy()


def noise_buffers(G: Generator) -> list[torch.Tensor]:
    return [m.noise_const for m in G.synthesis.modules() if isinstance(m, SynthesisLayer) and m.use_noise]


# --- acceptance --------------------------------------------------------------------------------


def test_projection_recovers_a_generated_image(G: Generator, known: tuple[np.ndarray, np.ndarray]) -> None:
    target, _ = known
    start = time.perf_counter()
    result = project(G, target, ProjectSettings(steps=200))
    elapsed = time.perf_counter() - start
    # Seen on a 2-core CPU: 31.7 dB in 4-6 s (the w_avg start: about 17 dB). The time is not
    # asserted: it depends on the machine and its load far more than on the code.
    assert result.psnr >= 28.0, f"PSNR {result.psnr:.2f} dB after {elapsed:.1f} s"
    assert psnr(render(G, result.w), target) == pytest.approx(result.psnr)
    assert result.losses[-1] < 0.1 * result.losses[0]


# --- the result --------------------------------------------------------------------------------


def test_w_has_nvidias_layout_and_renders_the_image_exactly(
    G: Generator, known: tuple[np.ndarray, np.ndarray]
) -> None:
    result = project(G, known[0], QUICK)
    assert result.w.shape == (1, G.num_ws, G.w_dim) and result.w.dtype == np.float32
    assert result.image.shape == (G.img_resolution, G.img_resolution, G.img_channels)
    assert result.image.dtype == np.uint8
    np.testing.assert_array_equal(render(G, result.w), result.image)
    assert result.psnr == pytest.approx(psnr(result.image, known[0]))
    assert len(result.losses) == QUICK.steps and all(math.isfinite(v) for v in result.losses)
    assert result.image_optimized_noise is None


def test_space_w_shares_one_w_and_w_plus_does_not(G: Generator, known: tuple[np.ndarray, np.ndarray]) -> None:
    shared = project(G, known[0], QUICK).w[0]
    assert np.all(shared == shared[:1])
    per_layer = project(G, known[0], ProjectSettings(steps=12, space="w+", w_std_samples=500)).w[0]
    assert not np.allclose(per_layer, per_layer[:1])


def test_same_seed_same_result_and_the_seed_matters(
    G: Generator, known: tuple[np.ndarray, np.ndarray]
) -> None:
    first = project(G, known[0], QUICK)
    with torch.no_grad():  # a caller's no_grad must not stop the optimisation
        second = project(G, known[0], QUICK)
    np.testing.assert_array_equal(first.w, second.w)
    assert first.losses == second.losses
    other = project(G, known[0], ProjectSettings(steps=12, w_std_samples=500, seed=1))
    assert not np.array_equal(first.w, other.w)


def test_progress_reports_every_step_with_its_image(
    G: Generator, known: tuple[np.ndarray, np.ndarray]
) -> None:
    seen: list[ProjectionStep] = []
    result = project(G, known[0], QUICK, progress=seen.append)
    assert [s.step for s in seen] == list(range(1, QUICK.steps + 1))
    assert all(s.steps == QUICK.steps for s in seen)
    assert [s.loss for s in seen] == result.losses
    assert seen[-1].image.shape == known[0].shape and seen[-1].image.dtype == np.uint8
    # Step 1 synthesised w_avg (plus a little latent noise): not the target yet.
    assert psnr(seen[0].image, known[0]) < psnr(result.image, known[0])


def test_the_target_must_fit_the_model(G: Generator, known: tuple[np.ndarray, np.ndarray]) -> None:
    res = G.img_resolution
    with pytest.raises(UsageError, match=rf"\[{2 * res}, {2 * res}, 3\].*\[{res}, {res}, 3\]") as info:
        project(G, np.zeros((2 * res, 2 * res, 3), np.uint8), QUICK)
    assert "\n" not in str(info.value)
    with pytest.raises(UsageError, match="channels|\\[32, 32, 3\\]"):
        project(G, np.zeros((res, res, 4), np.uint8), QUICK)
    with pytest.raises(UsageError, match="uint8"):
        project(G, known[0].astype(np.float32), QUICK)
    with pytest.raises(UsageError, match="coarser"):
        project(G, known[0], ProjectSettings(steps=1, pixel_scales=(1, 2 * res)))
    with pytest.raises(UsageError, match="nothing to optimise"):
        project(G, known[0], ProjectSettings(steps=1, pixel_weight=0.0))


# --- noise -------------------------------------------------------------------------------------


def test_optimized_noise_leaves_the_models_buffers_alone(
    G: Generator, known: tuple[np.ndarray, np.ndarray]
) -> None:
    before = noise_buffers(G)
    copies = [b.clone() for b in before]
    settings = ProjectSettings(steps=12, noise="optimize", w_std_samples=500)
    result = project(G, known[0], settings)
    after = noise_buffers(G)
    assert all(a is b for a, b in zip(after, before, strict=True))
    for buffer, copy in zip(after, copies, strict=True):
        assert not buffer.requires_grad
        torch.testing.assert_close(buffer, copy, rtol=0, atol=0)
    # The saved w renders with the stored noise; the fitted noise gave a different image.
    assert result.image_optimized_noise is not None
    np.testing.assert_array_equal(render(G, result.w), result.image)
    assert not np.array_equal(result.image_optimized_noise, result.image)


def test_buffers_are_restored_when_the_projection_is_interrupted(
    G: Generator, known: tuple[np.ndarray, np.ndarray]
) -> None:
    copies = [b.clone() for b in noise_buffers(G)]

    def stop(step: ProjectionStep) -> None:
        if step.step == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        project(G, known[0], ProjectSettings(steps=12, noise="optimize", w_std_samples=500), progress=stop)
    for buffer, copy in zip(noise_buffers(G), copies, strict=True):
        torch.testing.assert_close(buffer, copy, rtol=0, atol=0)


def test_noise_regularizer_penalises_correlated_noise() -> None:
    gen = torch.Generator().manual_seed(0)
    white = [torch.randn(64, 64, generator=gen), torch.randn(16, 16, generator=gen)]
    blurred = [
        F.avg_pool2d(m[None, None], 3, stride=1, padding=1, count_include_pad=False)[0, 0] for m in white
    ]
    blurred = [(m - m.mean()) / m.std() for m in blurred]
    # White noise only has chance correlations (about 1 / pixels per term); a 3x3 blur correlates
    # neighbours by about 2/3.
    assert float(noise_regularization(white)) < 0.02
    assert float(noise_regularization(blurred)) > 1.0
    assert float(noise_regularization([])) == 0.0


def test_noise_regularizer_weight_is_part_of_the_loss(
    G: Generator, known: tuple[np.ndarray, np.ndarray]
) -> None:
    base = {"steps": 3, "noise": "optimize", "w_std_samples": 500}
    with_reg = project(G, known[0], ProjectSettings(**base))  # type: ignore[arg-type]
    without = project(G, known[0], ProjectSettings(**base, regularize_noise_weight=0.0))  # type: ignore[arg-type]
    # Same first synthesis, so the first losses differ by exactly the regulariser's term.
    maps = [b.float() for b in noise_buffers(G)]
    expected = 1e5 * float(noise_regularization(maps))
    assert with_reg.losses[0] - without.losses[0] == pytest.approx(expected, rel=1e-3)
    assert expected > 0


# --- schedules and settings --------------------------------------------------------------------


def test_learning_rate_schedule() -> None:
    rates = learning_rates(ProjectSettings(steps=1000, initial_lr=0.1))
    assert rates.shape == (1000,)
    assert rates[0] == 0.0  # ramp-up starts at 0
    assert rates[25] == pytest.approx(0.05)  # halfway up the 5% ramp
    assert np.all(rates[50:751] == pytest.approx(0.1))  # the plateau
    assert rates[875] == pytest.approx(0.05)  # halfway down the 25% cosine
    assert 0 < rates[-1] < 1e-5  # almost 0 at the end
    assert np.all(np.diff(rates[750:]) < 0)
    no_ramp = learning_rates(ProjectSettings(steps=10, lr_rampup_length=0.0))
    assert no_ramp[0] == pytest.approx(0.1)


def test_latent_noise_schedule() -> None:
    scales = latent_noise_scales(ProjectSettings(steps=100, initial_noise_factor=0.05, noise_ramp_length=0.5))
    assert scales[0] == pytest.approx(0.05)
    assert scales[25] == pytest.approx(0.05 * 0.25)  # quadratic decay
    assert np.all(scales[50:] == 0)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("steps", 0, "steps must be a whole number >= 1"),
        ("steps", 2.5, "steps must be a whole number"),
        ("space", "z", "space must be one of"),
        ("noise", "random", "noise must be one of"),
        ("initial_lr", 0.0, "initial_lr must be > 0"),
        ("initial_lr", math.nan, "initial_lr must be a finite number"),
        ("lr_rampdown_length", 1.5, r"lr_rampdown_length must be in \(0, 1\]"),
        ("lr_rampup_length", 1.0, r"lr_rampup_length must be in \[0, 1\)"),
        ("initial_noise_factor", -0.1, "initial_noise_factor must be >= 0"),
        ("noise_ramp_length", 0.0, "noise_ramp_length must be > 0"),
        ("regularize_noise_weight", -1.0, "regularize_noise_weight must be >= 0"),
        ("pixel_weight", -1.0, "pixel_weight must be >= 0"),
        ("perceptual_weight", math.inf, "perceptual_weight must be a finite number"),
        ("pixel_scales", (1, 3), "powers of two"),
        ("pixel_scales", (2, 2), "twice"),
        ("pixel_scales", (), "pixel_scales is empty"),
        ("seed", -1, "seed must be a whole number in 0.."),
        ("w_std_samples", 1, "w_std_samples must be a whole number >= 2"),
    ],
)
def test_settings_are_validated(field: str, value: object, message: str) -> None:
    with pytest.raises(UsageError, match=message) as info:
        ProjectSettings(**{field: value})  # type: ignore[arg-type]
    assert "\n" not in str(info.value)


def test_settings_defaults_are_nvidias() -> None:
    s = ProjectSettings()
    assert (s.steps, s.initial_lr, s.lr_rampdown_length, s.lr_rampup_length) == (1000, 0.1, 0.25, 0.05)
    assert (s.initial_noise_factor, s.noise_ramp_length, s.regularize_noise_weight) == (0.05, 0.75, 1e5)
    assert (s.space, s.noise) == ("w", "fixed")
    assert ProjectSettings(pixel_scales=[1, 2]).pixel_scales == (1, 2)  # type: ignore[arg-type]


# --- saving ------------------------------------------------------------------------------------


def test_saved_projection_reads_back_as_a_w_plus_latent(G: Generator, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    w = rng.standard_normal((1, G.num_ws, G.w_dim)).astype(np.float32)
    result = ProjectionResult(w=w, image=np.zeros((4, 4, 3), np.uint8), psnr=0.0, losses=[])
    path = tmp_path / "projected_w.npz"
    save_projection(result, path)
    with np.load(path) as data:
        assert list(data.keys()) == ["w"]
        np.testing.assert_array_equal(data["w"], w)
    space, latent = read_latent_file(path, z_dim=G.z_dim, w_dim=G.w_dim, num_ws=G.num_ws)
    assert space == "w" and latent.shape == (G.num_ws, G.w_dim)
    np.testing.assert_array_equal(latent, w[0])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["projected_w.npz"]  # no temporary left


def test_save_projection_errors(tmp_path: Path) -> None:
    result = ProjectionResult(
        w=np.zeros((1, 2, 3), np.float32), image=np.zeros((1, 1, 3), np.uint8), psnr=0, losses=[]
    )
    with pytest.raises(UsageError, match=r"w\.npy: projected latents are written as \.npz"):
        save_projection(result, tmp_path / "w.npy")
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(RendererError, match=r"file/w\.npz: cannot create the folder") as info:
        save_projection(result, blocker / "w.npz")
    assert "\n" not in str(info.value)
    save_projection(result, tmp_path / "missing" / "w.npz")  # a missing folder is created
    assert (tmp_path / "missing" / "w.npz").is_file()


# --- perceptual network ------------------------------------------------------------------------


class TinyFeatures(torch.nn.Module):
    """Stands in for NVIDIA's vgg16.pt: same call, a few normalised conv features."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)

    def forward(
        self, images: torch.Tensor, resize_images: bool = True, return_lpips: bool = False
    ) -> torch.Tensor:
        features = F.adaptive_avg_pool2d(F.relu(self.conv(images / 127.5 - 1)), 8).flatten(1)
        return features / (features.square().sum(dim=1, keepdim=True).sqrt() + 1e-8)


class WrongSignature(torch.nn.Module):
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return images.flatten(1)


class WrongOutput(torch.nn.Module):
    def forward(
        self, images: torch.Tensor, resize_images: bool = True, return_lpips: bool = False
    ) -> torch.Tensor:
        return images  # [N, 3, H, W], not [N, F]


def save_scripted(module: torch.nn.Module, path: Path) -> Path:
    torch.jit.script(module).save(str(path))
    return path


@pytest.fixture
def tiny_perceptual(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    return save_scripted(TinyFeatures(), tmp_path / "tiny_vgg.pt")


def test_perceptual_network_loads_and_measures(tiny_perceptual: Path) -> None:
    perceptual = load_perceptual(tiny_perceptual)
    assert isinstance(perceptual, PerceptualDistance) and perceptual.path == tiny_perceptual
    images = torch.linspace(-1, 1, 2 * 3 * 300 * 300).reshape(2, 3, 300, 300)
    features = perceptual.features(images)  # larger than 256: area-downsampled first
    assert features.shape == (2, 4 * 8 * 8)
    assert not features.requires_grad  # the network's weights are frozen
    assert float(perceptual.distance(features, features)) == 0.0
    assert float(perceptual.distance(features[:1], features[1:])) > 0


def test_projection_with_a_perceptual_network(
    G: Generator, known: tuple[np.ndarray, np.ndarray], tiny_perceptual: Path
) -> None:
    perceptual = load_perceptual(tiny_perceptual)
    plain = project(G, known[0], QUICK)
    mixed = project(G, known[0], QUICK, perceptual=perceptual)
    assert mixed.losses[0] > plain.losses[0]  # the feature distance is added
    alone = project(
        G, known[0], ProjectSettings(steps=12, w_std_samples=500, pixel_weight=0.0), perceptual=perceptual
    )
    assert alone.losses[-1] < alone.losses[0]
    np.testing.assert_array_equal(render(G, alone.w), alone.image)


def test_perceptual_loader_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=r"vgg16\.pt: no such file$"):
        load_perceptual(tmp_path / "vgg16.pt")
    pickled = tmp_path / "pickled.pt"
    torch.save({"weight": torch.zeros(3)}, pickled)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\x80\x04not a network")
    for path in (pickled, junk):
        with pytest.raises(CheckpointError, match=rf"{path.name}: not a TorchScript network") as info:
            load_perceptual(path)
        assert "\n" not in str(info.value)
    wrong_call = save_scripted(WrongSignature(), tmp_path / "wrong_call.pt")
    with pytest.raises(
        CheckpointError, match=r"wrong_call\.pt: cannot be called as net\(images, resize_images=False"
    ):
        load_perceptual(wrong_call)
    wrong_output = save_scripted(WrongOutput(), tmp_path / "wrong_output.pt")
    with pytest.raises(CheckpointError, match=r"wrong_output\.pt: expected features \[N, F\]"):
        load_perceptual(wrong_output)
