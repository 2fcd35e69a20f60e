"""Streamed uint8 frames -> video segments through the bundled ffmpeg -> one finished output file.

Frames are encoded in segments (so a long render can stop and resume), and `join_segments` turns the
segments into the output: MP4/WebM by stream copy (plus audio and metadata), GIF with a palette made
from every frame, PNG frames written straight into a folder. Every file appears under its final name
only once it is complete (renderer.output.files), and missing output folders are created.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
import re
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from fractions import Fraction
from pathlib import Path
from typing import IO, Literal, NoReturn

import imageio_ffmpeg
import numpy as np
from PIL import Image

from renderer.errors import EncoderError, UsageError
from renderer.output.files import PendingFile, atomic_path, make_folder
from renderer.plan.encoding import (
    NVENC_PRESETS,
    EncoderSettings,
    OutputKind,
)

FFMPEG_ENCODERS = {
    "h264": "libx264", "h265": "libx265", "h264-nvenc": "h264_nvenc", "h265-nvenc": "hevc_nvenc",
}
# Keys the MP4 muxer stores as ordinary iTunes-style tags; anything else is dropped unless the file
# switches to QuickTime "mdta" keys (+use_metadata_tags), which fewer players read.
MP4_STANDARD_TAGS = frozenset({
    "title", "artist", "album_artist", "album", "date", "comment", "genre", "copyright", "grouping",
    "lyrics", "description", "synopsis", "show", "episode_id", "network", "composer", "keywords", "encoder",
})
FRAME_NAME = "frame{:06d}.png"
SEGMENT_MUXERS: dict[OutputKind, str] = {"mp4": "mp4", "webm": "webm", "gif": "matroska"}
SEGMENT_SUFFIXES: dict[OutputKind, str] = {"mp4": ".mp4", "webm": ".webm", "gif": ".mkv"}  # names to match


@functools.cache
def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary that imageio-ffmpeg ships."""
    return imageio_ffmpeg.get_ffmpeg_exe()


@functools.cache
def available_encoders() -> frozenset[str]:
    """Names of the encoders this ffmpeg lists (`ffmpeg -encoders`); listed is not the same as usable."""
    listing = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", "-encoders"], capture_output=True, text=True, check=False
    ).stdout
    return frozenset(m.group(1) for m in re.finditer(r"^\s*[VAS][A-Z.]{5}\s+(\S+)", listing, re.MULTILINE))


def resolve_codec(settings: EncoderSettings, kind: OutputKind) -> list[str]:
    """ffmpeg output arguments for the video stream of one segment of an output of this kind."""
    if kind == "png":
        return []
    if kind == "gif":
        # Lossless intermediate: the GIF palette is built from all frames in the final pass.
        return ["-c:v", "ffv1", "-pix_fmt", "bgr0"]
    threads = ["-threads", str(settings.threads)] if settings.threads else []
    if kind == "webm":
        return [
            "-c:v", "libvpx-vp9", "-crf", str(settings.crf), "-b:v", "0", "-pix_fmt", settings.pix_fmt,
            "-row-mt", "1", "-deadline", "good", "-cpu-used", "4", *threads,
        ]
    if settings.codec == "vp9":
        raise UsageError("codec vp9 needs a .webm output; use .webm or codec h264/h265 for .mp4")
    encoder = FFMPEG_ENCODERS[settings.codec]
    if encoder not in available_encoders():
        raise EncoderError(
            f"{encoder} is not available in this ffmpeg ({ffmpeg_exe()}); use codec h264 or h265"
        )
    args = ["-c:v", encoder]
    if settings.codec.endswith("-nvenc"):
        nvenc_preset = NVENC_PRESETS[settings.preset]
        args += ["-preset", nvenc_preset, "-rc", "vbr", "-cq", str(settings.crf), "-b:v", "0"]
    else:
        args += ["-preset", settings.preset, "-crf", str(settings.crf), *threads]
    if settings.codec == "h265":
        args += ["-x265-params", "log-level=error"]
    if settings.codec.startswith("h265"):
        args += ["-tag:v", "hvc1"]  # Apple players refuse the default hev1 tag
    return [*args, "-pix_fmt", settings.pix_fmt]


def chroma_step(pix_fmt: str) -> tuple[int, int]:
    """(x, y) multiples that width and height must be for this pixel format's chroma subsampling."""
    if pix_fmt.startswith(("yuv420", "yuvj420", "yuva420", "nv12", "nv21", "p010", "p016")):
        return 2, 2
    if pix_fmt.startswith(("yuv422", "yuvj422", "yuva422", "nv16")):
        return 2, 1
    if pix_fmt.startswith("yuv411"):
        return 4, 1
    return 1, 1


def encoded_size(width: int, height: int, *, kind: OutputKind, settings: EncoderSettings) -> tuple[int, int]:
    """(width, height) in pixels that the video will have: padded when needed and allowed, else an error."""
    step_x, step_y = chroma_step(settings.pix_fmt) if kind in ("mp4", "webm") else (1, 1)
    padded = (width + (-width % step_x), height + (-height % step_y))
    if padded != (width, height) and settings.even_size == "error":
        raise UsageError(
            f"{width}x{height} frames cannot be encoded as {settings.pix_fmt}: it needs a width that is a "
            f"multiple of {step_x} and a height that is a multiple of {step_y}; "
            "render an even size or use even_size='pad' (adds black rows/columns, no rescale)"
        )
    return padded


def ffmpeg_rate(fps: float) -> str:
    """fps as the rational ffmpeg wants: "30000/1001" for NTSC rates (29.97...), else the nearest fraction."""
    if not math.isfinite(fps) or fps <= 0:
        raise ValueError(f"fps must be a positive number, not {fps!r}")
    if fps == round(fps):
        return str(round(fps))
    ntsc = round(fps * 1.001)
    if abs(fps - ntsc / 1.001) < 5e-4:
        return f"{ntsc * 1000}/1001"
    rate = Fraction(fps).limit_denominator(1001)
    return f"{rate.numerator}/{rate.denominator}"


# Lines ffmpeg prints after the real error as the failure spreads through its threads; they only
# repeat that something failed.
_CASCADE = re.compile(
    r"Task finished with error code|Terminating thread with return code|Error sending frames to consumers"
    r"|Could not open encoder before EOF|Nothing was written into output file|^Conversion failed!"
    r"|Error while opening encoder|^Press \[q\]|^\s*(frame|size)=|To ignore this, add a trailing"
    r"|Error parsing options for|Error opening (output|input) files?|At least one output file must be",
)


def ffmpeg_tail(text: str, lines: int = 3) -> str:
    """The last meaningful lines of ffmpeg's stderr on one line, joined with " | "."""
    kept: list[str] = []
    for raw in re.split(r"[\r\n]+", text):
        line = re.sub(r" @ 0x[0-9a-fA-F]+\]", "]", raw.strip())
        if line and not _CASCADE.search(line) and (not kept or kept[-1] != line):
            kept.append(line)
    return " | ".join(kept[-lines:]) if kept else "(ffmpeg printed nothing)"


def read_text(stream: IO[bytes]) -> str:
    """All of a temporary stderr file as text."""
    stream.flush()
    stream.seek(0)
    return stream.read().decode("utf-8", errors="replace")


def run_ffmpeg(args: Sequence[str], *, what: str, loglevel: str = "error") -> str:
    """Run ffmpeg to the end; returns its stderr; raises EncoderError("what: tail") when it fails."""
    # stderr goes to a file, never an unread pipe: a full pipe would block ffmpeg forever.
    with tempfile.TemporaryFile() as err:
        try:
            done = subprocess.run(
                [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", loglevel, *args],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, check=False,
                start_new_session=True,  # as in SegmentWriter: on Ctrl-C, run() kills it
            )
        except OSError as e:
            raise EncoderError(f"{what}: cannot start ffmpeg ({e.strerror})") from None
        text = read_text(err)
    if done.returncode != 0:
        raise EncoderError(f"{what}: {ffmpeg_tail(text)}")
    return text


def save_png_atomic(pixels: np.ndarray, path: Path) -> None:
    """Write one uint8 [H, W, 3] frame as PNG under a temporary name, then rename it to path."""
    with atomic_path(path, error=EncoderError) as tmp:
        Image.fromarray(pixels).save(tmp, format="PNG")  # not images.save_png: that module needs torch


class SegmentWriter:
    """Encodes one segment of frames into a file; it appears (atomic rename) only on close() after success.

    For kind "png", path is a folder and each frame is its own file frame{first_frame + i:06d}.png, written
    as it arrives; abort() keeps the frames already written (each is complete).
    """

    def __init__(
        self,
        path: Path,
        *,
        kind: OutputKind,
        width: int,
        height: int,
        fps: float,
        settings: EncoderSettings,
        first_frame: int = 0,
    ) -> None:
        if width <= 0 or height <= 0:
            raise ValueError(f"frame size must be positive, not {width}x{height}")
        self.path = Path(path)
        self.kind = kind
        self.width = width
        self.height = height
        self.first_frame = first_frame
        self.frames_written = 0
        self._state: Literal["open", "closed", "aborted"] = "open"
        self._process: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._file: PendingFile | None = None
        rate = ffmpeg_rate(fps)
        if kind == "png":
            make_folder(self.path, error=EncoderError)
            return
        out_width, out_height = encoded_size(width, height, kind=kind, settings=settings)
        codec_args = resolve_codec(settings, kind)
        padded = (out_width, out_height) != (width, height)
        pad = ["-vf", f"pad={out_width}:{out_height}:0:0:black"] if padded else []
        self._file = PendingFile(self.path, error=EncoderError)  # creates the folder, or a clear error
        command = [
            ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostats", "-y",
            "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", rate, "-i", "-",
            *pad, "-an", *codec_args, "-f", SEGMENT_MUXERS[kind], str(self._file.tmp),
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

    def write(self, frames: np.ndarray) -> None:
        """Append frames: uint8 [n, H, W, 3] or one [H, W, 3], H and W as given to the constructor."""
        batch = frames[None] if frames.ndim == 3 else frames
        expected = (self.height, self.width, 3)
        if batch.ndim != 4 or batch.shape[1:] != expected or batch.dtype != np.uint8:
            shape = ", ".join(map(str, expected))
            raise ValueError(f"frames must be uint8 [n, {shape}], got {frames.dtype} {frames.shape}")
        if self._state != "open":
            raise ValueError(f"segment {self.path.name} is {self._state}")
        if self.kind == "png":
            for frame in batch:
                save_png_atomic(frame, self.path / FRAME_NAME.format(self.first_frame + self.frames_written))
                self.frames_written += 1
            return
        assert self._process is not None and self._process.stdin is not None
        try:
            self._process.stdin.write(np.ascontiguousarray(batch).reshape(-1).data)
        except OSError:  # BrokenPipeError: ffmpeg exited, and its stderr says why
            self._fail("ffmpeg stopped while encoding")
        self.frames_written += len(batch)

    def close(self) -> Path:
        """Finish the segment and give it its final name; returns path; EncoderError if ffmpeg failed."""
        if self._state == "closed":
            return self.path
        if self._state == "aborted":
            raise ValueError(f"segment {self.path.name} was aborted")
        if self.kind == "png":
            self._state = "closed"
            return self.path
        assert self._process is not None and self._process.stdin is not None and self._file is not None
        if self.frames_written == 0:
            self.abort()
            raise EncoderError(f"no frames were written to segment {self.path.name}")
        with contextlib.suppress(OSError):  # ffmpeg already exited; its exit code and stderr tell why
            self._process.stdin.close()
        if self._process.wait() != 0:
            self._fail(f"ffmpeg failed (exit {self._process.returncode}) encoding")
        try:
            self._file.commit()
        except EncoderError:
            self.abort()
            raise
        self._state = "closed"
        self._release()
        return self.path

    def abort(self) -> None:
        """Stop ffmpeg and delete the unfinished file; does nothing once closed or aborted."""
        if self._state != "open":
            return
        self._state = "aborted"
        if self._process is not None:
            if self._process.poll() is None:
                self._process.kill()
            with contextlib.suppress(OSError):  # unflushed frames for a process that is gone
                if self._process.stdin is not None:
                    self._process.stdin.close()
            self._process.wait()
        if self._file is not None:
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

    def __enter__(self) -> SegmentWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


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


def metadata_args(metadata: Mapping[str, str], kind: OutputKind) -> list[str]:
    """-metadata key=value arguments; MP4 switches to mdta tags only when a key is not a standard one."""
    args: list[str] = []
    for key, value in metadata.items():
        if not key or "=" in key or any(c.isspace() for c in key):
            raise UsageError(f"malformed metadata key {key!r}")
        args += ["-metadata", f"{key}={value}"]
    custom = kind == "mp4" and any(key.lower() not in MP4_STANDARD_TAGS for key in metadata)
    if kind == "mp4":
        args += ["-movflags", "+faststart+use_metadata_tags" if custom else "+faststart"]
    return args


def check_input_file(path: Path, what: str) -> None:
    """Raise UsageError (exit 2) when an input file is missing or unreadable."""
    if not path.is_file():
        raise UsageError(f"{what} {path}: no such file")
    try:
        with path.open("rb"):
            pass
    except OSError as e:
        raise UsageError(f"{what} {path}: cannot read ({e.strerror})") from None


def check_audio(path: Path) -> None:
    """UsageError when the audio file is missing; EncoderError when ffmpeg finds no audio stream in it."""
    check_input_file(path, "audio file")
    text = describe(path)
    if re.search(r"^\s*Stream #0:\d+\S*: Audio:", text, re.MULTILINE):
        return
    if re.search(r"^Input #0", text, re.MULTILINE):
        raise EncoderError(f"audio file {path} has no audio stream")
    raise EncoderError(f"ffmpeg cannot read audio file {path}: {ffmpeg_tail(text)}")


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
        segments: files written by SegmentWriter for this kind, in playback order (ignored for "png")
        output: the final file; for "png" the frame folder the segments already filled
        fps: frames per second of the segments (the segments carry their own timestamps)
        audio: any file ffmpeg reads with an audio stream; ignored for GIF
        audio_offset: seconds into the audio where the video starts; negative delays the audio instead
        duration: seconds of video (num_frames / fps); output is cut to it, and a join that yields fewer
            frames (a segment ffmpeg could not read) fails
        metadata: container tags such as title and comment (not stored in GIFs)
    """
    output = Path(output)
    if kind == "png":
        if not output.is_dir():
            raise EncoderError(f"frame folder {output} does not exist")
        return output
    make_folder(output.parent, error=EncoderError)
    if not segments:
        raise ValueError("join_segments needs at least one segment")
    for segment in segments:
        if not Path(segment).is_file():
            raise EncoderError(f"segment {segment} is missing")
    ffmpeg_rate(fps)  # a bad rate is a caller bug
    song = Path(audio) if audio is not None and kind != "gif" else None
    if song is not None:
        check_audio(song)
    meta_args = metadata_args(metadata or {}, kind) if kind != "gif" else []
    cut = ["-t", f"{duration:.6f}"] if duration is not None else []
    with atomic_path(output, error=EncoderError) as tmp:
        with tempfile.TemporaryDirectory(prefix="renderer-join-") as scratch:
            concat = ["-f", "concat", "-safe", "0", "-i", str(concat_list(segments, Path(scratch)))]
            if kind == "gif":
                log = join_gif(concat, tmp, Path(scratch) / "palette.png", cut)
            else:
                args = [*concat, *audio_args(song, audio_offset, kind, settings), "-c:v", "copy", *cut]
                if song is not None and duration is None:
                    args += ["-shortest"]  # less exact with stream copy; callers pass duration
                if kind == "mp4" and settings.codec.startswith("h265"):
                    args += ["-tag:v", "hvc1"]
                args += ["-map_metadata", "-1", *meta_args, "-y", str(tmp)]
                log = run_ffmpeg(args, what=f"ffmpeg failed to write {output.name}")
        if duration is not None:
            check_frame_count(tmp, math.ceil(duration * fps - 1e-6), log, output)
    return output


def audio_args(song: Path | None, offset: float, kind: OutputKind, settings: EncoderSettings) -> list[str]:
    """Stream mapping after the concat input: its video, plus song (input 1) seeked or delayed by offset s."""
    if song is None:
        return ["-map", "0:v:0"]
    seek = ["-ss", f"{offset:.6f}"] if offset > 0 else []
    args = [*seek, "-i", str(song), "-map", "0:v:0", "-map", "1:a:0"]
    if offset < 0:
        # Real leading silence rather than a timestamp offset (-itsoffset), which some players ignore.
        args += ["-af", f"adelay=delays={-offset * 1000:.3f}:all=1"]
    codec = "aac" if kind == "mp4" else "libopus"
    return [*args, "-c:a", codec, "-b:a", settings.audio_bitrate]


def check_frame_count(path: Path, expected: int, log: str, output: Path) -> None:
    """Raise EncoderError when a joined file holds fewer frames than its duration needs."""
    # The concat demuxer skips a segment it cannot open and still exits 0; this catches it.
    found = count_frames(path)
    if found < expected:
        raise EncoderError(
            f"ffmpeg failed to write {output.name}: it holds {found} of {expected} frames: {ffmpeg_tail(log)}"
        )


def join_gif(concat: list[str], tmp: Path, palette: Path, cut: list[str]) -> str:
    """Palette from every frame, then the dithered GIF: two passes over the segments; returns stderr."""
    # Two runs instead of split+palettegen in one graph: that graph holds every decoded frame in
    # memory until the palette is ready, gigabytes for a long 1024x1024 loop.
    run_ffmpeg(
        [*concat, *cut, "-vf", "palettegen=stats_mode=diff", "-frames:v", "1", "-update", "1",
         "-y", str(palette)],
        what=f"ffmpeg failed to build the palette for {tmp.name}",
    )
    return run_ffmpeg(
        [*concat, "-i", str(palette), "-lavfi", "[0:v][1:v]paletteuse=dither=sierra2_4a", *cut,
         "-loop", "0", "-f", "gif", "-y", str(tmp)],
        what=f"ffmpeg failed to write {tmp.name}",
    )


@dataclasses.dataclass(frozen=True)
class MediaInfo:
    """What ffmpeg reports about a media file (see probe)."""

    video_codec: str | None  # "h264", "hevc", "vp9", "gif", ...
    pix_fmt: str | None  # "yuv420p", ...
    width: int  # pixels
    height: int  # pixels
    fps: float  # frames per second (ffmpeg's average rate; approximate for GIF's centisecond delays)
    num_frames: int  # counted by reading every video packet
    duration: float  # seconds, from the container
    audio_codec: str | None  # "aac", "opus", ...; None without an audio stream
    video_tag: str | None  # codec tag such as "avc1" or "hvc1" where the container has one
    metadata: dict[str, str]  # container tags (title, comment, ...)


def split_top_level(text: str) -> list[str]:
    """Split ffmpeg's stream description at commas that are not inside () or []."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    parts.append(text[start:].strip())
    return parts


def rate_value(parts: list[str], unit: str) -> float | None:
    """The number before unit ("29.97 fps", "30k tbr") among stream description parts."""
    for part in parts:
        m = re.fullmatch(rf"(\d+(?:\.\d+)?)(k?) {unit}", part)
        if m:
            return float(m.group(1)) * (1000 if m.group(2) else 1)
    return None


def parse_probe(text: str, path: Path) -> MediaInfo:
    """MediaInfo (num_frames 0) from the stderr of `ffmpeg -i path`."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("Input #0")), None)
    if start is None:
        raise EncoderError(f"ffmpeg cannot read {path}: {ffmpeg_tail(text)}")
    metadata: dict[str, str] = {}
    video: list[str] | None = None
    video_tag = audio_codec = None
    duration = 0.0
    in_metadata, last_key = False, None
    for line in lines[start + 1 :]:
        if not line.startswith(" "):
            break  # the end of Input #0's description
        indent = len(line) - len(line.lstrip(" "))
        body = line.strip()
        if indent == 2:
            in_metadata = body == "Metadata:"
            if m := re.match(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)", body):
                duration = int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3))
            elif (m := re.match(r"Stream #0:\d+\S*: Video: (.*)", body)) and video is None:
                video = split_top_level(m.group(1))
                if tag := re.search(r"\(([^()]+?) / 0x[0-9A-Fa-f]+\)", video[0]):
                    video_tag = tag.group(1)
            elif (m := re.match(r"Stream #0:\d+\S*: Audio: (\w+)", body)) and audio_codec is None:
                audio_codec = m.group(1)
        elif indent == 4 and in_metadata:
            key, _, value = body.partition(":")
            if key.strip():
                last_key = key.strip()
                metadata[last_key] = value.removeprefix(" ")
            elif last_key is not None:  # continuation of a multi-line value
                metadata[last_key] += "\n" + value.lstrip(" ")
    if video is None:
        raise EncoderError(f"{path} has no video stream")
    codec = re.match(r"\w+", video[0])
    pix_fmt = re.match(r"[a-z][a-z0-9_]*", video[1]) if len(video) > 1 else None
    size = next((m for part in video if (m := re.match(r"(\d+)x(\d+)", part))), None)
    # tbr is the rate of the timestamps; "fps" is an average over the track's duration, which a
    # B-frame delay kept by stream-copied segments can lengthen (12 tbr shown as 11.38 fps).
    fps = rate_value(video, "tbr") or rate_value(video, "fps") or 0.0
    return MediaInfo(
        video_codec=codec.group(0) if codec else None,
        pix_fmt=pix_fmt.group(0) if pix_fmt and not re.fullmatch(r"\d+x\d+.*", video[1]) else None,
        width=int(size.group(1)) if size else 0,
        height=int(size.group(2)) if size else 0,
        fps=fps,
        num_frames=0,
        duration=duration,
        audio_codec=audio_codec,
        video_tag=video_tag,
        metadata=metadata,
    )


def describe(path: Path) -> str:
    """ffmpeg's description of an input file (the stderr of `ffmpeg -i path`)."""
    with tempfile.TemporaryFile() as err:
        # No output is given, so ffmpeg exits 1 after describing the input; that is expected.
        subprocess.run(
            [ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, check=False,
        )
        return read_text(err)


def count_frames(path: Path) -> int:
    """Number of video frames in path, counted by stream-copying every packet to the null muxer."""
    text = run_ffmpeg(
        ["-stats", "-i", str(path), "-map", "0:v:0", "-c", "copy", "-f", "null", "-"],
        what=f"ffmpeg cannot read {path}",
        loglevel="info",
    )
    counts = re.findall(r"frame=\s*(\d+)", text)
    if not counts:
        raise EncoderError(f"ffmpeg did not report a frame count for {path}: {ffmpeg_tail(text)}")
    return int(counts[-1])


def probe(path: Path) -> MediaInfo:
    """Codec, size, rate, exact frame count, duration, audio and tags of a media file, as ffmpeg reads it."""
    path = Path(path)
    check_input_file(path, "media file")
    return dataclasses.replace(parse_probe(describe(path), path), num_frames=count_frames(path))


def read_frames(path: Path) -> Iterator[np.ndarray]:
    """Decoded frames of a video file, or of a PNG frame folder, as uint8 [H, W, 3]."""
    path = Path(path)
    if path.is_dir():
        for name in sorted(path.glob("frame*.png")):
            with Image.open(name) as image:
                yield np.asarray(image.convert("RGB"))
        return
    check_input_file(path, "video file")
    frames = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24")
    try:
        meta = next(frames)
        width, height = meta["size"]
        for buffer in frames:
            yield np.frombuffer(buffer, np.uint8).reshape(height, width, 3).copy()
    finally:
        frames.close()
