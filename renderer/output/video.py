"""MP4 (H.264 / H.265, software or NVENC) and WebM (VP9): segments encoded in the final codec, joined by
stream copy with the audio and the container tags."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

from renderer.errors import EncoderError, UsageError
from renderer.output import ffmpeg
from renderer.output.encoded import FfmpegOutput, check_segments, concat_join
from renderer.output.ffmpeg import check_audio, run_ffmpeg
from renderer.output.kind import JoinOptions
from renderer.plan.encoding import (
    NVENC_PRESETS,
    YUV420P_MIN_HEIGHT,
    EncoderSettings,
    OutputKind,
    PixelLayout,
    chroma_step,
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


class VideoWriter(FfmpegOutput):
    """An MP4 or a WebM file (an OutputWriter)."""

    def __init__(self, kind: Literal["mp4", "webm"]) -> None:
        self.kind = kind
        self.muxer = kind
        self.segment_suffix = f".{kind}"

    def frame_layout(self, width: int, height: int, settings: EncoderSettings) -> PixelLayout:
        """yuv420p for a yuv420p encode of an even size that needs no padding (and is at least
        YUV420P_MIN_HEIGHT rows); RGB otherwise, which ffmpeg converts and pads."""
        fits = settings.pix_fmt == "yuv420p" and height >= YUV420P_MIN_HEIGHT and width % 2 == 0 and height % 2 == 0
        return "yuv420p" if fits else "rgb24"

    def codec_args(self, settings: EncoderSettings) -> list[str]:
        threads = ["-threads", str(settings.threads)] if settings.threads else []
        if self.kind == "webm":
            return [
                "-c:v", "libvpx-vp9", "-crf", str(settings.crf), "-b:v", "0", "-pix_fmt", settings.pix_fmt,
                "-row-mt", "1", "-deadline", "good", "-cpu-used", "4", *threads,
            ]
        if settings.codec == "vp9":
            raise UsageError("codec vp9 needs a .webm output; use .webm or codec h264/h265 for .mp4")
        encoder = FFMPEG_ENCODERS[settings.codec]
        if encoder not in ffmpeg.available_encoders():
            raise EncoderError(
                f"{encoder} is not available in this ffmpeg ({ffmpeg.ffmpeg_exe()}); use codec h264 or h265"
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

    def encoded_size(self, width: int, height: int, settings: EncoderSettings) -> tuple[int, int]:
        """Padded to the pixel format's chroma subsampling when needed and allowed, else a UsageError."""
        step_x, step_y = chroma_step(settings.pix_fmt)
        padded = (width + (-width % step_x), height + (-height % step_y))
        if padded != (width, height) and settings.even_size != "pad":  # "round" sizes are even by now
            raise UsageError(
                f"{width}x{height} frames cannot be encoded as {settings.pix_fmt}: it needs a width that is a "
                f"multiple of {step_x} and a height that is a multiple of {step_y}; "
                "render an even size or use even_size='pad' (adds black rows/columns, no rescale)"
            )
        return padded

    def join(self, segments: Sequence[Path], output: Path, options: JoinOptions) -> Path:
        """Stream copy of the segments, plus audio (seeked or delayed by audio_offset s) and tags."""
        output = Path(output)
        fps, settings, duration = options.fps, options.settings, options.duration
        check_segments(segments, output, fps)
        song = Path(options.audio) if options.audio is not None else None
        if song is not None:
            check_audio(song)  # again: the file may have changed during a long render
        meta_args = metadata_args(options.metadata or {}, self.kind)
        cut = ["-t", f"{duration:.6f}"] if duration is not None else []

        def encode(concat: list[str], tmp: Path, scratch: Path) -> str:
            args = [*concat, *audio_args(song, options.audio_offset, self.kind, settings), "-c:v", "copy", *cut]
            if song is not None and duration is None:
                args += ["-shortest"]  # less exact with stream copy; callers pass duration
            if self.kind == "mp4" and settings.codec.startswith("h265"):
                args += ["-tag:v", "hvc1"]
            args += ["-map_metadata", "-1", *meta_args, "-y", str(tmp)]
            return run_ffmpeg(args, what=f"ffmpeg failed to write {output.name}")

        return concat_join(segments, output, fps=fps, duration=duration, encode=encode)


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


__all__ = ["VideoWriter", "chroma_step"]
