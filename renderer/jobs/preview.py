"""`preview`: a script's keyframe contact sheet, track plot and low-resolution draft video, in seconds.

Frames are synthesised at a preview level. A skip-architecture model (every StyleGAN2 config-f
checkpoint) builds its image as a sum of RGB outputs upsampled level by level, so the RGB
accumulated at level r is a faithful r x r image, and synthesis stops there: the expensive top
levels are never computed. Other architectures render in full and are downscaled, and the result
says so.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from renderer.blendspec import describe_blend
from renderer.errors import EncoderError, UsageError
from renderer.frames.images import contact_sheet
from renderer.frames.pacing import ImageSpeedMeter
from renderer.frames.pipeline import FramePipeline, check_generation_options
from renderer.jobs.stills import load_animation, write_png
from renderer.jobs.threads import ThreadPlan, plan_threads, use_threads
from renderer.models.synthesizer import NoiseMode, Synthesizer
from renderer.output.ffmpeg import check_audio
from renderer.output.files import make_folder
from renderer.output.kind import JoinOptions
from renderer.output.plots import INSTALL_HINT, TrackPlotData, matplotlib_available, plot_tracks
from renderer.output.writers import open_segment, output_writer
from renderer.plan.script import Script, encoder_settings, format_clock, parse_time
from renderer.plan.timeline import TimelineChunk, concat_chunks, reaction_track_name

DEFAULT_MAX_RESOLUTION = 256  # the default preview level: at most this, and at most half the model's
SHEET_COLUMNS = 6  # tiles per contact-sheet row, rounded down to whole keyframe segments


@dataclasses.dataclass(frozen=True)
class PreviewSettings:
    """What `preview` makes, and how."""

    resolution: int | None = None  # synthesis level in px; None: default_resolution(G)
    between: int = 0  # in-between frames per keyframe segment on the sheet
    every: int = 1  # draft: keep every Nth frame (played at fps / N, so timing holds)
    start: str | float | None = None  # draft start, in script time forms ("12.5", "48f", "16b", "1:02")
    end: str | float | None = None  # draft end (exclusive); None: the end of the video
    sheet: bool = True
    plot: bool | None = None  # None: when matplotlib is installed (True: an error when it is not)
    draft: bool = True
    device: str = "auto"
    batch_size: int | None = None  # None: 1 on CPU, 16 on a GPU
    noise_mode: NoiseMode = "const"
    crf: int = 26  # draft quality: small files, fast encodes
    preset: str = "veryfast"

    def __post_init__(self) -> None:
        check_generation_options(
            noise_mode=self.noise_mode, precision="fp32", batch_size=self.batch_size, resolution=self.resolution
        )
        if self.between < 0:
            raise UsageError(f"between must be >= 0, not {self.between}")
        if self.every < 1:
            raise UsageError(f"every must be >= 1, not {self.every}")
        if not (self.sheet or self.plot is not False or self.draft):
            raise UsageError("nothing to make: the sheet, the plot and the draft are all turned off")


@dataclasses.dataclass(frozen=True)
class PreviewProgress:
    stage: str  # "sheet", "plot", "draft"
    done: int
    total: int


PreviewProgressFn = Callable[[PreviewProgress], None]


@dataclasses.dataclass(frozen=True)
class PreviewResult:
    sheet: Path | None
    plot: Path | None
    draft: Path | None
    resolution: int  # the preview level, px
    model_resolution: int  # the model's img_resolution, px
    stops_early: bool  # synthesis stopped at that level (False: rendered in full and downscaled)
    draft_frames: int
    notes: tuple[str, ...]  # what the preview did differently from a render, in words
    timings: dict[str, float]


def default_resolution(G: Synthesizer) -> int:
    """The largest block resolution <= min(256, half the model's): coarse enough to be fast."""
    limit = max(4, min(DEFAULT_MAX_RESOLUTION, G.img_resolution // 2))
    return max(r for r in G.levels if r <= limit)


def sheet_frames(
    script: Script, between: int, key_frames: Sequence[int] | None = None
) -> list[tuple[int, int | None]]:
    """(frame, keyframe index or None) of each sheet tile: every keyframe, and `between` frames
    spread evenly inside each segment (for a loop, the last segment runs back to the first key).
    key_frames: the frames that show the keyframes, when pacing moved them (default: the script's)."""
    # A keyframe at the end time is shown by the last frame, which is heading to it.
    frames = [k.frame for k in script.keyframes] if key_frames is None else [int(f) for f in key_frames]
    keys = [min(f, script.num_frames - 1) for f in frames]
    # A loop's closing segment runs from the last key to the first key one period later.
    ends = keys[1:] + ([keys[0] + script.num_frames] if script.path.loop else [])
    tiles: list[tuple[int, int | None]] = []
    for index, frame in enumerate(keys):
        tiles.append((frame, index))
        if index < len(ends) and between:
            inside = np.linspace(frame, ends[index], between + 2)[1:-1]
            steps = sorted({int(round(x)) for x in inside} - {frame, ends[index]})
            tiles += [(f % script.num_frames, None) for f in steps]
    return tiles


def draft_frames(script: Script, *, every: int, start: str | float | None, end: str | float | None) -> NDArray[np.int64]:
    """The frame indices of the draft video."""
    def frame(value: str | float | None, default: int, what: str) -> int:
        if value is None:
            return default
        try:
            return int(round(parse_time(value, fps=script.fps, bpm=script.bpm)))
        except ValueError as e:
            raise UsageError(f"{what}: {e}") from None

    first = frame(start, 0, "start")
    stop = min(frame(end, script.num_frames, "end"), script.num_frames)
    if first >= stop:
        raise UsageError(f"the draft is empty: start frame {first} is not before end frame {stop} (the video has {script.num_frames})")
    return np.arange(first, stop, every, dtype=np.int64)


@torch.no_grad()
def latent_speed(pipeline: FramePipeline, *, span: int = 512) -> NDArray[np.float32]:
    """|w(t + 1) - w(t)| for every frame step, RMS over the ws layers, after truncation: [T - 1].

    Computed in spans of frames, so memory does not grow with the video's length.
    """
    return _sampled_tracks(pipeline, span)[1]


@torch.no_grad()
def _sampled_tracks(pipeline: FramePipeline, span: int) -> tuple[TimelineChunk, NDArray[np.float32]]:
    """The whole video's small tracks (time, psi, cutoff, blend; no latents) and its latent speed,
    in one pass over the timeline, `span` frames at a time."""
    speeds: list[NDArray[np.float32]] = []
    parts: list[TimelineChunk] = []
    last: torch.Tensor | None = None
    for chunk in pipeline.timeline.chunks(span):
        ws = pipeline.ws(chunk)
        if last is not None:
            ws = torch.cat([last, ws])
        step = (ws[1:] - ws[:-1]).square().sum(dim=-1).mean(dim=-1).sqrt()
        speeds.append(step.float().cpu().numpy())
        last = ws[-1:]
        parts.append(dataclasses.replace(chunk, latents=chunk.latents[:0]))  # the latents are not kept
    return concat_chunks(parts), np.concatenate(speeds)


@dataclasses.dataclass(frozen=True)
class PreviewPlan:
    """What a preview will write, decided and checked before any model is loaded."""

    folder: Path
    name: str  # the outputs' stem: <name>.sheet.png, <name>.tracks.png, <name>.draft.mp4
    draft_frames: NDArray[np.int64] | None  # None: no draft
    plot: bool
    notes: tuple[str, ...]  # what the preview does differently from a render, in words


def plan_preview(script: Script, out_dir: str | Path | None, settings: PreviewSettings) -> PreviewPlan:
    """The preview's outputs and draft frames; UsageError (one line) before any work when they cannot be made."""
    folder = Path(out_dir) if out_dir is not None else (script.file.parent if script.file else Path("."))
    make_folder(folder, error=EncoderError)
    if settings.draft and script.output.audio is not None:
        check_audio(Path(script.output.audio))
    frames = draft_frames(script, every=settings.every, start=settings.start, end=settings.end) if settings.draft else None
    notes = []
    plot = settings.plot is not False and matplotlib_available()
    if settings.plot and not plot:
        raise UsageError(f"the track plot needs matplotlib: {INSTALL_HINT}")
    if settings.plot is None and not plot:
        notes.append(f"no track plot: matplotlib is not installed ({INSTALL_HINT})")
    if frames is not None and script.output.temporal_blur and settings.every > 1:
        notes.append("temporal_blur is left out of drafts that skip frames (--every > 1)")
    name = script.file.stem if script.file else "preview"
    return PreviewPlan(folder=folder, name=name, draft_frames=frames, plot=plot, notes=tuple(notes))


def preview_pipeline(script: Script, settings: PreviewSettings, *, pace_cache: Path | None = None) -> FramePipeline:
    """The script's frames at the preview level (by default, default_resolution of its model), paced
    as a render paces them (`pace_cache`: where the pacing pass is kept, renderer.jobs.pacing)."""
    G, timeline = load_animation(script, device=settings.device, pace_cache=pace_cache)
    level = default_resolution(G) if settings.resolution is None else settings.resolution
    # Temporal smoothing applies where every frame is drawn (frames(), not frames_at()).
    return FramePipeline.for_output(
        timeline, G, script.output, size=script.size, batch_size=settings.batch_size,
        noise_mode=settings.noise_mode, resolution=level, fit=script.fit,
    )


def preview(
    script: Script,
    out_dir: str | Path | None = None,
    settings: PreviewSettings = PreviewSettings(),
    progress: PreviewProgressFn | None = None,
) -> PreviewResult:
    """Write `<name>.sheet.png`, `<name>.tracks.png` and `<name>.draft.mp4` (those asked for) into
    out_dir (default: beside the script); returns their paths and the preview level used."""
    report = progress or (lambda _: None)
    plan = plan_preview(script, out_dir, settings)
    timings: dict[str, float] = {}
    with _timed(timings, "load_s"):
        pipeline = preview_pipeline(script, settings, pace_cache=plan.folder / f".{plan.name}.pace.npz")
    G, level = pipeline.G, pipeline.resolution
    notes = list(plan.notes)
    if level < G.img_resolution and not pipeline.stops_early and G.family == "stylegan3":
        notes.append(f"StyleGAN3 models cannot stop early (no image below full size): frames were rendered "
                     f"at {G.img_resolution} px and downscaled to {level}")
    elif level < G.img_resolution and not pipeline.stops_early:
        notes.append(f"this {G.architecture}-architecture model has no intermediate RGB: "
                     f"frames were rendered at {G.img_resolution} px and downscaled to {level}")

    # A draft's encoder (low resolution, fast preset) is light beside the synthesis: it gets one
    # thread and no core of its own (jobs/threads.py).
    threads = plan_threads(G.device, encoders=0, work_pixels=pipeline.work_pixels)
    with use_threads(threads):
        sheet, plot, draft = _write_outputs(script, pipeline, settings, plan, threads, timings, report)
    return PreviewResult(
        sheet=sheet, plot=plot, draft=draft, resolution=level, model_resolution=G.img_resolution,
        stops_early=pipeline.stops_early, draft_frames=0 if plan.draft_frames is None else len(plan.draft_frames),
        notes=tuple(notes), timings=timings,
    )


def _write_outputs(
    script: Script, pipeline: FramePipeline, settings: PreviewSettings, plan: PreviewPlan, threads: ThreadPlan,
    timings: dict[str, float], report: PreviewProgressFn,
) -> tuple[Path | None, Path | None, Path | None]:
    sheet = plot = draft = None
    if settings.sheet:
        with _timed(timings, "sheet_s"):
            sheet = _write_sheet(script, pipeline, settings.between, plan.folder / f"{plan.name}.sheet.png", report)
    # The plot's image speed is measured on the preview frames: a draft of every frame gives them.
    meter = ImageSpeedMeter() if plan.plot else None
    whole = plan.draft_frames is not None and np.array_equal(plan.draft_frames, np.arange(script.num_frames))
    if plan.draft_frames is not None:
        with _timed(timings, "draft_s"):
            path = plan.folder / f"{plan.name}.draft.mp4"
            draft = _write_draft(
                script, pipeline, plan.draft_frames, settings, path, report, threads.encoder,
                meter=meter if whole else None,
            )
    if plan.plot:
        assert meter is not None
        with _timed(timings, "plot_s"):
            report(PreviewProgress("plot", 0, 1))
            if not whole:
                for batch in pipeline.frames(0, script.num_frames):
                    meter.add(batch)
            data = dataclasses.replace(track_plot_data(script, pipeline), image_speed=meter.speeds)
            plot = plot_tracks(data, plan.folder / f"{plan.name}.tracks.png")
            report(PreviewProgress("plot", 1, 1))
    return sheet, plot, draft


@contextlib.contextmanager
def _timed(timings: dict[str, float], name: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    timings[name] = time.perf_counter() - start


def track_plot_data(script: Script, pipeline: FramePipeline) -> TrackPlotData:
    """The per-frame tracks of the whole video, as the track plot draws them."""
    tracks, speed = _sampled_tracks(pipeline, span=512)
    return TrackPlotData(
        time=tracks.time,
        psi=tracks.psi,
        latent_speed=speed,
        key_times=[float(f) / script.fps for f in pipeline.timeline.key_frames],
        key_labels=[f"#{k.index}" for k in script.keyframes],
        truncation_cutoff=tracks.truncation_cutoff,
        num_ws=pipeline.G.num_ws,
        blend=tracks.blend,
        blend_resolutions=pipeline.timeline.blend_resolutions,
        bpm=None if script.beat_times else script.bpm,
        title=(script.file.name if script.file else "") + f" ({script.num_frames} frames at {script.fps:g} fps)",
        audio=[(f"#{r.index} {r.target}: {r.feature}", tracks.tracks[reaction_track_name(r.index, r.target)])
               for r in script.reactions if r.target != "chroma"],
        beat_times=script.beat_times,
        camera=camera_curves(tracks.tracks),
    )


# The camera's tracks (renderer.plan.camera's window, StyleGAN3's input transform) and their curves' labels.
CAMERA_CURVES = {
    "zoom": ("zoom",), "pan": ("pan x", "pan y"), "translate": ("translate x", "translate y"), "rotate": ("rotate (deg)",),
}


def camera_curves(tracks: Mapping[str, NDArray[Any]]) -> list[tuple[str, NDArray[np.float64]]]:
    """The camera's per-frame tracks as labelled curves for the plot (none when the camera is still)."""
    curves: list[tuple[str, NDArray[np.float64]]] = []
    for name, labels in CAMERA_CURVES.items():
        if name not in tracks:
            continue
        values = np.asarray(tracks[name], dtype=np.float64).reshape(len(tracks[name]), -1)
        curves += [(label, values[:, i]) for i, label in enumerate(labels)]
    if all(np.ptp(v) == 0 for _, v in curves):
        return []  # a fixed frame: nothing moves, no panel
    return curves


def _write_sheet(
    script: Script, pipeline: FramePipeline, between: int, path: Path, report: PreviewProgressFn
) -> Path:
    tiles_at = sheet_frames(script, between, pipeline.timeline.key_frames)
    indices = np.unique([f for f, _ in tiles_at])  # increasing: a loop's last in-betweens wrap around
    report(PreviewProgress("sheet", 0, len(indices)))
    rendered: list[NDArray[np.uint8]] = []
    psis: list[float] = []
    for tracks, batch in pipeline.sampled_frames(indices):
        rendered += list(batch)
        psis += (tracks.psi if tracks.psi.ndim == 1 else tracks.psi.mean(axis=1)).tolist()  # per layer: the mean
        report(PreviewProgress("sheet", len(rendered), len(indices)))
    by_frame = dict(zip(indices.tolist(), rendered, strict=True))
    psi_at = dict(zip(indices.tolist(), psis, strict=True))
    tiles = [by_frame[f] for f, _ in tiles_at]
    blends = script.keyframe_blends()
    captions = []
    for frame, key in tiles_at:
        psi = psi_at[frame]
        beat = script.beat(frame)
        when = f"{format_clock(frame / script.fps)}  f{frame}" + (f"  b{round(beat, 2):g}" if beat is not None else "")
        if key is None:
            captions.append([when, f"psi {psi:.2f}"])
            continue
        keyframe = script.keyframes[key]
        last = f"psi {psi:.2f}" + (f"  blend {describe_blend(blends[key])}" if blends else "")
        captions.append([f"#{key}  {when}", keyframe.describe_source(), last])
    # Whole segments per row (a keyframe and its in-betweens), about six square tiles wide: fewer
    # wide tiles, more tall ones (the frames have the script's aspect).
    height, width = tiles[0].shape[:2]
    per_row = max(1, min(2 * SHEET_COLUMNS, round(SHEET_COLUMNS * height / width)))
    columns = min(len(tiles), (between + 1) * max(1, per_row // (between + 1)))
    sheet = contact_sheet(tiles, captions, columns=columns, highlight=[key is not None for _, key in tiles_at])
    return write_png(sheet, path)


def _write_draft(
    script: Script, pipeline: FramePipeline, frames: NDArray[np.int64], settings: PreviewSettings, path: Path,
    report: PreviewProgressFn, encoder_threads: int | None, meter: ImageSpeedMeter | None = None,
) -> Path:
    encoder = dataclasses.replace(
        encoder_settings(script.output), codec="h264", crf=settings.crf, preset=settings.preset, even_size="pad",
        threads=encoder_threads,
    )
    fps = script.fps / settings.every
    segment = path.with_name(f".{path.stem}.segment.mp4")
    report(PreviewProgress("draft", 0, len(frames)))
    done = 0
    try:
        with open_segment(segment, kind="mp4", width=pipeline.size[0], height=pipeline.size[1], fps=fps, settings=encoder) as writer:
            every_frame = settings.every == 1  # consecutive frames: temporal smoothing applies too
            batches = pipeline.frames(int(frames[0]), int(frames[-1]) + 1) if every_frame else pipeline.frames_at(frames)
            for batch in batches:
                writer.write(batch)
                if meter is not None:
                    meter.add(batch)
                done += len(batch)
                report(PreviewProgress("draft", done, len(frames)))
        offset = script.output.audio_offset + frames[0] / script.fps
        title = f"{script.file.stem if script.file else 'draft'} (draft)"
        options = JoinOptions(fps, encoder, script.output.audio, offset, len(frames) / fps, {"title": title})
        output_writer("mp4").join([segment], path, options)
    finally:
        segment.unlink(missing_ok=True)
    return path


__all__ = [
    "PreviewProgress",
    "PreviewResult",
    "PreviewSettings",
    "default_resolution",
    "draft_frames",
    "latent_speed",
    "preview",
    "sheet_frames",
    "track_plot_data",
]
