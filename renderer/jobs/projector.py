"""Project an image into a generator's latent space (image -> w), after NVIDIA's `projector.py`.

The method is Karras et al.'s (StyleGAN2, section 5): start at the mean w, optimise it with Adam
under a learning rate that ramps up and then down along a half cosine, and perturb it with a
decaying Gaussian so the early steps explore. The loss is a multi-scale pixel MSE, plus NVIDIA's
VGG16 feature distance when the user supplies that network (`load_perceptual`); nothing is
downloaded. By default the model's stored constant noise is kept, so the w found renders exactly
as the reconstruction in every later render; `noise="optimize"` also fits the noise maps, as
NVIDIA does, with their autocorrelation regulariser.

No file I/O here beyond reading the perceptual network and `save_projection`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import numbers
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray

from renderer.errors import CheckpointError, UsageError
from renderer.frames.images import to_uint8
from renderer.models.synthesizer import Synthesizer
from renderer.output.files import atomic_path
from renderer.plan.seeds import MAX_SEED

Space = Literal["w", "w+"]
NoiseHandling = Literal["fixed", "optimize"]

SPACES: tuple[str, ...] = ("w", "w+")
NOISE_HANDLINGS: tuple[str, ...] = ("fixed", "optimize")
W_STD_SEED = 123  # NVIDIA's seed for the w statistics: the spread does not depend on `seed`
PERCEPTUAL_SIZE = 256  # NVIDIA's VGG16 sees images area-downsampled to at most this side
PROBE_SIZE = 64  # side of the test image a perceptual network must accept when loaded


@dataclasses.dataclass(frozen=True)
class ProjectSettings:
    """How to project; the defaults are NVIDIA's, except the noise (kept fixed, see module doc).

    space "w" optimises one w [1, 1, w_dim] shared by every layer. space "w+" optimises a single w
    for the first half of the steps (steps // 2), then one w per layer [1, num_ws, w_dim],
    starting from that w, for the rest: it reconstructs more closely, the result edits less well.
    The pixel loss is the MSE of raw images (about [-1, 1]) after area-downsampling both by each
    factor in `pixel_scales`, the factors weighted equally (the mean of their MSEs): coarse
    scales pull the colours and layout into place early, scale 1 the detail.
    """

    steps: int = 1000
    space: Space = "w"
    initial_lr: float = 0.1
    lr_rampdown_length: float = 0.25  # fraction of the steps over which the rate falls to 0
    lr_rampup_length: float = 0.05  # fraction of the steps over which the rate rises from 0
    initial_noise_factor: float = 0.05  # latent noise at step 0, in units of w's spread
    noise_ramp_length: float = 0.75  # fraction of the steps after which the latent noise is 0
    noise: NoiseHandling = "fixed"  # "fixed": the model's stored noise; "optimize": fit it too
    regularize_noise_weight: float = 1e5  # noise="optimize" only
    pixel_weight: float = 1.0
    pixel_scales: tuple[int, ...] = (1, 2, 4, 8)  # area-downsampling factors, powers of two
    perceptual_weight: float = 1.0  # used only when a perceptual network is given
    seed: int = 0  # latent noise
    w_std_samples: int = 10_000  # mapping samples that measure w's spread

    def __post_init__(self) -> None:
        object.__setattr__(self, "pixel_scales", tuple(self.pixel_scales))
        _check_whole("steps", self.steps, low=1)
        if self.space not in SPACES:
            raise UsageError(f"space must be one of {SPACES}, not {self.space!r}")
        if self.noise not in NOISE_HANDLINGS:
            raise UsageError(f"noise must be one of {NOISE_HANDLINGS}, not {self.noise!r}")
        _check_number("initial_lr", self.initial_lr, low=0.0, low_open=True)
        _check_number("lr_rampdown_length", self.lr_rampdown_length, low=0.0, low_open=True, high=1.0)
        _check_number("lr_rampup_length", self.lr_rampup_length, low=0.0, high=1.0, high_open=True)
        _check_number("initial_noise_factor", self.initial_noise_factor, low=0.0)
        _check_number("noise_ramp_length", self.noise_ramp_length, low=0.0, low_open=True)
        _check_number("regularize_noise_weight", self.regularize_noise_weight, low=0.0)
        _check_number("pixel_weight", self.pixel_weight, low=0.0)
        _check_number("perceptual_weight", self.perceptual_weight, low=0.0)
        for scale in self.pixel_scales:
            if not _is_whole(scale) or scale < 1 or scale & (scale - 1):
                raise UsageError(f"pixel_scales must be powers of two (1, 2, 4, ...), got {scale!r}")
        if len(set(self.pixel_scales)) != len(self.pixel_scales):
            raise UsageError(f"pixel_scales lists a factor twice: {list(self.pixel_scales)}")
        if self.pixel_weight > 0 and not self.pixel_scales:
            raise UsageError("pixel_scales is empty; give at least one factor or set pixel_weight to 0")
        _check_whole("seed", self.seed, low=0, high=MAX_SEED)
        _check_whole("w_std_samples", self.w_std_samples, low=2)


def _is_whole(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_whole(name: str, value: int, *, low: int, high: int | None = None) -> None:
    if not _is_whole(value) or value < low or (high is not None and value > high):
        bounds = f"in {low}..{high}" if high is not None else f">= {low}"
        raise UsageError(f"{name} must be a whole number {bounds}, not {value!r}")


def _check_number(
    name: str,
    value: float,
    *,
    low: float,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise UsageError(f"{name} must be a finite number, not {value!r}")
    too_low = value <= low if low_open else value < low
    too_high = high is not None and (value >= high if high_open else value > high)
    if too_low or too_high:
        left, right = "(" if low_open else "[", ")" if high_open else "]"
        bounds = (
            f"{left}{low:g}, {high:g}{right}" if high is not None else f"{'>' if low_open else '>='} {low:g}"
        )
        raise UsageError(f"{name} must be {'in ' if high is not None else ''}{bounds}, not {value!r}")


@dataclasses.dataclass(frozen=True)
class ProjectionStep:
    """Reported after every optimisation step."""

    step: int  # 1-based
    steps: int
    loss: float  # the total loss of this step
    image: NDArray[np.uint8]  # [H, W, C], the image this step synthesised (latent noise included)


ProjectionProgressFn = Callable[[ProjectionStep], None]


@dataclasses.dataclass(frozen=True)
class ProjectionResult:
    """The latent found and what it renders."""

    w: NDArray[np.float32]  # [1, num_ws, w_dim], the layout of NVIDIA's projected_w.npz
    image: NDArray[np.uint8]  # [H, W, C]: w rendered with the model's constant noise, as renders show it
    psnr: float  # dB of `image` against the target (inf when identical)
    losses: list[float]  # total loss of each step
    image_optimized_noise: NDArray[np.uint8] | None = None  # noise="optimize": w with the fitted noise


class PerceptualDistance:
    """NVIDIA's VGG16 feature distance (the LPIPS-style features of its `vgg16.pt`).

    The distance of two images is the squared L2 norm of the difference of their features.
    """

    def __init__(self, net: torch.jit.ScriptModule, path: Path) -> None:
        self.net = net
        self.path = path

    def to(self, device: torch.device | str) -> PerceptualDistance:
        self.net = self.net.to(device)
        return self

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Features of raw generator images.

        Args:
            images: float [N, C, H, W], raw (about [-1, 1]); C = 1 (repeated to RGB) or 3
        Returns:
            float [N, F]
        """
        pixels = images * 127.5 + 128  # the scale of renderer.frames.images.to_uint8, before rounding
        if pixels.shape[1] == 1:
            pixels = pixels.repeat(1, 3, 1, 1)
        if pixels.shape[2] > PERCEPTUAL_SIZE:
            pixels = F.interpolate(pixels, size=(PERCEPTUAL_SIZE, PERCEPTUAL_SIZE), mode="area")
        return self.net(pixels, resize_images=False, return_lpips=True)

    @staticmethod
    def distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Squared L2 distance of feature batches [N, F], summed over the batch: a scalar."""
        return (a - b).square().sum()


def load_perceptual(path: str | Path, *, device: torch.device | str = "cpu") -> PerceptualDistance:
    """Load NVIDIA's TorchScript VGG16 (`vgg16.pt`) for the perceptual loss.

    The network must be called as `net(images_0_255 [N, 3, H, W], resize_images=False,
    return_lpips=True) -> features [N, F]`; it is tried once on a small image when loaded.
    Args:
        path: a TorchScript archive (torch.jit.load; nothing is unpickled)
        device: where the network runs
    Raises:
        CheckpointError naming the path when the file is missing, not TorchScript, or does not fit
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no such file")
    if path.is_dir():
        raise CheckpointError(f"{path}: is a folder; expected NVIDIA's vgg16.pt (TorchScript)")
    try:
        with warnings.catch_warnings():
            # NVIDIA's vgg16.pt exists only as TorchScript, which this torch marks deprecated.
            warnings.filterwarnings(
                "ignore", message=".*torch.jit.load.* is deprecated", category=DeprecationWarning
            )
            net = torch.jit.load(str(path), map_location=device)
    except (RuntimeError, ValueError, OSError, EOFError) as e:  # torch reports bad archives as RuntimeError
        reason = str(e).strip().splitlines()[0][:120] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"{path}: not a TorchScript network ({reason})") from None
    net = net.eval()
    for parameter in net.parameters():
        parameter.requires_grad_(False)  # gradients flow to the images, not the weights
    perceptual = PerceptualDistance(net, path)
    probe = torch.Generator().manual_seed(0)
    images = (torch.rand(1, 3, PROBE_SIZE, PROBE_SIZE, generator=probe) * 2 - 1).to(device)
    try:
        with torch.no_grad():
            features = perceptual.features(images)
    except (RuntimeError, TypeError, ValueError, IndexError) as e:  # TorchScript errors are RuntimeErrors
        reason = str(e).strip().splitlines()[0][:120] if str(e).strip() else type(e).__name__
        raise CheckpointError(
            f"{path}: cannot be called as net(images, resize_images=False, return_lpips=True) ({reason})"
        ) from None
    if not isinstance(features, torch.Tensor) or features.ndim != 2 or features.shape[0] != 1:
        got = list(features.shape) if isinstance(features, torch.Tensor) else type(features).__name__
        raise CheckpointError(f"{path}: expected features [N, F] from the network, got {got}")
    if not features.is_floating_point() or not bool(torch.isfinite(features).all()):
        raise CheckpointError(f"{path}: the network's features are not finite floating-point numbers")
    return perceptual


def learning_rates(settings: ProjectSettings) -> NDArray[np.float64]:
    """NVIDIA's schedule: linear ramp-up from 0, flat, half-cosine ramp-down towards 0.

    Returns:
        float64 [steps], the rate of each step
    """
    t = np.arange(settings.steps, dtype=np.float64) / settings.steps
    down = np.minimum(1.0, (1.0 - t) / settings.lr_rampdown_length)
    rates = settings.initial_lr * (0.5 - 0.5 * np.cos(down * np.pi))
    if settings.lr_rampup_length > 0:
        rates = rates * np.minimum(1.0, t / settings.lr_rampup_length)
    return rates


def latent_noise_scales(settings: ProjectSettings) -> NDArray[np.float64]:
    """Std of the Gaussian added to w at each step, in units of w's spread (quadratic decay to 0).

    Returns:
        float64 [steps]
    """
    t = np.arange(settings.steps, dtype=np.float64) / settings.steps
    return settings.initial_noise_factor * np.maximum(0.0, 1.0 - t / settings.noise_ramp_length) ** 2


def noise_regularization(noise_maps: Sequence[torch.Tensor]) -> torch.Tensor:
    """NVIDIA's noise regulariser: squared autocorrelation at a one-pixel shift, over a pyramid.

    White noise scores about 0; spatially correlated maps (where the optimiser hid image content)
    score high. Each map is measured at its own size and at every 2x-average-pooled level down to
    8 x 8, along both axes, with wrap-around shifts.
    Args:
        noise_maps: float [H, W] each
    Returns:
        scalar tensor
    """
    total = torch.zeros((), device=noise_maps[0].device) if noise_maps else torch.zeros(())
    for noise in noise_maps:
        level = noise[None, None]
        while True:
            total = total + (level * torch.roll(level, shifts=1, dims=3)).mean().square()
            total = total + (level * torch.roll(level, shifts=1, dims=2)).mean().square()
            if level.shape[2] <= 8:
                break
            level = F.avg_pool2d(level, kernel_size=2)
    return total


@torch.no_grad()
def w_spread(G: Synthesizer, *, num_samples: int = 10_000, seed: int = W_STD_SEED) -> float:
    """Root-mean-square distance of w from its mean over seeded z ~ N(0, I): deterministic.

    Returns:
        the spread, in w units (NVIDIA's `w_std`)
    """
    rng = np.random.RandomState(seed)
    ws = []
    for start in range(0, num_samples, 2_000):
        n = min(2_000, num_samples - start)
        z = torch.from_numpy(rng.randn(n, G.z_dim)).float().to(G.device)
        c = None
        if G.c_dim:
            # Conditional models: classes drawn uniformly, as for w_avg.
            labels = torch.from_numpy(rng.randint(G.c_dim, size=n))
            c = F.one_hot(labels, G.c_dim).float().to(G.device)
        ws.append(G.mapping(z, c)[:, 0].double())
    samples = torch.cat(ws)
    return float((samples - samples.mean(dim=0)).square().sum(dim=1).mean().sqrt())


def project(
    G: Synthesizer,
    target: NDArray[np.uint8],
    settings: ProjectSettings = ProjectSettings(),
    *,
    perceptual: PerceptualDistance | None = None,
    progress: ProjectionProgressFn | None = None,
) -> ProjectionResult:
    """Find the w whose image matches `target`.

    Deterministic for a given seed on a given device. With noise="optimize", G's noise buffers
    are swapped for the maps being fitted during the call (a `progress` callback rendering with G
    sees them) and restored afterwards, also on errors.
    Args:
        G: the generator, on the device to run on
        target: uint8 [img_resolution, img_resolution, img_channels] (grey may be [H, W])
        settings: schedule, latent space, noise handling and loss weights
        perceptual: NVIDIA's VGG16 distance (load_perceptual), added with settings.perceptual_weight
        progress: called after every step
    Returns:
        the w [1, num_ws, w_dim], its render, the PSNR and the losses
    Raises:
        UsageError for a target of the wrong size or channels, or a loss with nothing in it
    """
    target = _check_target(G, target)
    for scale in settings.pixel_scales:
        if settings.pixel_weight > 0 and scale > G.img_resolution:
            raise UsageError(f"pixel scale {scale} is coarser than the {G.img_resolution}-pixel model")
    use_perceptual = perceptual is not None and settings.perceptual_weight > 0
    if settings.pixel_weight == 0 and not use_perceptual:
        raise UsageError("nothing to optimise: pixel_weight is 0 and no perceptual network is used")
    if use_perceptual and G.img_channels not in (1, 3):
        raise UsageError(f"the perceptual loss needs 1 or 3 image channels; this model has {G.img_channels}")
    # Bin centres of the pixels under to_uint8's rule, so a perfect fit renders the target exactly.
    target_raw = (torch.from_numpy(target).to(G.device).permute(2, 0, 1)[None].float() - 127.5) / 127.5
    objective = _Objective(target_raw, settings, perceptual if use_perceptual else None)
    w_std = w_spread(G, num_samples=settings.w_std_samples)
    rates = learning_rates(settings)
    noise_scales = latent_noise_scales(settings) * w_std
    # Latent noise comes from a CPU generator so every device sees the same numbers.
    rng = torch.Generator().manual_seed(settings.seed)
    w_phase = settings.steps // 2 if settings.space == "w+" else settings.steps
    losses: list[float] = []
    w_opt = G.w_avg.detach().clone().float().reshape(1, 1, G.w_dim).requires_grad_(True)
    image_optimized_noise = None
    with _fitted_noise(G, settings.noise == "optimize") as noise_maps, torch.enable_grad():
        optimizers = [_adam([w_opt], settings)] + ([_adam(noise_maps, settings)] if noise_maps else [])
        for step in range(settings.steps):
            if step == w_phase:
                # w+ phase: one w per layer, starting where the shared w got to; fresh Adam
                # moments, since the shared w's do not split over layers.
                w_opt = w_opt.detach().repeat(1, G.num_ws, 1).requires_grad_(True)
                optimizers[0] = _adam([w_opt], settings)
            for optimizer in optimizers:
                for group in optimizer.param_groups:
                    group["lr"] = float(rates[step])
            w_noise = torch.randn(w_opt.shape, generator=rng).to(G.device) * float(noise_scales[step])
            synth = G.synthesis((w_opt + w_noise).expand(1, G.num_ws, G.w_dim), noise_mode="const")
            loss = objective(synth, noise_maps)
            for optimizer in optimizers:
                optimizer.zero_grad(set_to_none=True)
            loss.backward()
            for optimizer in optimizers:
                optimizer.step()
            with torch.no_grad():
                # Keep the maps white noise of unit variance, the statistics synthesis expects.
                for noise in noise_maps:
                    noise -= noise.mean()
                    noise *= noise.square().mean().rsqrt()
            losses.append(float(loss.detach()))
            if progress is not None:
                image = to_uint8(synth.detach())[0].cpu().numpy()
                progress(ProjectionStep(step=step + 1, steps=settings.steps, loss=losses[-1], image=image))
        ws = w_opt.detach().expand(1, G.num_ws, G.w_dim).contiguous()
        if noise_maps:
            with torch.no_grad():
                image_optimized_noise = to_uint8(G.synthesis(ws, noise_mode="const"))[0].cpu().numpy()
    with torch.no_grad():
        image = to_uint8(G.synthesis(ws, noise_mode="const"))[0].cpu().numpy()
    return ProjectionResult(
        w=ws.cpu().numpy().astype(np.float32),
        image=image,
        psnr=psnr(image, target),
        losses=losses,
        image_optimized_noise=image_optimized_noise,
    )


class _Objective:
    """The loss of one step: multi-scale pixel MSE + perceptual distance + noise regulariser."""

    def __init__(
        self, target: torch.Tensor, settings: ProjectSettings, perceptual: PerceptualDistance | None
    ) -> None:
        self.settings = settings
        scales = settings.pixel_scales if settings.pixel_weight > 0 else ()
        self.target_levels = {s: _downsample(target, s) for s in scales}
        self.perceptual = perceptual.to(target.device) if perceptual is not None else None
        self.target_features: torch.Tensor | None = None
        if self.perceptual is not None:
            with torch.no_grad():
                self.target_features = self.perceptual.features(target)

    def __call__(self, synth: torch.Tensor, noise_maps: list[torch.Tensor]) -> torch.Tensor:
        settings = self.settings
        loss = torch.zeros((), device=synth.device)
        if settings.pixel_weight > 0:
            levels = self.target_levels
            pixel = sum(F.mse_loss(_downsample(synth, s), levels[s]) for s in settings.pixel_scales)
            loss = loss + settings.pixel_weight * pixel / len(settings.pixel_scales)
        if self.perceptual is not None and self.target_features is not None:
            distance = self.perceptual.distance(self.perceptual.features(synth), self.target_features)
            loss = loss + settings.perceptual_weight * distance
        if noise_maps and settings.regularize_noise_weight > 0:
            loss = loss + settings.regularize_noise_weight * noise_regularization(noise_maps)
        return loss


@contextlib.contextmanager
def _fitted_noise(G: Synthesizer, enabled: bool) -> Iterator[list[torch.Tensor]]:
    """Lend G trainable copies of its noise buffers (none when not enabled); restore them after.

    The copies start as the stored maps, white noise the model already renders with, so the fit
    starts from the model's own image rather than from fresh noise.
    """
    stored = G.noise_buffers() if enabled else []
    maps = [buf.detach().clone().float().requires_grad_(True) for buf in stored]
    try:
        if maps:
            G.set_noise_buffers(maps)
        yield maps
    finally:
        if stored:
            G.set_noise_buffers(stored)


def _adam(params: list[torch.Tensor], settings: ProjectSettings) -> torch.optim.Adam:
    return torch.optim.Adam(params, betas=(0.9, 0.999), lr=settings.initial_lr)


def psnr(image: NDArray[np.uint8], target: NDArray[np.uint8]) -> float:
    """Peak signal-to-noise ratio of two uint8 images in dB (inf when identical)."""
    mse = float(np.mean((image.astype(np.float64) - target.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def save_projection(result: ProjectionResult, path: str | Path) -> None:
    """Write `result.w` as NVIDIA's projected_w.npz (key "w", float32 [1, num_ws, w_dim]), atomically.

    Raises:
        UsageError when the name does not end in .npz; RendererError naming the path when it
        cannot be written (missing folders are created)
    """
    path = Path(path)
    if path.suffix.lower() != ".npz":
        raise UsageError(f"{path}: projected latents are written as .npz")
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, w=np.asarray(result.w, dtype=np.float32))


def _check_target(G: Synthesizer, target: NDArray[np.uint8]) -> NDArray[np.uint8]:
    if not isinstance(target, np.ndarray) or target.dtype != np.uint8:
        got = target.dtype if isinstance(target, np.ndarray) else type(target).__name__
        raise UsageError(f"the target must be uint8 pixels [H, W, C], got {got}")
    if target.ndim == 2:
        target = target[..., None]
    res, channels = G.img_resolution, G.img_channels
    if target.ndim != 3 or target.shape != (res, res, channels):
        raise UsageError(
            f"the target is {list(target.shape)} but this model makes [{res}, {res}, {channels}] images;"
            " resize or align it first"
        )
    return np.ascontiguousarray(target)


def _downsample(images: torch.Tensor, factor: int) -> torch.Tensor:
    return images if factor == 1 else F.avg_pool2d(images, kernel_size=factor)
