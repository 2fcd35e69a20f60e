"""`render`: a script to a finished video, in resumable segments, with generation and encoding overlapped.

The video is cut into segments of a few seconds. Frames are generated in device batches and
encoded segment by segment, generation and encoding overlapped (renderer.jobs.runner), so memory
does not grow with the video's length. A finished segment is recorded in the journal; an
interrupted render resumes from the segments it has. The segments are then joined by stream copy,
with the audio and tags, into a temporary file that is renamed onto the output only when complete.
"""

from __future__ import annotations

import dataclasses
import hashlib
import platform
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import imageio_ffmpeg
import numpy as np
import scipy
import torch

from renderer import __version__
from renderer.jobs.runner import Segment, SegmentRunner, generation_threads
from renderer.jobs.stills import auto_batch_size, load_animation
from renderer.errors import EncoderError, RendererError, UsageError
from renderer.models.stylegan2 import Generator, NoiseMode, Precision
from renderer.output.manifest import Journal, file_sha256, json_sha256, model_sha256, write_json_atomic
from renderer.frames.pipeline import FramePipeline, check_generation_options
from renderer.plan.script import OutputSettings, Script, encoder_settings
from renderer.output.ffmpeg import check_audio, ffmpeg_exe
from renderer.output.files import make_folder
from renderer.output.kind import SegmentWriter
from renderer.output.writers import output_writer
from renderer.plan.encoding import EncoderSettings, output_kind
from renderer.plan.timeline import Timeline


@dataclasses.dataclass(frozen=True)
class RenderSettings:
    """How to render; `output` overrides (field by field) the script's [output] table."""

    device: str = "auto"
    batch_size: int | None = None  # None: 1 on CPU, 16 on a GPU
    precision: Precision = "fp32"
    noise_mode: NoiseMode = "const"
    encoders: int = 1  # segments encoded in parallel ffmpeg processes
    resume: bool = False
    resolution: int | None = None  # a lower synthesis level for a quick render (output at that size); None: full

    output: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        check_generation_options(
            noise_mode=self.noise_mode, precision=self.precision, batch_size=self.batch_size, resolution=self.resolution
        )
        if self.encoders < 1:
            raise UsageError(f"encoders must be at least 1, not {self.encoders}")
        unknown = set(self.output) - {f.name for f in dataclasses.fields(OutputSettings)}
        if unknown:
            raise UsageError(f"unknown output settings {sorted(unknown)}")


@dataclasses.dataclass(frozen=True)
class RenderProgress:
    """Reported after every generated batch and at each stage change."""

    stage: str  # "generating", "joining", "done"
    frames_done: int  # frames generated in this run (resumed segments count as done)
    total: int


RenderProgressFn = Callable[[RenderProgress], None]


@dataclasses.dataclass(frozen=True)
class RenderResult:
    output: Path
    sidecar: Path
    num_frames: int
    fps: float
    size: tuple[int, int]
    segments_rendered: int
    segments_reused: int
    discarded_segments: int  # of an earlier partial render, when not resuming
    timings: dict[str, float]


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


def render(
    script: Script, settings: RenderSettings = RenderSettings(), progress: RenderProgressFn | None = None
) -> RenderResult:
    """Render a script to its output; returns what was written and how long each stage took.

    Raises:
        UsageError: bad settings, odd sizes, a resume that does not match the partial render
        RendererError / EncoderError: unreadable models, unwritable output, ffmpeg failures
        KeyboardInterrupt: after aborting the segment in progress and flushing the journal
    """
    t_start = time.perf_counter()
    out = dataclasses.replace(script.output, **settings.output)
    path = output_path(script, out)
    if settings.resolution is not None and "file" not in settings.output:
        # A quick low-resolution render never replaces the full render's file.
        path = path.with_name(f"{path.stem}.{settings.resolution}px{path.suffix}")
    kind = output_kind(path)
    writer = output_writer(kind)
    encoder = encoder_settings(out)
    make_folder(path.parent, error=EncoderError)
    if out.audio is not None:
        check_audio(Path(out.audio))  # before the work, not at the final join

    G, timeline = load_animation(script, device=settings.device, precision=settings.precision)
    if G.device.type == "cpu":
        # Generation and encoding share the CPU: give each encoder one core and one thread, and
        # torch the rest, so x264's threads do not keep preempting torch's (benchmarks/RESULTS.md).
        encoder = dataclasses.replace(encoder, threads=encoder.threads or 1)
        threads = generation_threads(settings.encoders)
    else:
        threads = None
    pipeline = FramePipeline.for_output(
        timeline, G, out, size=script.size, batch_size=settings.batch_size or auto_batch_size(G.device),
        noise_mode=settings.noise_mode, resolution=settings.resolution,
    )
    height, width = pipeline.frame_shape[:2]
    # Odd sizes: a clear error before an earlier partial render is discarded below.
    writer.encoded_size(width, height, encoder)
    t_loaded = time.perf_counter()

    models = [script.base_model] + ([script.transfer_model] if script.transfer_model else [])
    key = _journal_key(script, models, timeline, out, settings)
    work = path.parent / f".{path.name}.parts"
    seg_frames = max(1, round(out.segment * script.fps))
    segments = plan_segments(script.num_frames, seg_frames)
    discarded = 0
    if settings.resume:
        journal = Journal.resume(work, key)
    else:
        if work.exists():
            discarded = len(list(work.glob("segment*")))
            shutil.rmtree(work, ignore_errors=True)
        writer.remove_stale(path)  # e.g. frames of an earlier render, which would outlive a shorter one
        journal = Journal(work, key)
    try:
        work.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise RendererError(f"{work}: cannot create the work folder ({e.strerror})") from None
    reused = len(journal.done)
    journal.flush()  # a render stopped before its first segment can still be resumed

    total = script.num_frames
    done = sum(b - a for i, (a, b) in enumerate(segments) if i in journal.done)
    report = progress or (lambda _: None)
    report(RenderProgress("generating", done, total))

    def segment_name(segment: Segment) -> str:
        return f"segment{segment.index:05d}{writer.segment_suffix}"

    def open_segment(segment: Segment) -> SegmentWriter:
        target = path if writer.in_place else work / segment_name(segment)
        return writer.open_segment(
            target, width=width, height=height, fps=script.fps, settings=encoder, first_frame=segment.start
        )

    def generated(batch: np.ndarray) -> None:
        nonlocal done
        done += len(batch)
        report(RenderProgress("generating", done, total))

    todo = [Segment(i, a, b) for i, (a, b) in enumerate(segments) if i not in journal.done]
    # Interrupted or failed: the segments finished so far are already in the journal.
    t_gen = SegmentRunner(settings.encoders, torch_threads=threads).run(
        todo, frames=pipeline.frames, open_writer=open_segment, on_batch=generated,
        on_done=lambda segment: _segment_done(journal, segment.index, segment_name(segment), writer.in_place),
    )
    t_generated = time.perf_counter()

    report(RenderProgress("joining", total, total))
    files = [work / journal.done[i] for i in range(len(segments))]
    metadata = {"title": out.title or (script.file.stem if script.file else path.stem),
                "comment": f"renderer {__version__}; script sha256 {key['script'][:16]}"}
    writer.join(
        files, path, fps=script.fps, settings=encoder, audio=out.audio,
        audio_offset=out.audio_offset, duration=total / script.fps, metadata=metadata,
    )
    t_joined = time.perf_counter()
    timings = {
        "load_s": t_loaded - t_start,
        "generate_s": t_gen,
        "generate_and_encode_s": t_generated - t_loaded,
        "join_s": t_joined - t_generated,
        "total_s": t_joined - t_start,
    }
    sidecar = Path(f"{path}.json")
    write_json_atomic(sidecar, _sidecar(script, models, out, settings, key, path, G, (width, height), encoder, timings))
    shutil.rmtree(work, ignore_errors=True)
    report(RenderProgress("done", total, total))
    return RenderResult(
        output=path, sidecar=sidecar, num_frames=total, fps=script.fps, size=(width, height),
        segments_rendered=len(segments) - reused, segments_reused=reused, discarded_segments=discarded,
        timings=timings,
    )


# ---------------------------------------------------------------------------------------------


def _segment_done(journal: Journal, index: int, name: str, in_place: bool) -> None:
    if in_place:  # the frames went straight into the output folder; leave a marker
        (journal.folder / name).touch()
    journal.record(index, name)


def _journal_key(
    script: Script, models: list[str], timeline: Timeline, out: OutputSettings, settings: RenderSettings
) -> dict[str, Any]:
    """Hashes of everything that changes the segments' pixels (not the device or batch size)."""
    script_hash = file_sha256(script.file) if script.file is not None else json_sha256(dataclasses.asdict(script))
    # Presets and the library's defaults shape the path too, beyond what the file's bytes say.
    resolved = {k: v for k, v in dataclasses.asdict(script).items() if k not in ("file", "output", "origins", "keyframes")}
    pixels = {
        "output": {k: v for k, v in dataclasses.asdict(out).items() if k not in ("file", "audio", "audio_offset", "title")},
        "precision": settings.precision,
        "noise_mode": settings.noise_mode,
        "resolution": settings.resolution,
    }
    # Keyframe latents may come from .npy/.npz files the script only names: hash what they hold.
    keys = timeline.keys
    assert keys is not None, "a render's timeline is planned from resolved keyframes"
    keyframes = hashlib.sha256(keys.latents.tobytes())
    if keys.blends is not None:
        keyframes.update(keys.blends.tobytes())
    return {
        "script": script_hash,
        "resolved settings": json_sha256(resolved),
        "checkpoints": [model_sha256(m, __version__) for m in models],
        "keyframes": keyframes.hexdigest(),
        "settings": json_sha256(pixels),
    }


def _sidecar(
    script: Script, models: list[str], out: OutputSettings, settings: RenderSettings, key: dict[str, Any],
    path: Path, G: Generator, size: tuple[int, int], encoder: EncoderSettings, timings: dict[str, float],
) -> dict[str, Any]:
    return {
        "output": str(path),
        "script": {"file": str(script.file) if script.file else None, "sha256": key["script"],
                   "presets": list(script.presets), "resolved": dataclasses.asdict(script)},
        "checkpoints": [{"model": m, "sha256": h} for m, h in zip(models, key["checkpoints"], strict=True)],
        "frames": script.num_frames,
        "fps": script.fps,
        "size": list(size),
        "encoder": dataclasses.asdict(encoder),
        "audio": {"file": str(out.audio), "offset_s": out.audio_offset} if out.audio else None,
        "device": str(G.device) + (f" ({torch.cuda.get_device_name(G.device)})" if G.device.type == "cuda" else ""),
        "precision": settings.precision,
        "noise_mode": settings.noise_mode,
        "versions": {
            "renderer": __version__, "python": platform.python_version(), "torch": torch.__version__,
            "numpy": np.__version__, "scipy": scipy.__version__, "imageio-ffmpeg": imageio_ffmpeg.__version__,
            "ffmpeg": imageio_ffmpeg.get_ffmpeg_version(), "ffmpeg_exe": Path(ffmpeg_exe()).name,
        },
        "timings": timings,
    }


__all__ = [
    "RenderProgress", "RenderProgressFn", "RenderResult", "RenderSettings", "output_path",
    "plan_segments", "render",
]
