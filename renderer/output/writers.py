"""Output kind -> its writer, and the functions that dispatch on the kind.

Streamed uint8 frames are written in segments (so a long render can stop and resume), and
`join_segments` turns the segments into the output: MP4/WebM by stream copy (plus audio and
metadata), GIF with a palette made from every frame, PNG frames moved into their folder.
Every file appears under its final name only once it is complete (renderer.output.files).

A new output kind is an `OutputWriter` (renderer.output.kind) in a module of its own and one
entry in WRITERS.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from renderer.output.encoded import FfmpegOutput
from renderer.output.frames_folder import FramesFolderWriter
from renderer.output.gif import GifWriter
from renderer.output.kind import JoinOptions, OutputWriter, SegmentWriter
from renderer.output.video import VideoWriter
from renderer.plan.encoding import EncoderSettings, OutputKind, PixelLayout

WRITERS: dict[OutputKind, OutputWriter] = {
    "mp4": VideoWriter("mp4"),
    "webm": VideoWriter("webm"),
    "gif": GifWriter(),
    "png": FramesFolderWriter(),
}


def output_writer(kind: OutputKind) -> OutputWriter:
    """The writer of an output kind (see renderer.plan.encoding.output_kind)."""
    try:
        return WRITERS[kind]
    except KeyError:
        raise ValueError(f"no writer for output kind {kind!r}; kinds: {', '.join(WRITERS)}") from None


def open_segment(
    path: Path,
    *,
    kind: OutputKind,
    width: int,
    height: int,
    fps: float,
    settings: EncoderSettings,
    first_frame: int = 0,
    layout: PixelLayout = "rgb24",
) -> SegmentWriter:
    """Start writing one segment of an output of this kind; its file appears only on close() after success.

    Args:
        path: the segment's file; for "png" a folder, where each frame is its own file
            frame{first_frame + i:06d}.png, written as it arrives
        width, height: pixels of the frames to write (the video may be padded to the codec's needs)
        fps: frames per second
        first_frame: index in the whole video of the segment's first frame
        layout: how the frames come: "rgb24" [n, H, W, 3], or "yuv420p" planes where the kind's
            frame_layout gives it (renderer.plan.encoding.frame_shape)
    """
    return output_writer(kind).open_segment(
        Path(path), width=width, height=height, fps=fps, settings=settings, first_frame=first_frame, layout=layout
    )


def join_segments(
    segments: Sequence[Path],
    output: Path,
    *,
    kind: OutputKind,
    fps: float,
    settings: EncoderSettings,
    audio: Path | None = None,
    audio_offset: float = 0.0,
    duration: float | None = None,
    metadata: Mapping[str, str] | None = None,
) -> Path:
    """Join finished segments into output (atomically), adding audio and metadata; returns output.

    Args:
        segments: files (for "png", folders) written by open_segment for this kind, in playback order
        output: the final file, or for "png" the frame folder
        the rest: as JoinOptions
    """
    options = JoinOptions(fps, settings, audio, audio_offset, duration, metadata)
    return output_writer(kind).join(segments, Path(output), options)


def resolve_codec(settings: EncoderSettings, kind: OutputKind) -> list[str]:
    """ffmpeg output arguments for the video stream of one segment of an output of this kind."""
    writer = output_writer(kind)
    return writer.codec_args(settings) if isinstance(writer, FfmpegOutput) else []


__all__ = [
    "WRITERS", "OutputWriter", "SegmentWriter", "join_segments", "open_segment", "output_writer",
    "resolve_codec",
]
