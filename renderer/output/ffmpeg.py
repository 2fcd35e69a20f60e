"""The bundled ffmpeg (imageio-ffmpeg's binary): run it, read its errors, probe and decode media files.

No output kind lives here: the writers of each kind (renderer.output.video, .gif, .frames_folder)
build their ffmpeg command lines and run them through this module.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from fractions import Fraction
from pathlib import Path
from typing import IO

import imageio_ffmpeg
import numpy as np
from PIL import Image

from renderer.errors import EncoderError, UsageError


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
                start_new_session=True,  # own session, as a segment encoder: on Ctrl-C, subprocess.run kills it
            )
        except OSError as e:
            raise EncoderError(f"{what}: cannot start ffmpeg ({e.strerror})") from None
        text = read_text(err)
    if done.returncode != 0:
        raise EncoderError(f"{what}: {ffmpeg_tail(text)}")
    return text


def check_input_file(path: Path, what: str) -> None:
    """Raise UsageError (exit 2) when an input file is missing or unreadable."""
    if not path.is_file():
        raise UsageError(f"{what} {path}: no such file")
    try:
        with path.open("rb"):
            pass
    except OSError as e:
        raise UsageError(f"{what} {path}: cannot read ({e.strerror})") from None


def _duration(text: str) -> float | None:
    """Seconds of the "Duration: h:mm:ss.ss" that ffmpeg prints for an input; None when absent."""
    m = re.search(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)", text)
    return int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3)) if m else None


def check_audio(path: Path) -> float | None:
    """The audio's duration in seconds (None when ffmpeg reports none); UsageError (bad input) when
    the file is missing, unreadable or has no audio stream."""
    check_input_file(path, "audio file")
    text = describe(path)
    if re.search(r"^\s*Stream #0:\d+\S*: Audio:", text, re.MULTILINE):
        return _duration(text)
    if re.search(r"^Input #0", text, re.MULTILINE):
        raise UsageError(f"audio file {path} has no audio stream")
    raise UsageError(f"ffmpeg cannot read audio file {path}: {ffmpeg_tail(text)}")


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
            if body.startswith("Duration:"):
                duration = _duration(body) or 0.0
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
