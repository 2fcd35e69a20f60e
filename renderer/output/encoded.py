"""Output kinds that ffmpeg encodes: frames piped into one ffmpeg process per segment, segments joined
with ffmpeg's concat demuxer.

Frames arrive as raw RGB, or, where the kind's frame_layout says so, as planar YUV 4:2:0 already
converted where they were generated (renderer.frames.yuv): ffmpeg then reads rawvideo yuv420p,
half the bytes, and runs no scaler of its own.

`FfmpegOutput` is the base of those kinds (renderer.output.video, renderer.output.gif): a kind
gives its codec arguments, segment muxer and join; opening segments is shared.
"""

from __future__ import annotations

import abc
import contextlib
import math
import os
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, NoReturn

import numpy as np

from renderer.errors import EncoderError
from renderer.output.ffmpeg import count_frames, ffmpeg_exe, ffmpeg_rate, ffmpeg_tail, read_text
from renderer.output.files import PendingFile, atomic_path, make_folder
from renderer.output.kind import JoinOptions, SegmentWriter
from renderer.plan.encoding import EncoderSettings, OutputKind, PixelLayout


class FfmpegOutput(abc.ABC):
    """An output kind whose segments ffmpeg encodes from raw frames (an OutputWriter)."""

    kind: OutputKind
    muxer: str  # ffmpeg's muxer for the segments
    segment_suffix: str

    @abc.abstractmethod
    def codec_args(self, settings: EncoderSettings) -> list[str]:
        """ffmpeg output arguments for the video stream of one segment."""

    def encoded_size(self, width: int, height: int, settings: EncoderSettings) -> tuple[int, int]:
        return width, height

    def frame_layout(self, width: int, height: int, settings: EncoderSettings) -> PixelLayout:
        """RGB, unless a kind encodes some sizes straight from YUV (VideoWriter)."""
        return "rgb24"

    def open_segment(
        self, path: Path, *, width: int, height: int, fps: float, settings: EncoderSettings, first_frame: int = 0,
        layout: PixelLayout = "rgb24",
    ) -> SegmentWriter:
        return FfmpegSegmentWriter(
            path, output=self, width=width, height=height, fps=fps, settings=settings, first_frame=first_frame,
            layout=layout,
        )

    @abc.abstractmethod
    def join(self, segments: Sequence[Path], output: Path, options: JoinOptions) -> Path: ...



class FfmpegSegmentWriter(SegmentWriter):
    """Encodes one segment through its own ffmpeg process; the file appears (atomic rename) only on close()."""

    def __init__(
        self,
        path: Path,
        *,
        output: FfmpegOutput,
        width: int,
        height: int,
        fps: float,
        settings: EncoderSettings,
        first_frame: int = 0,
        layout: PixelLayout = "rgb24",
    ) -> None:
        super().__init__(path, width=width, height=height, first_frame=first_frame, layout=layout)
        self._process: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        rate = ffmpeg_rate(fps)
        out_width, out_height = output.encoded_size(width, height, settings)
        codec_args = output.codec_args(settings)
        padded = (out_width, out_height) != (width, height)
        pad = ["-vf", f"pad={out_width}:{out_height}:0:0:black"] if padded else []
        self._file = PendingFile(self.path, error=EncoderError)  # creates the folder, or a clear error
        command = [
            ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostats", "-y",
            "-f", "rawvideo", "-pix_fmt", layout, "-s", f"{width}x{height}", "-r", rate, "-i", "-",
            *pad, "-an", *codec_args, "-f", output.muxer, str(self._file.tmp),
        ]
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the writer; see _release
        try:
            # Own session: a Ctrl-C in the terminal reaches only Python, which then aborts (kills) ffmpeg,
            # instead of ffmpeg racing to finish a truncated file on its own.
            self._process = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._stderr,
                start_new_session=True,
            )
        except OSError as e:
            self._stderr.close()
            raise EncoderError(f"cannot start ffmpeg for {self.path.name}: {e.strerror}") from None

    def _write(self, batch: np.ndarray) -> None:
        assert self._process is not None and self._process.stdin is not None
        try:
            self._process.stdin.write(np.ascontiguousarray(batch).reshape(-1).data)
        except OSError:  # BrokenPipeError: ffmpeg exited, and its stderr says why
            self._fail("ffmpeg stopped while encoding")

    def _finish(self) -> None:
        assert self._process is not None and self._process.stdin is not None
        if self.frames_written == 0:
            self.abort()
            raise EncoderError(f"no frames were written to segment {self.path.name}")
        with contextlib.suppress(OSError):  # ffmpeg already exited; its exit code and stderr tell why
            self._process.stdin.close()
        self.cpu_seconds = exit_cpu_seconds(self._process)
        if self._process.wait() != 0:
            self._fail(f"ffmpeg failed (exit {self._process.returncode}) encoding")
        try:
            self._file.commit()
        except EncoderError:
            self.abort()
            raise
        self._release()

    def _discard(self) -> None:
        """Stop ffmpeg and delete the unfinished file."""
        if self._process is not None:
            if self._process.poll() is None:
                self._process.kill()
            with contextlib.suppress(OSError):  # unflushed frames for a process that is gone
                if self._process.stdin is not None:
                    self._process.stdin.close()
            self._process.wait()
        self._file.discard()
        self._release()

    def _fail(self, what: str) -> NoReturn:
        """Abort and raise EncoderError with what went wrong and ffmpeg's last words."""
        assert self._process is not None and self._stderr is not None
        with contextlib.suppress(subprocess.TimeoutExpired):  # a dead pipe: ffmpeg is exiting, let it finish
            self._process.wait(timeout=10)
        tail = ffmpeg_tail(read_text(self._stderr))
        self.abort()
        raise EncoderError(f"{what} {self.path.name}: {tail}")

    def _release(self) -> None:
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None


def exit_cpu_seconds(process: subprocess.Popen[bytes]) -> float | None:
    """Wait for a child to exit and return the CPU time (user + system, all its threads) it used, as
    the OS accounts it; its exit status is left in process.returncode. None where the OS has no
    wait4 (Windows): then nothing is waited for."""
    if not hasattr(os, "wait4") or process.returncode is not None:
        return None
    try:
        _, status, usage = os.wait4(process.pid, 0)
    except ChildProcessError:  # reaped elsewhere
        return None
    process.returncode = os.waitstatus_to_exitcode(status)  # what Popen.wait() then returns
    return usage.ru_utime + usage.ru_stime


def check_segments(segments: Sequence[Path], output: Path, fps: float) -> None:
    """Before a join: output's folder exists (created), every segment exists, fps is a rate."""
    make_folder(output.parent, error=EncoderError)
    if not segments:
        raise ValueError("join_segments needs at least one segment")
    for segment in segments:
        if not Path(segment).is_file():
            raise EncoderError(f"segment {segment} is missing")
    ffmpeg_rate(fps)  # a bad rate is a caller bug


def concat_list(segments: Sequence[Path], folder: Path) -> Path:
    """Write an ffmpeg concat-demuxer list of segments into folder; returns its path."""
    lines = []
    for segment in segments:
        name = str(Path(segment).resolve())
        if "\n" in name or "\r" in name:
            raise EncoderError(f"cannot join a segment whose path contains a line break: {name!r}")
        # Inside single quotes only the quote itself is special: close, escape it, reopen.
        lines.append("file '" + name.replace("'", "'\\''") + "'\n")
    listing = folder / "segments.txt"
    listing.write_text("".join(lines), encoding="utf-8")
    return listing


JoinFn = Callable[[list[str], Path, Path], str]  # (concat input arguments, temporary output, scratch folder) -> stderr


def concat_join(segments: Sequence[Path], output: Path, *, fps: float, duration: float | None, encode: JoinFn) -> Path:
    """Run encode on the segments as one concat input into a temporary file, renamed onto output when
    it holds every frame of `duration` seconds (when given); returns output."""
    with atomic_path(output, error=EncoderError) as tmp:
        with tempfile.TemporaryDirectory(prefix="renderer-join-") as scratch:
            concat = ["-f", "concat", "-safe", "0", "-i", str(concat_list(segments, Path(scratch)))]
            log = encode(concat, tmp, Path(scratch))
        if duration is not None:
            check_frame_count(tmp, math.ceil(duration * fps - 1e-6), log, output)
    return output


def check_frame_count(path: Path, expected: int, log: str, output: Path) -> None:
    """Raise EncoderError when a joined file holds fewer frames than its duration needs."""
    # The concat demuxer skips a segment it cannot open and still exits 0; this catches it.
    found = count_frames(path)
    if found < expected:
        raise EncoderError(
            f"ffmpeg failed to write {output.name}: it holds {found} of {expected} frames: {ffmpeg_tail(log)}"
        )


__all__ = ["FfmpegOutput", "FfmpegSegmentWriter", "check_segments", "concat_join", "concat_list", "exit_cpu_seconds"]
