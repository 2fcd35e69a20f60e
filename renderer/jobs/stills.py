"""The typed library API that the CLI is a thin layer over."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import torch

from renderer.errors import EncoderError, UsageError
from renderer.frames.framing import opencv
from renderer.frames.images import image_grid, save_png, to_rgb, to_uint8
from renderer.frames.latents import build_timeline
from renderer.frames.pipeline import auto_batch_size, check_generation_options
from renderer.jobs.compiling import CompileMode, check_compile_mode, decide_compile
from renderer.jobs.job import output_path
from renderer.jobs.pacing import Pacing, pace_cache_path, pace_timeline
from renderer.jobs.projector import (
    ProjectionProgressFn,
    ProjectionStep,
    ProjectSettings,
    load_perceptual,
    project,
    save_projection,
)
from renderer.jobs.threads import ThreadPlan, plan_threads, use_threads
from renderer.models.blending import blend_per_frame, check_same_architecture
from renderer.models.channels import channel_masked, channel_masks
from renderer.models.checkpoints import load_generator, to_safetensors
from renderer.models.compiled import CompileIndex, compile_cache_dir, compiled
from renderer.models.stylegan2 import Generator
from renderer.models.stylegan3 import Generator as StyleGAN3Generator
from renderer.models.synthesizer import NoiseMode, Precision, Synthesizer
from renderer.output.files import atomic_path, make_folder, write_npz_rows
from renderer.output.writers import open_segment
from renderer.plan.encoding import EncoderSettings, output_kind
from renderer.plan.retime import PACE_DISTANCES
from renderer.plan.script import Script, ScriptError, load_script
from renderer.plan.seeds import seeds_to_z
from renderer.plan.timeline import Timeline

ProgressFn = Callable[[int, int], None]  # (done, total)


@dataclasses.dataclass(frozen=True)
class GenerateSettings:
    """How `generate_images` turns seeds into pictures."""

    truncation_psi: float = 1.0
    truncation_cutoff: int | None = None
    noise_mode: NoiseMode = "const"
    batch_size: int | None = None  # None: auto_batch_size(device)
    precision: Precision = "fp32"
    compile: CompileMode = "auto"  # synthesis through torch.compile: auto (many images), on, off (jobs.compiling)

    def __post_init__(self) -> None:
        check_generation_options(noise_mode=self.noise_mode, precision=self.precision, batch_size=self.batch_size)
        check_compile_mode(self.compile)
        if self.truncation_cutoff is not None and self.truncation_cutoff < 0:
            raise UsageError(f"truncation cutoff must be >= 0, not {self.truncation_cutoff}")
        if not math.isfinite(self.truncation_psi):
            raise UsageError(f"truncation psi must be a finite number, not {self.truncation_psi}")


def _seed_batches(
    mapper: Synthesizer, seeds: Sequence[int], settings: GenerateSettings
) -> Iterator[tuple[list[int], torch.Tensor]]:
    """(seeds, ws [n, num_ws, w_dim]) batch by batch, mapped by `mapper` with the settings' truncation."""
    batch_size = settings.batch_size or auto_batch_size(mapper.device)
    for start in range(0, len(seeds), batch_size):
        chunk = list(seeds[start : start + batch_size])
        z = torch.from_numpy(seeds_to_z(chunk, mapper.z_dim)).to(mapper.device)
        yield chunk, mapper.mapping(z, truncation_psi=settings.truncation_psi, truncation_cutoff=settings.truncation_cutoff)


@torch.no_grad()
def generate_images(
    G: Synthesizer,
    seeds: Sequence[int],
    settings: GenerateSettings = GenerateSettings(),
    notice: Callable[[str], None] | None = None,
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (seed, uint8 [H, W, C] image) for each seed, computed in batches on G's device.

    With settings.compile, synthesis may run compiled (renderer.jobs.compiling); `notice` gets the
    one line that says so when compiling was asked for but is impossible here."""
    G.set_precision(settings.precision)
    batch_size = settings.batch_size or auto_batch_size(G.device)
    plan = decide_compile(settings.compile, G, frames=len(seeds), batch_size=batch_size, noise_mode=settings.noise_mode)
    if plan.notice and notice is not None:
        notice(plan.notice)
    synthesizer = G
    if plan.enabled:
        index, key = CompileIndex(compile_cache_dir()), plan.key
        synthesizer = compiled(G, batch_size=batch_size, on_compiled=lambda s: index.record(key, s) if key else None)
    for chunk, ws in _seed_batches(G, seeds, settings):
        pixels = to_uint8(synthesizer.synthesis(ws, noise_mode=settings.noise_mode)).cpu().numpy()
        yield from zip(chunk, pixels, strict=True)


def write_png(pixels: np.ndarray, path: str | Path) -> Path:
    """Save a uint8 [H, W, C] image (atomically, creating missing folders); an unwritable path is a
    RendererError naming it."""
    path = Path(path)
    with atomic_path(path) as tmp:
        save_png(pixels, tmp)
    return path


def save_seed_images(
    G: Synthesizer,
    seeds: Sequence[int],
    outdir: str | Path,
    settings: GenerateSettings = GenerateSettings(),
    progress: ProgressFn | None = None,
    notice: Callable[[str], None] | None = None,
) -> list[Path]:
    """Write `seed0000.png`, ... into outdir (created if needed); returns the paths in seed order.
    `notice`: see generate_images."""
    outdir = make_folder(outdir)
    written: list[Path] = []
    with use_threads(_generation_threads(G, settings)):
        for seed, pixels in generate_images(G, seeds, settings, notice):
            path = write_png(pixels, outdir / f"seed{seed:04d}.png")
            written.append(path)
            if progress:
                progress(len(written), len(seeds))
    return written


def _generation_threads(G: Synthesizer, settings: GenerateSettings) -> ThreadPlan:
    """The thread policy (jobs/threads.py) for synthesising batches of still images."""
    batch = settings.batch_size or auto_batch_size(G.device)
    return plan_threads(G.device, work_pixels=G.img_resolution**2 * batch)


@torch.no_grad()
def blend_grid(
    models: Sequence[Synthesizer],
    seeds: Sequence[int],
    settings: GenerateSettings = GenerateSettings(),
) -> list[list[np.ndarray]]:
    """One row per seed, one uint8 [H, W, C] image per model (e.g. base | blended | transfer).

    Every model synthesises the same ws, mapped by models[1] (the blend, whose mapping is the
    base's unless blended too), so a row shows only what the synthesis blend changes.
    """
    mapper = models[1] if len(models) > 1 else models[0]
    for G in models:
        G.set_precision(settings.precision)
    rows: list[list[np.ndarray]] = []
    with use_threads(_generation_threads(mapper, settings)):
        for _, ws in _seed_batches(mapper, seeds, settings):
            columns = [to_uint8(G.synthesis(ws, noise_mode=settings.noise_mode)).cpu().numpy() for G in models]
            rows += [list(images) for images in zip(*columns, strict=True)]
    return rows


def save_native(
    G: Generator | StyleGAN3Generator, path: str | Path, *, discriminator: torch.nn.Module | None = None
) -> Path:
    """Write G (and optionally the discriminator it was trained against) as a renderer .safetensors
    file (folders created; atomically: a failure leaves no partial file); EncoderError naming path
    when it cannot be written."""
    data = to_safetensors(G, discriminator)
    with atomic_path(path, error=EncoderError) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def describe_generator(G: Generator | StyleGAN3Generator) -> dict[str, object]:
    """What `renderer inspect` shows, as plain data: the facts every family has, then its own."""
    c = G.config
    stylegan3 = isinstance(G, StyleGAN3Generator)
    return {
        "source": G.info.source,
        "format": G.info.format,
        **({"family": G.family} if stylegan3 else {}),
        "img_resolution": c.img_resolution,
        "img_channels": c.img_channels,
        "z_dim": c.z_dim,
        "w_dim": c.w_dim,
        "c_dim": c.c_dim,
        "num_ws": c.num_ws,
        "mapping_layers": c.mapping_layers,
        "mapping_lr_multiplier": c.mapping_lr_multiplier,
        "architecture": c.architecture,
        **(_stylegan3_layers(G) if stylegan3 else {  # type: ignore[arg-type]
            "channels": {str(r): ch for r, ch in c.channels.items()},
            "conv_clamp": c.conv_clamp,
            "use_noise": c.use_noise,
        }),
        "parameters": G.parameter_count(),
        "w_avg_source": G.info.w_avg_source,
        "notes": list(G.info.notes),
    }


def _stylegan3_layers(G: StyleGAN3Generator) -> dict[str, object]:
    c = G.config
    return {
        "input": {"size": c.input.size, "channels": c.input.channels, "sampling_rate": c.input.sampling_rate,
                  "bandwidth": c.input.bandwidth},
        "layers": [
            {"name": layer.name, "size": [layer.in_size, layer.out_size],
             "channels": [layer.in_channels, layer.out_channels],
             "sampling_rate": [layer.in_sampling_rate, layer.out_sampling_rate, layer.tmp_sampling_rate],
             "cutoff": [round(layer.in_cutoff, 4), round(layer.out_cutoff, 4)],
             "up": layer.up_factor, "down": layer.down_factor, "conv_kernel": layer.conv_kernel,
             "radial": layer.down_radial, "critical": layer.is_critically_sampled, "torgb": layer.is_torgb}
            for layer in c.layers
        ],
        "blend_levels": list(G.blend_levels),
        "conv_clamp": c.layers[0].conv_clamp,
        "output_scale": c.output_scale,
    }


def load_models(script: Script, *, device: str | torch.device = "cpu") -> tuple[Synthesizer, Synthesizer | None]:
    """The script's base model and, when it has one, its transfer model (checked to match)."""
    base = load_generator(script.base_model, device=device)
    if script.transfer_model is None:
        return base, None
    transfer = load_generator(script.transfer_model, device=device)
    check_same_architecture([base, transfer], ["models.base", "models.transfer"])
    return base, transfer


def load_animation(
    script: Script, *, device: str | torch.device = "cpu", precision: Precision = "fp32", pace_cache: Path | None = None,
) -> tuple[Synthesizer, Timeline]:
    """The generator that renders a script's frames (blend_per_frame of its models when it blends, at
    the given precision) and the script's timeline (paced when path.pace asks; `pace_cache` keeps
    the pacing pass, see renderer.jobs.pacing)."""
    G, timeline, _ = load_paced_animation(script, device=device, precision=precision, pace_cache=pace_cache)
    return G, timeline


def load_paced_animation(
    script: Script,
    *,
    device: str | torch.device = "cpu",
    precision: Precision = "fp32",
    noise_mode: NoiseMode = "const",
    pace_cache: Path | None = None,
    speed: np.ndarray | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[Synthesizer, Timeline, Pacing | None]:
    """load_animation, and how the timeline was paced (None with path.pace "latent").

    Args:
        speed: a target speed curve for even pacing, float [T] (None: flat)
        progress: (samples done, total) during the pacing pass
    """
    base, transfer = load_models(script, device=device)
    timeline = build_timeline(script, base)
    keys = timeline.keys
    assert keys is not None
    G = animation_generator(script, timeline, base, transfer, device=device)
    pacing = None
    if script.path.pace != "latent":
        # Measured in fp32, before any half precision: the timing must not depend on the device.
        distance = script.path.pace_distance
        features = None if distance in PACE_DISTANCES else load_perceptual(distance, device=G.device).features
        models = [script.base_model, *([script.transfer_model] if script.transfer_model else []),
                  *(path for _, path in script.extra_models)]
        timeline, pacing = pace_timeline(
            script, keys, G, models=models, cache=pace_cache, features=features, speed=speed,
            noise_mode=noise_mode, progress=progress,
        )
    return G.set_precision(precision), timeline, pacing


def animation_generator(
    script: Script, timeline: Timeline, base: Synthesizer, transfer: Synthesizer | None, *,
    device: str | torch.device = "cpu", precision: Precision = "fp32",
) -> Synthesizer:
    """The generator of a timeline already resolved (on a Ray worker: by the driver) from the loaded models."""
    G = base
    if timeline.blend_components:
        G = blend_per_frame(blend_components(script, timeline, base, transfer, device=device))
    elif timeline.blends:
        G = blend_per_frame([base, transfer])
    return G.set_precision(precision)


def blend_components(
    script: Script, timeline: Timeline, base: Synthesizer, transfer: Synthesizer | None, *, device: str | torch.device = "cpu"
) -> list[Synthesizer]:
    """The base, then each model a named blend names, in the order of the timeline's "model_blend"
    components; a component with a channel mask is the model's channel-masked copy over the base."""
    loaded: dict[str, Synthesizer] = {"transfer": transfer} if transfer is not None else {}
    paths = dict(script.extra_models)
    models = [base]
    for name, mask in timeline.blend_components:
        if name not in loaded:
            loaded[name] = load_generator(paths[name], device=device)
            check_same_architecture([base, loaded[name]], ["models.base", f"models.extra.{name}"])  # type: ignore[list-item]
        model = loaded[name]
        if mask is not None:
            if not isinstance(base, Generator) or not isinstance(model, Generator):
                raise ScriptError(f"masks.{mask}: channel blends need StyleGAN2 models")
            try:
                masks = channel_masks(script.masks[mask], base.config.channels, base=base, model=model)
            except ValueError as e:
                raise ScriptError(f"{script.file}: masks.{mask}: {e}" if script.file else f"masks.{mask}: {e}") from None
            model = channel_masked(base, model, masks)
        models.append(model)
    return models


def load_timeline(
    script_path: str | Path,
    *,
    device: str | torch.device = "cpu",
    presets: Sequence[str] = (),
    pace_cache: Path | None = None,
) -> tuple[Script, Timeline]:
    """Read and validate a script (adding `presets` after its own), load its models and resolve its
    keyframes (and pace them, when the script asks, which synthesises the path's proxy images; the
    pacing is kept where a render of the script keeps it, unless `pace_cache` says elsewhere)."""
    script = load_script(script_path, presets=presets)
    return script, resolve_timeline(script, device=device, pace_cache=pace_cache)


def resolve_timeline(script: Script, *, device: str | torch.device = "cpu", pace_cache: Path | None = None) -> Timeline:
    """A parsed script's timeline: its models loaded (and checked) and its keyframes resolved (and
    paced when the script asks; the pacing is kept where a render keeps it, unless `pace_cache`)."""
    if script.path.pace != "latent":
        cache = pace_cache or pace_cache_path(output_path(script, script.output))
        return load_animation(script, device=device, pace_cache=cache)[1]
    base, _ = load_models(script, device=device)
    return build_timeline(script, base)


def export_timeline(timeline: Timeline, path: str | Path, *, chunk_size: int = 1024) -> Path:
    """Write the resolved per-frame tracks as .npz: time, z or ws, every track by its name (psi,
    truncation_cutoff, for blends `blend` [T, R] alphas of the transfer model at
    `blend_resolutions` [R], for direction tracks `directions` [T, D] amounts, for named blends
    `model_blend` [T, C, R], the weight of each of `blend_components` [C] ("name" or "name:mask"),
    the base taking the rest, the camera's `translate` [T, 2] and `rotate` [T], for a paced path `path_position` [T], ...) and `key_frames`; memory stays one chunk whatever the length."""
    path = Path(path)
    if path.suffix.lower() != ".npz":
        raise UsageError(f"{path}: the per-frame tracks are written as .npz; name the file like tracks.npz")
    latents = "z" if timeline.space == "z" else "ws"
    warp = timeline.warp  # even pacing: each frame's position on the path (keyframe frames, before easing)
    chunks = (
        {"time": c.time, latents: c.latents, **c.tracks,
         **({"path_position": warp(c.frames.astype(np.float64))} if warp is not None else {})}
        for c in timeline.chunks(chunk_size)
    )
    whole = {"key_frames": timeline.key_frames.astype(np.int64)}
    if timeline.blends or "model_blend" in timeline.tracks:
        whole["blend_resolutions"] = np.asarray(timeline.blend_resolutions, dtype=np.int64)
    if "model_blend" in timeline.tracks:
        whole["blend_components"] = np.array([name if mask is None else f"{name}:{mask}" for name, mask in timeline.blend_components])
    return write_npz_rows(path, chunks, timeline.num_frames, whole)


@dataclasses.dataclass(frozen=True)
class PhotoProjection:
    """What `project_photo` wrote, and how well the latent reconstructs the photo."""

    latent: Path  # .npz with key "w" [1, num_ws, w_dim]
    sheet: Path  # PNG: target | reconstruction (| with the fitted noise)
    video: Path | None  # the optimisation as an MP4
    psnr: float  # dB of the reconstruction (constant noise) against the target
    aligned: bool


def project_photo(
    photo: str | Path,
    G: Synthesizer,
    output: str | Path,
    settings: ProjectSettings | None = None,
    *,
    align: bool = True,
    perceptual: str | Path | None = None,
    video: str | Path | None = None,
    progress: ProjectionProgressFn | None = None,
) -> PhotoProjection:
    """Photo -> aligned target -> w, written as `output` (.npz) and a PNG of target | reconstruction
    beside it (same name, .png); `video` records every step as target | current image.

    Raises:
        UsageError for a bad photo or output name; FaceNotFoundError (a UsageError) when align is
        on and no face is found; CheckpointError for an unusable perceptual network
    """
    output = Path(output)
    if output.suffix.lower() != ".npz":
        raise UsageError(f"{output}: projected latents are written as .npz")
    make_folder(output.parent, error=EncoderError)
    video_path = Path(video) if video is not None else None
    if video_path is not None and output_kind(video_path) != "mp4":
        raise UsageError(f"{video_path}: the progress video is an .mp4")
    from renderer.jobs.align import load_image, prepare_target  # OpenCV's face detection: only here

    distance = load_perceptual(perceptual, device=G.device) if perceptual is not None else None
    image = load_image(photo)
    target = prepare_target(image, size=G.img_resolution, align=align, source=photo)
    if G.img_channels == 1:
        cv2 = opencv()
        target = cv2.cvtColor(target, cv2.COLOR_RGB2GRAY)[..., None]

    # The thread policy (jobs/threads.py): the progress video's encoder is light beside the
    # optimisation, so it gets one thread and no core of its own.
    threads = plan_threads(G.device, work_pixels=G.img_resolution**2)
    writer = None
    if video_path is not None:
        size = G.img_resolution
        writer = open_segment(video_path, kind="mp4", width=2 * size, height=size, fps=30,
                              settings=EncoderSettings(crf=20, preset="veryfast", even_size="pad", threads=threads.encoder))

    def on_step(step: ProjectionStep) -> None:
        if writer is not None:
            writer.write(np.concatenate([to_rgb(target), to_rgb(step.image)], axis=1))
        if progress is not None:
            progress(step)

    try:
        with use_threads(threads):
            result = project(G, target, settings or ProjectSettings(), perceptual=distance, progress=on_step)
        if writer is not None:
            writer.close()
    finally:
        if writer is not None:
            writer.abort()  # no-op once closed; otherwise no half-written video is left behind
    save_projection(result, output)
    columns = [target, result.image] + ([result.image_optimized_noise] if result.image_optimized_noise is not None else [])
    labels = ["target", f"reconstruction ({result.psnr:.1f} dB)"] + (["with fitted noise"] if len(columns) == 3 else [])
    sheet = write_png(image_grid([columns], column_labels=labels), output.with_suffix(".png"))
    return PhotoProjection(latent=output, sheet=sheet, video=video_path, psnr=result.psnr, aligned=align)
