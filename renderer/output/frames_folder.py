"""A folder of numbered PNG frames, written straight into the output as they come; no ffmpeg."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from renderer.errors import EncoderError
from renderer.output.ffmpeg import ffmpeg_rate
from renderer.output.files import atomic_path, make_folder
from renderer.output.kind import JoinOptions, SegmentWriter
from renderer.plan.encoding import EncoderSettings, OutputKind

FRAME_NAME = "frame{:06d}.png"  # numbered by the frame's index in the whole video
FRAME_GLOB = "frame[0-9][0-9][0-9][0-9][0-9][0-9].png"


class FramesFolderWriter:
    """PNG frames in a folder (an OutputWriter): every segment writes into the output itself."""

    kind: OutputKind = "png"
    segment_suffix = ""
    in_place = True

    def encoded_size(self, width: int, height: int, settings: EncoderSettings) -> tuple[int, int]:
        return width, height

    def open_segment(
        self, path: Path, *, width: int, height: int, fps: float, settings: EncoderSettings, first_frame: int = 0
    ) -> SegmentWriter:
        return FramesFolderSegmentWriter(path, width=width, height=height, fps=fps, first_frame=first_frame)

    def join(self, segments: Sequence[Path], output: Path, options: JoinOptions) -> Path:
        """Nothing to join: the segments already filled the folder; checks that it is there."""
        output = Path(output)
        if not output.is_dir():
            raise EncoderError(f"frame folder {output} does not exist")
        return output

    def remove_stale(self, output: Path) -> None:
        """Delete the frames of an earlier render, which would outlive a shorter one."""
        if output.is_dir():
            for old in output.glob(FRAME_GLOB):
                old.unlink()


class FramesFolderSegmentWriter(SegmentWriter):
    """Frames first_frame, first_frame + 1, ... of a video, each its own PNG in the folder path, written
    as they arrive; abort() keeps the frames already written (each is complete)."""

    def __init__(self, path: Path, *, width: int, height: int, fps: float, first_frame: int = 0) -> None:
        super().__init__(path, width=width, height=height, first_frame=first_frame)
        ffmpeg_rate(fps)  # the frames carry no rate, but a bad one is still the caller's mistake
        make_folder(self.path, error=EncoderError)

    def _write(self, batch: np.ndarray) -> None:
        for i, frame in enumerate(batch):
            with atomic_path(self.path / FRAME_NAME.format(self.first_frame + self.frames_written + i), error=EncoderError) as tmp:
                Image.fromarray(frame).save(tmp, format="PNG")  # not frames.images.save_png: that module needs torch

    def _finish(self) -> None:
        pass

    def _discard(self) -> None:
        pass


__all__ = ["FRAME_NAME", "FramesFolderSegmentWriter", "FramesFolderWriter"]
