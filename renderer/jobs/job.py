"""One resolved render job: everything a render will do, decided once, before any model is loaded.

`resolve_job(script, settings)` applies the library's settings (or the CLI's flags) over the
script's own, checks them with the script's checks, and returns a frozen, picklable `RenderJob`:
the output path and kind, the encoder settings, the segment plan, the device policy, and every
setting with where it came from. `render()` is a short list of steps over a job, a resume key is a
hash of it, and the same job can be printed (`describe()`) or shipped to another process whole.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from renderer import __version__
from renderer.errors import UsageError
from renderer.frames.pipeline import check_generation_options
from renderer.jobs.compiling import CompileMode, check_compile_mode
from renderer.models.synthesizer import NoiseMode, Precision
from renderer.output.manifest import file_sha256, json_sha256, model_sha256
from renderer.plan.encoding import VIDEO_KINDS, EncoderSettings, OutputKind, chroma_step, output_kind
from renderer.plan.framing import even_size
from renderer.plan.script import (
    OutputSettings,
    Script,
    ScriptError,
    apply_output_overrides,
    encoder_settings,
    odd_size_message,
    resolved_settings,
)
from renderer.plan.timeline import ResolvedKeyframes

Backend = Literal["local", "ray"]
BACKENDS: tuple[Backend, ...] = ("local", "ray")
SegmentStorage = Literal["auto", "shared", "bytes"]
Encoders = int | Literal["auto"]  # segments encoded at once, or "auto": as many as keep the generator busy


def check_encoders(encoders: object) -> None:
    """UsageError unless encoders is "auto" or a whole number >= 1."""
    if encoders == "auto":
        return
    if isinstance(encoders, bool) or not isinstance(encoders, int) or encoders < 1:
        raise UsageError(f"encoders must be 'auto' or at least 1, not {encoders!r}")
SEGMENT_STORAGES: tuple[SegmentStorage, ...] = ("auto", "shared", "bytes")


@dataclasses.dataclass(frozen=True)
class RayOptions:
    """Where and how a render runs on Ray (renderer.jobs.ray_backend).

    Args:
        address: the cluster: None starts a local Ray (or joins RAY_ADDRESS), "auto" joins the
            cluster started on this host with `ray start`, "ray://host:10001" a remote one
        workers: actors that render segments; None: as many as the cluster's GPUs (or CPUs) hold
        gpus_per_worker: GPUs each worker reserves; None: 1 when the cluster has GPUs, else 0
        cpus_per_worker: CPUs each worker reserves (its torch threads on a CPU worker)
        segment_storage: "shared": workers write segments into the render's work folder (the same
            path on a shared file system); "bytes": segments come back to the driver as bytes;
            "auto": shared for the workers that can see the work folder, bytes for the others
    """

    address: str | None = None
    workers: int | None = None
    gpus_per_worker: float | None = None
    cpus_per_worker: float = 1.0
    segment_storage: SegmentStorage = "auto"

    def __post_init__(self) -> None:
        if self.workers is not None and (isinstance(self.workers, bool) or self.workers < 1):
            raise UsageError(f"workers must be at least 1, not {self.workers!r}")
        if self.gpus_per_worker is not None and self.gpus_per_worker < 0:
            raise UsageError(f"gpus per worker must be 0 or more, not {self.gpus_per_worker!r}")
        if self.cpus_per_worker <= 0:
            raise UsageError(f"cpus per worker must be more than 0, not {self.cpus_per_worker!r}")
        if self.segment_storage not in SEGMENT_STORAGES:
            raise UsageError(f"segment storage must be one of {', '.join(SEGMENT_STORAGES)}, not {self.segment_storage!r}")


@dataclasses.dataclass(frozen=True)
class RenderSettings:
    """How to render; `output` overrides (field by field) the script's [output] table, with the
    same checks and the same one-line errors as a script's own [output]."""

    device: str = "auto"
    batch_size: int | None = None  # None: 1 on CPU, 16 on a GPU
    precision: Precision = "fp32"
    noise_mode: NoiseMode = "const"
    encoders: Encoders = "auto"  # segments encoded in parallel ffmpeg processes; "auto": from measured rates
    resume: bool = False
    resolution: int | None = None  # a lower synthesis level for a quick render (output at that size); None: full
    audio_strict: bool = False  # refuse (instead of a warning) audio that does not cover the video
    backend: Backend = "local"  # "ray": segments rendered by Ray actors (ray: how)
    ray: RayOptions = RayOptions()
    compile: CompileMode = "auto"  # synthesis through torch.compile: auto (long renders), on, off (jobs.compiling)

    output: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        check_generation_options(
            noise_mode=self.noise_mode, precision=self.precision, batch_size=self.batch_size, resolution=self.resolution
        )
        check_encoders(self.encoders)
        apply_output_overrides(OutputSettings(), self.output)  # raises ScriptError naming the key
        check_compile_mode(self.compile)
        if self.backend not in BACKENDS:
            raise UsageError(f"backend must be one of {', '.join(BACKENDS)}, not {self.backend!r}")
        if self.backend == "ray":
            require_ray()


@dataclasses.dataclass(frozen=True)
class RenderJob:
    """Everything a render will do. Frozen and picklable; `describe()` lists it."""

    script: Script  # parsed, presets applied
    output: OutputSettings  # the script's [output] with the settings' overrides
    path: Path  # the output file, or the folder of PNG frames
    kind: OutputKind
    encoder: EncoderSettings
    segments: tuple[tuple[int, int], ...]  # [start, stop) frames of each resumable segment
    device: str  # "auto", "cpu", "cuda", "cuda:1", "mps": resolved when the models load
    batch_size: int | None
    precision: Precision
    noise_mode: NoiseMode
    encoders: Encoders
    resume: bool
    resolution: int | None
    audio_strict: bool = False
    flags: tuple[str, ...] = ()  # the output settings that the caller's settings overrode
    backend: Backend = "local"
    ray: RayOptions = RayOptions()
    size: tuple[int, int] | None = None  # (width, height) of the frames: the script's, made even
    # for the pixel format when even_size = "round"; None: the model's square
    compile: CompileMode = "auto"  # decided when the models load (renderer.jobs.compiling)

    def __post_init__(self) -> None:
        if self.size is None and self.script.size is not None:
            object.__setattr__(self, "size", self.script.size)

    @property
    def models(self) -> tuple[str, ...]:
        """The checkpoints: the base, then the transfer model and the extra models the script names."""
        transfer = self.script.transfer_model
        extras = tuple(path for _, path in self.script.extra_models)
        return (self.script.base_model,) + ((transfer,) if transfer else ()) + extras

    @property
    def num_frames(self) -> int:
        return self.script.num_frames

    @property
    def fps(self) -> float:
        return self.script.fps

    @property
    def work_folder(self) -> Path:
        """Where finished segments and the journal wait for the final join."""
        return self.path.parent / f".{self.path.name}.parts"

    @property
    def sidecar(self) -> Path:
        return Path(f"{self.path}.json")

    def describe(self) -> list[tuple[str, Any, str]]:
        """(setting, value, origin) of every setting: "default", "preset NAME", "script" or "settings"."""
        rows = []
        for key, value, origin in resolved_settings(self.script):
            if key.startswith("output."):
                name = key.split(".", 1)[1]
                value = getattr(self.output, name)
                origin = "settings" if name in self.flags else origin
            rows.append((key, value, origin))
        rows += [
            ("render.size", "x".join(map(str, self.size)) if self.size else "the model's", "from size and output.even_size"),
            ("render.output", self.path, "settings" if "file" in self.flags else "from the script"),
            ("render.kind", self.kind, "from the output path"),
            ("render.segments", f"{len(self.segments)} of about {self.output.segment:g} s", "from output.segment"),
        ]
        rows += [(f"render.{f}", getattr(self, f), "settings")
                 for f in ("device", "batch_size", "precision", "noise_mode", "encoders", "resolution", "audio_strict", "backend", "compile")]
        if self.backend == "ray":
            rows += [(f"render.ray.{f.name}", getattr(self.ray, f.name), "settings") for f in dataclasses.fields(self.ray)]
        return rows

    def journal_key(self, keys: ResolvedKeyframes, batching: Mapping[str, Any]) -> dict[str, Any]:
        """Hashes of everything that changes the segments' pixels.

        Args:
            keys: the keyframes as resolved against the models: latents from .npy/.npz files the
                script only names are hashed by what they hold.
            batching: the device type and the frames per batch the render runs with. Kernels
                (matmuls and small convolutions) pick their summation order by problem size and
                device, so another batch size moves a few pixels by one level: a resume with other
                batching would mix them into one video.
        """
        script = self.script
        script_hash = file_sha256(script.file) if script.file is not None else json_sha256(dataclasses.asdict(script))
        # Presets and the library's defaults shape the path too, beyond what the file's bytes say.
        resolved = {k: v for k, v in dataclasses.asdict(script).items() if k not in ("file", "output", "origins", "keyframes")}
        pixels = {
            "output": {k: v for k, v in dataclasses.asdict(self.output).items() if k not in ("file", "audio", "audio_offset", "title")},
            "precision": self.precision,
            "noise_mode": self.noise_mode,
            "resolution": self.resolution,
        }
        keyframes = hashlib.sha256(keys.latents.tobytes())
        if keys.blends is not None:
            keyframes.update(keys.blends.tobytes())
        if keys.directions is not None:
            keyframes.update(keys.directions.tobytes())
        if keys.model_blends is not None:
            keyframes.update(keys.model_blends.tobytes())
        for mask in script.masks.values():
            if mask.file is not None:
                keyframes.update(file_sha256(mask.file).encode())
        key = {
            "script": script_hash,
            "resolved settings": json_sha256(resolved),
            "checkpoints": [model_sha256(m, __version__) for m in self.models],
            "keyframes": keyframes.hexdigest(),
            "settings": json_sha256(pixels),
            "batching": dict(batching),
        }
        if script.reactions:  # the songs that drive the frames, by what they hold
            key["audio"] = [file_sha256(Path(song)) for song in sorted({str(r.audio) for r in script.reactions})]
        return key


def resolve_job(script: Script, settings: RenderSettings = RenderSettings()) -> RenderJob:
    """The render of `script` with `settings`, every choice made and checked (UsageError /
    ScriptError with one line); nothing is loaded or written."""
    out = apply_output_overrides(script.output, settings.output, fps=script.fps, bpm=script.bpm)
    path = output_path(script, out)
    tags = [Path(name).stem for name in script.added_presets]
    if settings.resolution is not None:
        tags.append(f"{settings.resolution}px")
    if tags and "file" not in settings.output:
        # A quick low-resolution render, or one trying presets, never replaces the full render's file.
        path = path.with_name(f"{path.stem}.{'.'.join(tags)}{path.suffix}")
    segment_frames = max(1, round(out.segment * script.fps))
    kind = output_kind(path)
    return RenderJob(
        size=frame_size(script, out, kind),
        script=script, output=out, path=path, kind=kind, encoder=encoder_settings(out),
        segments=tuple(plan_segments(script.num_frames, segment_frames)),
        device=settings.device, batch_size=settings.batch_size, precision=settings.precision,
        noise_mode=settings.noise_mode, encoders=settings.encoders, resume=settings.resume,
        resolution=settings.resolution, audio_strict=settings.audio_strict, flags=tuple(sorted(settings.output)),
        backend=settings.backend, ray=settings.ray, compile=settings.compile,
    )


def frame_size(script: Script, output: OutputSettings, kind: OutputKind) -> tuple[int, int] | None:
    """The frames' (width, height): the script's size, which a video's pixel format may need even
    (rounded down with even_size = "round"; a ScriptError with "error"); None: the model's square."""
    size = script.size
    if size is None or kind not in VIDEO_KINDS:
        return size
    step = chroma_step(output.pix_fmt)
    if size[0] % step[0] == 0 and size[1] % step[1] == 0:
        return size
    if output.even_size == "round":
        return even_size(size, step)
    if output.even_size == "error":
        prefix = f"{script.file}: " if script.file else ""
        raise ScriptError(f"{prefix}size: {odd_size_message(size, output.pix_fmt)}")
    return size  # "pad": the encoder adds the row or column


def require_ray() -> None:
    """UsageError (how to install it) when Ray, the optional backend, is not installed."""
    try:
        import ray  # noqa: F401
    except ImportError:
        raise UsageError(
            "the ray backend needs Ray, which is not installed: pip install 'stylegan-renderer[ray]'"
        ) from None


def plan_segments(num_frames: int, length: int) -> list[tuple[int, int]]:
    """[start, stop) frame ranges of `length`; a tail shorter than half a segment joins the one
    before it (very short MP4 segments get padded durations that stream copy would keep)."""
    starts = list(range(0, num_frames, length))
    if len(starts) > 1 and num_frames - starts[-1] < length / 2:
        starts.pop()
    return [(a, b) for a, b in zip(starts, [*starts[1:], num_frames], strict=True)]


def output_path(script: Script, output: OutputSettings) -> Path:
    """The output file: [output] file (or -o), else <script name>.<format> beside the script (for
    PNG frames, a folder <script name>_frames)."""
    if output.file is not None:
        return Path(output.file)
    stem = script.file.with_suffix("") if script.file is not None else Path("render")
    return stem.with_name(f"{stem.name}_frames") if output.format == "png" else stem.with_suffix(f".{output.format}")


__all__ = ["RayOptions", "RenderJob", "RenderSettings", "require_ray", "output_path", "plan_segments", "resolve_job"]
