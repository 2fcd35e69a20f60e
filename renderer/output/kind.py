"""The interface of an output kind: `OutputWriter` opens segments and joins them; `SegmentWriter` takes frames.

A render cuts the video into segments. Each segment's frames go to a `SegmentWriter` that the
output kind opens; once every segment is complete, the kind joins them into the output. Adding
an output kind is a module with an `OutputWriter` and one entry in renderer.output.writers.WRITERS.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal, Protocol

import numpy as np

from renderer.plan.encoding import EncoderSettings, OutputKind, PixelLayout, frame_shape


@dataclasses.dataclass(frozen=True)
class JoinOptions:
    """How segments are joined into an output: the same for every kind, each using what applies.

    Args:
        fps: frames per second of the segments (the segments carry their own timestamps)
        settings: the encoder settings the segments were written with
        audio: any file ffmpeg reads with an audio stream; ignored for GIF and PNG
        audio_offset: seconds into the audio where the video starts; negative delays the audio instead
        duration: seconds of video (num_frames / fps); output is cut to it, and a join that yields fewer
            frames (a segment ffmpeg could not read) fails
        metadata: container tags such as title and comment (not stored in GIFs)
    """

    fps: float
    settings: EncoderSettings
    audio: Path | None = None
    audio_offset: float = 0.0
    duration: float | None = None
    metadata: Mapping[str, str] | None = None


class SegmentWriter(abc.ABC):
    """One segment of an output: frames in playback order; complete under its final name after close().

    abort() (or leaving a `with` block by an exception) stops it and leaves nothing unfinished behind.
    Frames arrive in the writer's `layout` (renderer.plan.encoding.frame_shape): RGB, or for a
    yuv420p encoder planar YUV 4:2:0 made where the frames were generated.
    """

    def __init__(
        self, path: Path, *, width: int, height: int, first_frame: int = 0, layout: PixelLayout = "rgb24"
    ) -> None:
        if width <= 0 or height <= 0:
            raise ValueError(f"frame size must be positive, not {width}x{height}")
        self.path = Path(path)
        self.width = width  # pixels of the frames given to write()
        self.height = height
        self.first_frame = first_frame  # index in the whole video of this segment's first frame
        self.layout: PixelLayout = layout
        self.frame_shape = frame_shape(layout, width, height)
        self.frames_written = 0
        self.cpu_seconds: float | None = None  # the encoder's CPU time, once closed, where it is known
        self._state: Literal["open", "closed", "aborted"] = "open"

    def write(self, frames: np.ndarray) -> None:
        """Append frames: uint8 [n, *frame_shape] or one [*frame_shape]; for RGB [n, H, W, 3], H and W
        as given to the constructor."""
        expected = self.frame_shape
        batch = frames[None] if frames.ndim == len(expected) else frames
        if batch.ndim != len(expected) + 1 or batch.shape[1:] != expected or batch.dtype != np.uint8:
            shape = ", ".join(map(str, expected))
            raise ValueError(f"frames must be uint8 [n, {shape}], got {frames.dtype} {frames.shape}")
        if self._state != "open":
            raise ValueError(f"segment {self.path.name} is {self._state}")
        self._write(batch)
        self.frames_written += len(batch)

    def close(self) -> Path:
        """Finish the segment under its final name; returns path; EncoderError when that fails."""
        if self._state == "closed":
            return self.path
        if self._state == "aborted":
            raise ValueError(f"segment {self.path.name} was aborted")
        self._finish()
        self._state = "closed"
        return self.path

    def abort(self) -> None:
        """Stop, and delete what is unfinished; does nothing once closed or aborted."""
        if self._state != "open":
            return
        self._state = "aborted"
        self._discard()

    @abc.abstractmethod
    def _write(self, batch: np.ndarray) -> None:
        """Append a checked uint8 [n, *frame_shape] batch."""

    @abc.abstractmethod
    def _finish(self) -> None:
        """Complete the segment; on failure, abort() and raise EncoderError."""

    @abc.abstractmethod
    def _discard(self) -> None:
        """Stop writing and delete the unfinished part."""

    def __enter__(self) -> SegmentWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


class OutputWriter(Protocol):
    """How one kind of output is written: segment by segment, then joined into the output."""

    kind: OutputKind
    segment_suffix: str  # ending of a segment's name ("" for a folder of frames)

    def encoded_size(self, width: int, height: int, settings: EncoderSettings) -> tuple[int, int]:
        """(width, height) in pixels of the output for frames of this size (padding, or a UsageError)."""
        ...

    def frame_layout(self, width: int, height: int, settings: EncoderSettings) -> PixelLayout:
        """The layout its segments take frames of this size in: "yuv420p" when the encoder takes
        exactly that, "rgb24" otherwise."""
        ...

    def open_segment(
        self, path: Path, *, width: int, height: int, fps: float, settings: EncoderSettings, first_frame: int = 0,
        layout: PixelLayout = "rgb24",
    ) -> SegmentWriter:
        """Start writing a segment to path, in the render's work folder, taking frames in `layout`
        (one that frame_layout gives, or "rgb24")."""
        ...

    def join(self, segments: Sequence[Path], output: Path, options: JoinOptions) -> Path:
        """Join the finished segments, in playback order, into output; returns output. Until the join
        the output is as an earlier render left it, whatever happens to the render."""
        ...


__all__ = ["OutputWriter", "SegmentWriter"]
