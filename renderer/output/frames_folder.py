"""A folder of numbered PNG frames; no ffmpeg.

Each segment's frames are written as they come into a folder of its own in the render's work
folder; the join moves them into the output folder, replacing an earlier render's frames only
then, so an interrupted render leaves the earlier frames as they were.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from renderer.errors import EncoderError
from renderer.output.ffmpeg import ffmpeg_rate
from renderer.output.files import make_folder
from renderer.output.kind import JoinOptions, SegmentWriter
from renderer.plan.encoding import EncoderSettings, OutputKind, PixelLayout

FRAME_NAME = "frame{:06d}.png"  # numbered by the frame's index in the whole video
FRAME_GLOB = "frame[0-9][0-9][0-9][0-9][0-9][0-9].png"


class FramesFolderWriter:
    """PNG frames in a folder (an OutputWriter): each segment is a folder of frames until the join."""

    kind: OutputKind = "png"
    segment_suffix = ""

    def encoded_size(self, width: int, height: int, settings: EncoderSettings) -> tuple[int, int]:
        return width, height

    def frame_layout(self, width: int, height: int, settings: EncoderSettings) -> PixelLayout:
        return "rgb24"  # PNG frames hold the RGB pixels

    def open_segment(
        self, path: Path, *, width: int, height: int, fps: float, settings: EncoderSettings, first_frame: int = 0,
        layout: PixelLayout = "rgb24",
    ) -> SegmentWriter:
        if layout != "rgb24":
            raise ValueError(f"PNG frames are written from rgb24 frames, not {layout}")
        return FramesFolderSegmentWriter(path, width=width, height=height, fps=fps, first_frame=first_frame)

    def join(self, segments: Sequence[Path], output: Path, options: JoinOptions) -> Path:
        """The segments' frames moved into the output folder (made if missing), in place of the
        frames an earlier render left there; other files in the folder are left alone."""
        output = make_folder(output, error=EncoderError)
        frames = [frame for segment in segments for frame in sorted(Path(segment).glob(FRAME_GLOB))]
        new = {frame.name for frame in frames}
        try:
            for old in output.glob(FRAME_GLOB):
                if old.name not in new:  # an earlier, longer render's frame
                    old.unlink()
            for frame in frames:
                os.replace(frame, output / frame.name)  # a segment written into the output stays put
        except OSError as e:
            raise EncoderError(f"cannot write frames into {output}: {e.strerror or e}") from None
        return output


class FramesFolderSegmentWriter(SegmentWriter):
    """Frames first_frame, first_frame + 1, ... of a video, each its own PNG in the folder path, written
    as they arrive. The folder is a segment in the render's work folder, recorded in the journal
    only once closed, so a frame needs no temporary name of its own."""

    def __init__(self, path: Path, *, width: int, height: int, fps: float, first_frame: int = 0) -> None:
        super().__init__(path, width=width, height=height, first_frame=first_frame)
        ffmpeg_rate(fps)  # the frames carry no rate, but a bad one is still the caller's mistake
        make_folder(self.path, error=EncoderError)

    def _write(self, batch: np.ndarray) -> None:
        for i, frame in enumerate(batch):
            path = self.path / FRAME_NAME.format(self.first_frame + self.frames_written + i)
            try:
                Image.fromarray(frame).save(path, format="PNG")  # not frames.images.save_png: that module needs torch
            except OSError as e:
                raise EncoderError(f"cannot write {path}: {e.strerror or e}") from None

    def _finish(self) -> None:
        pass

    def _discard(self) -> None:
        pass


__all__ = ["FRAME_NAME", "FramesFolderSegmentWriter", "FramesFolderWriter"]
