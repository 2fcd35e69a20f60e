"""Transfer learning of a StyleGAN2 generator on a folder of images (Pinkney & Adler's step 2).

The training recipe of StyleGAN2-ADA, in plain PyTorch: the non-saturating logistic loss, lazy R1
regularisation of the discriminator on real images, an exponential moving average of G (the
model that is saved), the mapping network's lower learning rate (its equalized-lr multiplier,
0.01 in every StyleGAN2), x-flip mirroring, and optional augmentation of everything D sees:
adaptive (ADA-style: each op with a probability p tuned to keep D's sign on real images near a
target) or DiffAugment (always on). Fresh G and D train from scratch with the same loop (that is
how the built-in `demo` model was made).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F

from renderer.errors import RendererError, UsageError
from renderer.jobs.threads import plan_threads, use_threads
from renderer.models.discriminator import Discriminator, discriminator_for
from renderer.models.stylegan2 import Generator, use_estimated_w_avg

AugmentKind = Literal["ada", "diffaugment", "none"]
AUGMENT_KINDS: tuple[AugmentKind, ...] = ("ada", "diffaugment", "none")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif")
STATE_FILE = "training-state.pt"
LOG_FILE = "log.jsonl"
GRID_SEEDS = tuple(range(16))


class DatasetError(RendererError):
    """An image folder is missing, empty or holds no readable image."""

    exit_code = 2


@dataclasses.dataclass(frozen=True)
class FinetuneSettings:
    """Everything a training run does besides its models and images."""

    kimg: float = 10.0  # length: thousands of real images shown to D
    batch: int = 8
    lr: float = 0.002  # Adam learning rate of G and D (betas 0, 0.99)
    mapping_lr_scale: float = 1.0  # extra factor on the mapping's lr (on top of its 0.01 multiplier)
    r1_gamma: float | None = None  # None: NVIDIA's heuristic 0.0002 * resolution^2 / batch
    r1_interval: int = 16  # lazy regularisation: R1 every this many steps, scaled up to match
    ema_kimg: float | None = None  # half-life of the G average; None: batch * 10 / 32
    ema_rampup: float | None = 0.05  # the half-life grows with the images seen (None: fixed)
    mirror: bool = False  # x-flip real images at random
    augment: AugmentKind = "ada"
    ada_target: float = 0.6  # ADA: the wanted E[sign(D(real))]
    ada_kimg: float = 100.0  # ADA: p can move 0 -> 1 in this many kimg
    ada_interval: int = 4  # ADA: adjust p every this many steps
    freeze_d: int = 0  # keep the top K discriminator blocks fixed (FreezeD)
    snapshot_kimg: float = 1.0  # grid PNG, training state and log every this many kimg
    seed: int = 0
    precision: Literal["auto", "fp32", "fp16"] = "auto"  # auto: fp16 layers and loss scaling on CUDA

    def __post_init__(self) -> None:
        if self.kimg <= 0:
            raise UsageError(f"kimg must be > 0, got {self.kimg}")
        if self.batch < 2:
            raise UsageError(f"batch must be >= 2 (the discriminator compares images in a batch), got {self.batch}")
        if not 0 < self.lr <= 1:
            raise UsageError(f"lr must be in (0, 1], got {self.lr}")
        if self.augment not in AUGMENT_KINDS:
            raise UsageError(f"augment must be one of {', '.join(AUGMENT_KINDS)}, got {self.augment!r}")
        if not 0 <= self.mapping_lr_scale <= 1e3:
            raise UsageError(f"mapping lr must be a fraction of lr in [0, 1000], got {self.mapping_lr_scale}")
        if self.freeze_d < 0:
            raise UsageError(f"freeze-d must be >= 0, got {self.freeze_d}")
        if self.snapshot_kimg <= 0:
            raise UsageError(f"snapshot kimg must be > 0, got {self.snapshot_kimg}")


@dataclasses.dataclass(frozen=True)
class TrainProgress:
    """Reported after every step."""

    step: int
    kimg: float
    total_kimg: float
    loss_g: float
    loss_d: float
    r1: float | None  # the last R1 penalty
    augment_p: float
    sec_per_kimg: float


@dataclasses.dataclass
class FinetuneResult:
    G_ema: Generator
    D: Discriminator
    steps: int
    kimg: float
    augment_p: float
    snapshots: list[Path]


# ---------------------------------------------------------------------------------------------
# Images


def load_image_folder(folder: Path, resolution: int, *, align: bool = False) -> np.ndarray:
    """Every image under `folder` (recursively), centre-cropped and resized: uint8 [N, R, R, 3].

    Args:
        folder: a folder of images in any format Pillow reads; unreadable files are skipped
        resolution: the model's img_resolution
        align: crop around the detected face with renderer's aligner (FFHQ-style) instead
    """
    from PIL import Image, UnidentifiedImageError

    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"{folder}: no such folder of images")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
    if not files:
        raise DatasetError(f"{folder}: the folder is empty (expected images: {', '.join(IMAGE_SUFFIXES)})")
    images = []
    skipped = 0
    for path in files:
        try:
            with Image.open(path) as im:
                im.load()
                rgb = im.convert("RGB")
        except (UnidentifiedImageError, OSError, ValueError):
            skipped += 1
            continue
        if align:
            images.append(_aligned(rgb, resolution, path))
        else:
            images.append(_centre_crop(rgb, resolution))
    if not images:
        raise DatasetError(f"{folder}: none of its {len(files)} files is an image Pillow can read")
    return np.stack(images)


def _centre_crop(im: Any, resolution: int) -> np.ndarray:
    from PIL import Image

    w, h = im.size
    s = min(w, h)
    box = ((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s)
    return np.asarray(im.resize((resolution, resolution), Image.Resampling.LANCZOS, box=box), dtype=np.uint8)


def _aligned(im: Any, resolution: int, path: Path) -> np.ndarray:
    from renderer.jobs.align import align_face

    try:
        return np.asarray(align_face(np.asarray(im), size=resolution, source=path).image, dtype=np.uint8)
    except RendererError as e:
        raise DatasetError(f"cannot align a face: {e}") from None


# ---------------------------------------------------------------------------------------------
# Augmentation


class Augment:
    """Differentiable augmentation of D's inputs (reals and fakes alike), each op with probability p.

    Ops: x-flip, integer translation (1/8 of the side, reflected), isotropic scaling and rotation,
    brightness, contrast, saturation, and cutout. DiffAugment runs colour, translation and cutout
    always (p = 1); ADA applies all of them, each with a p that `update` tunes.
    """

    def __init__(self, kind: AugmentKind, *, p: float = 0.0) -> None:
        self.kind = kind
        self.p = 1.0 if kind == "diffaugment" else p

    def __call__(self, x: torch.Tensor, gen: torch.Generator | None = None) -> torch.Tensor:
        if self.kind == "none" or self.p <= 0:
            return x
        n, device = x.shape[0], x.device

        def chosen() -> torch.Tensor:
            return (torch.rand(n, 1, 1, 1, device=device, generator=gen) < self.p).to(x.dtype)

        def uniform(lo: float, hi: float) -> torch.Tensor:
            return torch.rand(n, 1, 1, 1, device=device, generator=gen) * (hi - lo) + lo

        ada = self.kind == "ada"
        if ada:
            x = torch.where(chosen() > 0, x.flip(3), x)
        # Colour: brightness, saturation, contrast (DiffAugment's ranges).
        x = x + (uniform(-0.5, 0.5) * chosen())
        mean = x.mean(dim=1, keepdim=True)
        x = (x - mean) * (1 + (uniform(0, 2) - 1) * chosen()) + mean
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        x = (x - mean) * (1 + (uniform(0.5, 1.5) - 1) * chosen()) + mean
        x = self._translate(x, chosen(), gen)
        if ada:
            x = self._scale_rotate(x, chosen(), chosen(), gen)
        x = self._cutout(x, chosen(), gen)
        return x

    @staticmethod
    def _translate(x: torch.Tensor, on: torch.Tensor, gen: torch.Generator | None) -> torch.Tensor:
        n, _, h, w = x.shape
        limit = max(1, h // 8)
        shift = torch.randint(-limit, limit + 1, (n, 2), device=x.device, generator=gen) * on.reshape(n, 1).long()
        padded = F.pad(x, [limit] * 4, mode="reflect")
        ys = (torch.arange(h, device=x.device)[None, :] + limit - shift[:, :1])  # [n, h]
        xs = (torch.arange(w, device=x.device)[None, :] + limit - shift[:, 1:])  # [n, w]
        rows = padded.gather(2, ys[:, None, :, None].expand(n, x.shape[1], h, padded.shape[3]))
        return rows.gather(3, xs[:, None, None, :].expand(n, x.shape[1], h, w))

    @staticmethod
    def _scale_rotate(x: torch.Tensor, on_s: torch.Tensor, on_r: torch.Tensor, gen: torch.Generator | None) -> torch.Tensor:
        n = x.shape[0]
        scale = torch.exp2(torch.randn(n, device=x.device, generator=gen) * 0.2 * on_s.reshape(n))
        angle = (torch.rand(n, device=x.device, generator=gen) * 2 - 1) * math.pi * 0.1 * on_r.reshape(n)
        cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
        zero = torch.zeros_like(cos)
        theta = torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1)
        grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)

    @staticmethod
    def _cutout(x: torch.Tensor, on: torch.Tensor, gen: torch.Generator | None) -> torch.Tensor:
        n, _, h, w = x.shape
        size = h // 2
        cy = torch.randint(0, h, (n, 1, 1), device=x.device, generator=gen)
        cx = torch.randint(0, w, (n, 1, 1), device=x.device, generator=gen)
        yy = torch.arange(h, device=x.device)[None, :, None]
        xx = torch.arange(w, device=x.device)[None, None, :]
        hole = ((yy - cy).abs() < size // 2) & ((xx - cx).abs() < size // 2)
        keep = 1 - hole[:, None].to(x.dtype) * on
        return x * keep

    def update(self, sign_real: float, images: int, settings: FinetuneSettings) -> None:
        """ADA: move p towards keeping E[sign(D(real))] at the target."""
        if self.kind != "ada":
            return
        step = images / (settings.ada_kimg * 1000)
        self.p = float(min(max(self.p + math.copysign(step, sign_real - settings.ada_target), 0.0), 1.0))


# ---------------------------------------------------------------------------------------------
# Training


def snapshot_grid(G: Generator, seeds: Sequence[int] = GRID_SEEDS, *, psi: float = 1.0) -> np.ndarray:
    """Images of fixed seeds, 4 per row (NVIDIA's z convention, constant noise): uint8 [H, W, 3]."""
    z = torch.from_numpy(np.concatenate([np.random.RandomState(s).randn(1, G.z_dim) for s in seeds])).float()
    with torch.no_grad():
        img = G(z.to(G.device), truncation_psi=psi, noise_mode="const").float().cpu()
    img = ((img.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    cols = 4 if len(seeds) >= 4 else len(seeds)
    rows = math.ceil(len(seeds) / cols)
    r = img.shape[1]
    grid = np.zeros((rows * r, cols * r, 3), np.uint8)
    for i, im in enumerate(img):
        grid[(i // cols) * r : (i // cols + 1) * r, (i % cols) * r : (i % cols + 1) * r] = im
    return grid


def _adam_param_groups(G: Generator, settings: FinetuneSettings) -> list[dict[str, Any]]:
    mapping = [p for p in G.mapping.parameters() if p.requires_grad]
    synthesis = [p for p in G.synthesis.parameters() if p.requires_grad]
    return [{"params": synthesis}, {"params": mapping, "lr": settings.lr * settings.mapping_lr_scale}]


def _freeze_top_blocks(D: Discriminator, k: int) -> None:
    for res in D.config.block_resolutions[:k]:
        getattr(D, f"b{res}").requires_grad_(False)


def _save_state(path: Path, state: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    tmp.replace(path)


def _load_state(path: Path) -> dict[str, Any]:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError) as e:
        raise UsageError(f"{path}: cannot resume from this training state ({e})") from None


def train(
    G: Generator,
    images: np.ndarray,
    settings: FinetuneSettings,
    *,
    D: Discriminator | None = None,
    snapshots: Path | None = None,
    resume: bool = False,
    device: str | torch.device = "cpu",
    progress: Callable[[TrainProgress], None] | None = None,
) -> FinetuneResult:
    """Train G (a pre-trained base, or a fresh one) against D on `images`; return the EMA generator.

    Args:
        G: the generator to start from (left unchanged: training works on copies)
        images: uint8 [N, R, R, 3] with R = G.img_resolution
        settings: the recipe
        D: the discriminator to start from; None: a fresh one with G's channel counts
        snapshots: folder for grid PNGs (`fakesKKKKKK.png`), the training state and the loss log
        resume: continue from the training state in `snapshots`
        device: where to train
        progress: called after every step
    Returns:
        FinetuneResult with G_ema (eval mode, on CPU, w_avg re-estimated) and the trained D
    """
    device = torch.device(device)
    r = G.img_resolution
    if images.ndim != 4 or images.shape[1:] != (r, r, 3):
        raise UsageError(f"images must be [N, {r}, {r}, 3] for a {r} px model, got {list(images.shape)}")
    torch.manual_seed(settings.seed)
    gen = torch.Generator(device=device).manual_seed(settings.seed)
    rng = np.random.default_rng(settings.seed)
    G_train = copy.deepcopy(G).to(device).train().requires_grad_(True)
    G_train.set_precision("fp32")
    G_ema = copy.deepcopy(G_train).eval().requires_grad_(False)
    D = copy.deepcopy(D) if D is not None else discriminator_for(r, {4: G.config.channels[4], **G.config.channels})
    D = D.to(device).train().requires_grad_(True)
    if D.img_resolution != r:
        raise UsageError(f"the discriminator is for {D.img_resolution} px images, the generator makes {r} px")
    _freeze_top_blocks(D, settings.freeze_d)
    half = settings.precision == "fp16" or (settings.precision == "auto" and device.type == "cuda")
    if half and device.type != "cuda":
        raise UsageError("fp16 training needs CUDA; use precision fp32 on this device")
    if half:
        G_train.set_precision("fp16")
    scaler = torch.amp.GradScaler("cuda", enabled=half)

    reg_ratio = settings.r1_interval / (settings.r1_interval + 1)
    opt_G = torch.optim.Adam(_adam_param_groups(G_train, settings), lr=settings.lr, betas=(0.0, 0.99), eps=1e-8)
    opt_D = torch.optim.Adam(
        [p for p in D.parameters() if p.requires_grad], lr=settings.lr * reg_ratio, betas=(0.0, 0.99**reg_ratio), eps=1e-8
    )
    gamma = settings.r1_gamma if settings.r1_gamma is not None else 0.0002 * r * r / settings.batch
    ema_kimg = settings.ema_kimg if settings.ema_kimg is not None else settings.batch * 10 / 32
    augment = Augment(settings.augment)
    data = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()  # uint8 on CPU

    step = 0
    nimg = 0
    sign_acc: list[float] = []
    written: list[Path] = []
    if snapshots is not None:
        snapshots.mkdir(parents=True, exist_ok=True)
    if resume:
        if snapshots is None or not (snapshots / STATE_FILE).exists():
            raise UsageError(f"nothing to resume: no {STATE_FILE} in {snapshots}")
        state = _load_state(snapshots / STATE_FILE)
        G_train.load_state_dict(state["G"])
        G_ema.load_state_dict(state["G_ema"])
        D.load_state_dict(state["D"])
        opt_G.load_state_dict(state["opt_G"])
        opt_D.load_state_dict(state["opt_D"])
        step, nimg, augment.p = int(state["step"]), int(state["nimg"]), float(state["augment_p"])
        rng = np.random.default_rng([settings.seed, step])
        gen.manual_seed(settings.seed + step)
    total = int(settings.kimg * 1000)
    next_snapshot = (math.floor(nimg / (settings.snapshot_kimg * 1000)) + 1) * settings.snapshot_kimg * 1000
    last_r1: float | None = None
    started, start_nimg = time.perf_counter(), nimg
    log_rows: list[dict[str, Any]] = []

    def reals() -> torch.Tensor:
        idx = torch.from_numpy(rng.integers(0, len(data), settings.batch))
        x = data[idx].to(device).float() / 127.5 - 1
        if settings.mirror:
            flip = torch.from_numpy(rng.random(settings.batch) < 0.5).to(device)
            x = torch.where(flip[:, None, None, None], x.flip(3), x)
        return x

    def fakes() -> torch.Tensor:
        z = torch.randn(settings.batch, G_train.z_dim, device=device, generator=gen)
        return G_train(z, noise_mode="random").float()

    def run_d(x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=half):
            return D(augment(x, gen)).float()

    def apply(loss: torch.Tensor, opt: torch.optim.Optimizer) -> None:
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()

    w_avg_beta = 0.995
    while nimg < total:
        # G: the non-saturating loss softplus(-D(G(z))).
        D.requires_grad_(False)
        z = torch.randn(settings.batch, G_train.z_dim, device=device, generator=gen)
        ws = G_train.mapping(z)
        with torch.no_grad():
            G_train.mapping.w_avg.lerp_(ws[:, 0].mean(0).detach(), 1 - w_avg_beta)
        img = G_train.synthesis(ws, noise_mode="random").float()
        loss_g = F.softplus(-run_d(img)).mean()
        apply(loss_g, opt_G)
        D.requires_grad_(True)
        _freeze_top_blocks(D, settings.freeze_d)

        # D: softplus(D(fake)) + softplus(-D(real)).
        real = reals()
        with torch.no_grad():
            fake = fakes()
        logits_fake = run_d(fake)
        logits_real = run_d(real)
        loss_d = F.softplus(logits_fake).mean() + F.softplus(-logits_real).mean()
        apply(loss_d, opt_D)
        sign_acc.append(float(logits_real.detach().sign().mean()))

        # Lazy R1 on real images: gamma/2 * |grad D(real)|^2, every r1_interval steps, scaled up.
        if step % settings.r1_interval == 0 and gamma > 0:
            real_r1 = real.detach().requires_grad_(True)
            logits = run_d(real_r1)
            (grad,) = torch.autograd.grad(logits.sum(), real_r1, create_graph=True)
            penalty = grad.float().square().sum(dim=(1, 2, 3)).mean()
            apply(penalty * (gamma / 2) * settings.r1_interval, opt_D)
            last_r1 = float(penalty.detach())

        step += 1
        nimg += settings.batch
        # The G average: its half-life ramps up with the images seen (StyleGAN2-ADA).
        ema_nimg = ema_kimg * 1000
        if settings.ema_rampup is not None:
            ema_nimg = min(ema_nimg, nimg * settings.ema_rampup)
        beta = 0.5 ** (settings.batch / max(ema_nimg, 1e-8))
        with torch.no_grad():
            for p_ema, p in zip(G_ema.parameters(), G_train.parameters(), strict=True):
                p_ema.copy_(p.detach().lerp(p_ema, beta))
            for b_ema, b in zip(G_ema.buffers(), G_train.buffers(), strict=True):
                b_ema.copy_(b)
        if step % settings.ada_interval == 0 and sign_acc:
            augment.update(float(np.mean(sign_acc)), settings.batch * len(sign_acc), settings)
            sign_acc.clear()

        elapsed = time.perf_counter() - started
        sec_per_kimg = elapsed / max(nimg - start_nimg, 1) * 1000
        report = TrainProgress(
            step=step, kimg=nimg / 1000, total_kimg=settings.kimg, loss_g=float(loss_g.detach()), loss_d=float(loss_d.detach()),
            r1=last_r1, augment_p=augment.p, sec_per_kimg=sec_per_kimg,
        )
        log_rows.append({**dataclasses.asdict(report), "d_real_sign": float(logits_real.detach().sign().mean()),
                         "d_accuracy": float(((logits_real > 0).float().mean() + (logits_fake < 0).float().mean()) / 2)})
        if progress is not None:
            progress(report)
        if snapshots is not None and (nimg >= next_snapshot or nimg >= total):
            grid_path = snapshots / f"fakes{nimg:08d}.png"  # named by the images shown so far
            _write_png(grid_path, snapshot_grid(G_ema))
            written.append(grid_path)
            with (snapshots / LOG_FILE).open("a") as log:
                for row in log_rows:
                    log.write(json.dumps(row) + "\n")
            log_rows.clear()
            _save_state(snapshots / STATE_FILE, {
                "G": G_train.state_dict(), "G_ema": G_ema.state_dict(), "D": D.state_dict(),
                "opt_G": opt_G.state_dict(), "opt_D": opt_D.state_dict(),
                "step": step, "nimg": nimg, "augment_p": augment.p,
            })
            next_snapshot += settings.snapshot_kimg * 1000

    result = copy.deepcopy(G_ema).cpu().eval().requires_grad_(False)
    result.set_precision("fp32")
    result.info = dataclasses.replace(G.info, w_avg_source=use_estimated_w_avg(result))
    D_out = D.cpu().eval().requires_grad_(False)
    return FinetuneResult(G_ema=result, D=D_out, steps=step, kimg=nimg / 1000, augment_p=augment.p, snapshots=written)


def _write_png(path: Path, img: np.ndarray) -> None:
    from PIL import Image

    tmp = path.with_name(path.name + ".tmp.png")
    Image.fromarray(img).save(tmp)
    tmp.replace(path)


def finetune(
    base: str | Path,
    images_dir: str | Path,
    output: str | Path,
    settings: FinetuneSettings,
    *,
    align: bool = False,
    snapshots: Path | None = None,
    resume: bool = False,
    device: str | torch.device = "cpu",
    progress: Callable[[TrainProgress], None] | None = None,
) -> FinetuneResult:
    """Fine-tune the checkpoint `base` (any format, or a built-in name) on a folder of images.

    The discriminator comes from the checkpoint where it carries one (NVIDIA `D`, TF `D`,
    rosinality `d`, a renderer file saved with one), read without running anything, else it
    starts fresh. The EMA generator is written to `output` (.safetensors, with D beside it), so
    it loads everywhere and blends with its base.
    """
    from renderer.jobs.stills import save_native
    from renderer.models.checkpoints import load_generator, resolve_device
    from renderer.models.checkpoints.discriminators import load_discriminator
    from renderer.models.synthesizer import ModelInfo

    target = resolve_device(device)
    output = Path(output)
    G = load_generator(base)
    if not isinstance(G, Generator):
        raise UsageError(f"{base}: fine-tuning trains StyleGAN2 generators; this is a {G.family} model")
    images = load_image_folder(Path(images_dir), G.img_resolution, align=align)
    # The built-in models ship without their discriminator: fine-tuning them starts a fresh one.
    D = load_discriminator(base) if Path(base).is_file() else None
    if D is not None and D.img_resolution != G.img_resolution:
        raise UsageError(f"{base}: its discriminator is for {D.img_resolution} px, its generator makes {G.img_resolution} px")
    if snapshots is None:
        snapshots = output.with_name(output.stem + "-snapshots")
    # The thread policy of every command: a training step is hundreds of small operators, and on a
    # busy CPU a second torch thread waits at each one's barrier (measured: 54 against 767 s/kimg
    # for the 64 px demo on a loaded 2-core machine, 1 thread against torch's default 2).
    threads = plan_threads(target, work_pixels=G.img_resolution**2 * settings.batch)
    with use_threads(threads):
        result = train(G, images, settings, D=D, snapshots=snapshots, resume=resume, device=target, progress=progress)
    d_origin = "from the checkpoint" if D is not None else "fresh"
    note = (
        f"fine-tuned from {base} on {len(images)} images of {images_dir} for {result.kimg:g} kimg "
        f"(discriminator {d_origin}, augment {settings.augment})"
    )
    notes = (note,)
    result.G_ema.info = ModelInfo(
        format="native", source=str(output), w_avg_source=f"{result.G_ema.info.w_avg_source}, after fine-tuning", notes=notes,
    )
    save_native(result.G_ema, output, discriminator=result.D)
    return result
