"""`render`: a script to a finished video, in resumable segments, with generation and encoding overlapped.

The video is cut into segments of a few seconds. Frames are generated in device batches and
encoded segment by segment, generation and encoding overlapped (renderer.jobs.runner), so memory
does not grow with the video's length. A finished segment is recorded in the journal; an
interrupted render resumes from the segments it has. The segments are then joined by stream copy,
with the audio and tags, into a temporary file that is renamed onto the output only when complete.
"""

from __future__ import annotations

import dataclasses
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
from renderer.errors import EncoderError, RendererError, UsageError
from renderer.frames.pipeline import FramePipeline
from renderer.jobs.job import RenderJob, RenderSettings, resolve_job
from renderer.jobs.runner import Segment, SegmentRunner
from renderer.jobs.stills import load_animation
from renderer.jobs.threads import plan_threads
from renderer.models.synthesizer import Synthesizer
from renderer.output.ffmpeg import check_audio, ffmpeg_exe
from renderer.output.files import OutputLock, make_folder
from renderer.output.kind import JoinOptions, OutputWriter, SegmentWriter
from renderer.output.manifest import Journal, write_json_atomic
from renderer.output.writers import output_writer
from renderer.plan.encoding import EncoderSettings
from renderer.plan.script import Script
from renderer.plan.timeline import Timeline


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
    warnings: tuple[str, ...] = ()  # what the render did that the user may not expect, in words


def render(
    script: Script | RenderJob, settings: RenderSettings = RenderSettings(), progress: RenderProgressFn | None = None
) -> RenderResult:
    """Render a script (with `settings`) or a resolved job to its output; returns what was written
    and how long each stage took.

    Raises:
        UsageError / ScriptError: bad settings, odd sizes, a resume that does not match the partial render
        RendererError / EncoderError: unreadable models, unwritable output, ffmpeg failures
        KeyboardInterrupt: after aborting the segment in progress and flushing the journal
    """
    job = resumed_batching(script if isinstance(script, RenderJob) else resolve_job(script, settings))
    report = progress or (lambda _: None)
    clock = {"start": time.perf_counter()}
    writer = output_writer(job.kind)
    warnings = check_output(job)
    # Held until the output is complete: a second render to it refuses instead of mixing in.
    with OutputLock(job.path):
        G, timeline = load_animation(job.script, device=job.device, precision=job.precision)
        frames = FrameSource.for_job(job, G, timeline, writer)
        clock["loaded"] = time.perf_counter()

        assert timeline.keys is not None, "a render's timeline is planned from resolved keyframes"
        key = job.journal_key(timeline.keys, frames.batching)
        journal, discarded = open_journal(job, key)
        reused = len(journal.done)
        done = sum(b - a for i, (a, b) in enumerate(job.segments) if i in journal.done)
        report(RenderProgress("generating", done, job.num_frames))
        try:
            generate_s = encode_segments(job, frames, journal, writer, done, report)
        except Exception:
            # A failure that finished no segment leaves nothing worth resuming: no hidden folder
            # either. (Ctrl-C, and failures after some segments, keep it for --resume.)
            if not journal.done:
                shutil.rmtree(job.work_folder, ignore_errors=True)
            raise
        clock["generated"] = time.perf_counter()

        report(RenderProgress("joining", job.num_frames, job.num_frames))
        join_output(job, journal, writer, key, frames.encoder)
        clock["joined"] = time.perf_counter()
        timings = {
            "load_s": clock["loaded"] - clock["start"],
            "generate_s": generate_s,
            "generate_and_encode_s": clock["generated"] - clock["loaded"],
            "join_s": clock["joined"] - clock["generated"],
            "total_s": clock["joined"] - clock["start"],
        }
        write_json_atomic(job.sidecar, sidecar(job, key, G, frames, timings))
        shutil.rmtree(job.work_folder, ignore_errors=True)
        report(RenderProgress("done", job.num_frames, job.num_frames))
        return RenderResult(
            output=job.path, sidecar=job.sidecar, num_frames=job.num_frames, fps=job.fps, size=frames.size,
            segments_rendered=len(job.segments) - reused, segments_reused=reused,
            discarded_segments=discarded, timings=timings, warnings=warnings,
        )


# ---------------------------------------------------------------------------------------------
# The steps


def resumed_batching(job: RenderJob) -> RenderJob:
    """A resume that names no batch size takes the partial render's, so its frames match the
    segments already made (batching moves a few pixels by one level)."""
    if not job.resume or job.batch_size is not None:
        return job
    saved = Journal.saved_key(job.work_folder).get("batching", {}).get("batch_size")
    return dataclasses.replace(job, batch_size=saved) if isinstance(saved, int) and saved > 0 else job


def check_output(job: RenderJob) -> tuple[str, ...]:
    """Before any work: the output folder can be made and the audio is there; returns warnings
    about audio that does not cover the video (UsageError instead with job.audio_strict)."""
    make_folder(job.path.parent, error=EncoderError)
    if job.output.audio is None:
        return ()
    audio = Path(job.output.audio)
    length = check_audio(audio)  # before the work, not at the final join
    problem = audio_gap(audio, length, job.output.audio_offset, job.num_frames / job.fps)
    if problem is None:
        return ()
    if job.audio_strict:
        raise UsageError(problem)
    return (problem,)


def audio_gap(audio: Path, length: float | None, offset: float, video: float) -> str | None:
    """What is silent when `length` s of audio, started `offset` s in, goes with `video` s of video."""
    if length is None:
        return None
    heard = length - max(offset, 0.0)  # a negative offset delays the audio: the start is silent instead
    silent_start = max(-offset, 0.0)
    if heard <= 0:
        return f"{audio}: the audio is {length:.2f} s long and the video starts {offset:.2f} s into it: the video has no sound"
    covered = silent_start + heard
    if covered + 0.05 < video:  # a frame's worth of rounding is not a gap
        return f"{audio}: the audio ends {video - covered:.2f} s before the {video:.2f} s video does; the rest is silent"
    return None


@dataclasses.dataclass(frozen=True)
class FrameSource:
    """What makes the job's frames (the pipeline, torch's threads) and how they are encoded."""

    pipeline: FramePipeline
    encoder: EncoderSettings
    torch_threads: int | None  # None: as torch has them

    @property
    def size(self) -> tuple[int, int]:
        height, width = self.pipeline.frame_shape[:2]
        return width, height

    @property
    def batching(self) -> dict[str, Any]:
        """What of the execution changes pixels (see RenderJob.journal_key)."""
        return {"device": self.pipeline.G.device.type, "batch_size": self.pipeline.batch_size}

    @classmethod
    def for_job(cls, job: RenderJob, G: Synthesizer, timeline: Timeline, writer: OutputWriter) -> FrameSource:
        pipeline = FramePipeline.for_output(
            timeline, G, job.output, size=job.script.size, batch_size=job.batch_size,
            noise_mode=job.noise_mode, resolution=job.resolution,
        )
        # The thread policy (jobs/threads.py): on a CPU each encoder gets a core and one thread and
        # torch the rest; on a GPU the encoders share the cores. An encoder's own threads setting wins.
        plan = plan_threads(G.device, encoders=job.encoders, work_pixels=pipeline.work_pixels)
        encoder = dataclasses.replace(job.encoder, threads=job.encoder.threads or plan.encoder)
        source = cls(pipeline, encoder, plan.torch)
        # Odd sizes: a clear error before an earlier partial render is discarded.
        writer.encoded_size(*source.size, encoder)
        return source


def open_journal(job: RenderJob, key: dict[str, Any]) -> tuple[Journal, int]:
    """The journal of finished segments: resumed (checked against the key), or new, discarding an
    earlier partial render; returns it and how many segments were discarded."""
    work = job.work_folder
    discarded = 0
    if job.resume:
        journal = Journal.resume(work, key)
    else:
        if work.exists():
            discarded = len(list(work.glob("segment*")))
            shutil.rmtree(work, ignore_errors=True)
        journal = Journal(work, key)
    try:
        work.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise RendererError(f"{work}: cannot create the work folder ({e.strerror})") from None
    journal.flush()  # a render stopped before its first segment can still be resumed
    return journal, discarded


def encode_segments(
    job: RenderJob, frames: FrameSource, journal: Journal, writer: OutputWriter, done: int, report: RenderProgressFn
) -> float:
    """Generate and encode the segments the journal is missing; returns the seconds spent generating.

    Interrupted or failed, the segments finished so far are already in the journal.
    """
    width, height = frames.size

    def segment_name(segment: Segment) -> str:
        return f"segment{segment.index:05d}{writer.segment_suffix}"

    def open_segment(segment: Segment) -> SegmentWriter:
        target = job.work_folder / segment_name(segment)
        return writer.open_segment(
            target, width=width, height=height, fps=job.fps, settings=frames.encoder, first_frame=segment.start
        )

    def generated(batch: np.ndarray) -> None:
        nonlocal done
        done += len(batch)
        report(RenderProgress("generating", done, job.num_frames))

    def finished(segment: Segment) -> None:
        journal.record(segment.index, segment_name(segment))

    todo = [Segment(i, a, b) for i, (a, b) in enumerate(job.segments) if i not in journal.done]
    return SegmentRunner(job.encoders, torch_threads=frames.torch_threads).run(
        todo, frames=frames.pipeline.frames, open_writer=open_segment, on_batch=generated, on_done=finished,
    )


def join_output(job: RenderJob, journal: Journal, writer: OutputWriter, key: dict[str, Any], encoder: EncoderSettings) -> None:
    """The finished segments joined into the output, with the audio and tags."""
    out, script = job.output, job.script
    files = [job.work_folder / journal.done[i] for i in range(len(job.segments))]
    metadata = {"title": out.title or (script.file.stem if script.file else job.path.stem),
                "comment": f"renderer {__version__}; script sha256 {key['script'][:16]}"}
    options = JoinOptions(job.fps, encoder, out.audio, out.audio_offset, job.num_frames / job.fps, metadata)
    writer.join(files, job.path, options)


# ---------------------------------------------------------------------------------------------


def sidecar(job: RenderJob, key: dict[str, Any], G: Synthesizer, frames: FrameSource, timings: dict[str, float]) -> dict[str, Any]:
    """The sidecar JSON: what was rendered, from what, how, with which versions, how fast."""
    script, out = job.script, job.output
    return {
        "output": str(job.path),
        "script": {"file": str(script.file) if script.file else None, "sha256": key["script"],
                   "presets": list(script.presets), "resolved": dataclasses.asdict(script)},
        "checkpoints": [{"model": m, "sha256": h} for m, h in zip(job.models, key["checkpoints"], strict=True)],
        "frames": job.num_frames,
        "fps": job.fps,
        "size": list(frames.size),
        "encoder": dataclasses.asdict(frames.encoder),
        "audio": {"file": str(out.audio), "offset_s": out.audio_offset} if out.audio else None,
        "device": str(G.device) + (f" ({torch.cuda.get_device_name(G.device)})" if G.device.type == "cuda" else ""),
        "batch_size": frames.pipeline.batch_size,  # with the device, it moves pixels by a level
        "precision": job.precision,
        "noise_mode": job.noise_mode,
        "versions": {
            "renderer": __version__, "python": platform.python_version(), "torch": torch.__version__,
            "numpy": np.__version__, "scipy": scipy.__version__, "imageio-ffmpeg": imageio_ffmpeg.__version__,
            "ffmpeg": imageio_ffmpeg.get_ffmpeg_version(), "ffmpeg_exe": Path(ffmpeg_exe()).name,
        },
        "timings": timings,
    }


__all__ = ["RenderJob", "RenderProgress", "RenderProgressFn", "RenderResult", "RenderSettings", "render", "resolve_job"]
