"""What an output is and how it is encoded, as plain values: output kinds, codecs, encoder settings.

No ffmpeg and no torch here, so a script's [output] table is validated by the same checks that the
encoder applies (renderer.output runs ffmpeg with these settings).
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Literal, get_args

from renderer.errors import UsageError

OutputKind = Literal["mp4", "webm", "gif", "png"]
Codec = Literal["h264", "h265", "h264-nvenc", "h265-nvenc", "vp9"]

SUFFIXES: dict[str, OutputKind] = {
    ".mp4": "mp4", ".mov": "mp4", ".m4v": "mp4", ".webm": "webm", ".gif": "gif",
}
CODECS: tuple[str, ...] = get_args(Codec)
OUTPUT_KINDS: tuple[str, ...] = get_args(OutputKind)
X264_PRESETS = (
    "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo",
)
# NVENC has its own scale (p1 fastest .. p7 best); NVIDIA's default p4 is its "medium".
NVENC_PRESETS = {
    "ultrafast": "p1", "superfast": "p2", "veryfast": "p3", "faster": "p3", "fast": "p4",
    "medium": "p4", "slow": "p5", "slower": "p6", "veryslow": "p7", "placebo": "p7",
    **{f"p{i}": f"p{i}" for i in range(1, 8)},
}

EVEN_SIZES = ("error", "pad", "round")
VIDEO_KINDS = ("mp4", "webm")  # the kinds encoded with a pixel format's chroma subsampling


PixelLayout = Literal["rgb24", "yuv420p"]  # how frames travel from the generator to a segment writer
PIXEL_LAYOUTS: tuple[str, ...] = get_args(PixelLayout)
# Below this height ffmpeg's scaler shortens its vertical chroma filter, which the conversion on the
# device does not model (renderer.frames.yuv): such frames stay RGB.
YUV420P_MIN_HEIGHT = 16


def frame_shape(layout: PixelLayout, width: int, height: int) -> tuple[int, ...]:
    """The uint8 array shape of one frame in a layout: [H, W, 3] for rgb24; for yuv420p the Y plane
    [H, W] then the U and V planes [H / 2, W / 2], flat: [H * W * 3 / 2]."""
    if layout == "rgb24":
        return (height, width, 3)
    if layout == "yuv420p":
        if width % 2 or height % 2:
            raise ValueError(f"yuv420p frames need an even size, not {width}x{height}")
        return (width * height * 3 // 2,)
    raise ValueError(f"unknown pixel layout {layout!r}; layouts: {', '.join(PIXEL_LAYOUTS)}")


def chroma_step(pix_fmt: str) -> tuple[int, int]:
    """(x, y) multiples that width and height must be for this pixel format's chroma subsampling."""
    if pix_fmt.startswith(("yuv420", "yuvj420", "yuva420", "nv12", "nv21", "p010", "p016")):
        return 2, 2
    if pix_fmt.startswith(("yuv422", "yuvj422", "yuva422", "nv16")):
        return 2, 1
    if pix_fmt.startswith("yuv411"):
        return 4, 1
    return 1, 1


def output_kind(path: str | Path) -> OutputKind:
    """What an output path asks for: by extension, or "png" (a folder of frames) for no suffix or a folder."""
    path = Path(path)
    if path.is_dir() or not path.suffix:
        return "png"
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        supported = ", ".join(SUFFIXES)
        raise UsageError(
            f"{path}: unsupported output type {path.suffix!r}; use {supported}, or a folder for PNG frames"
        )
    return kind


@dataclasses.dataclass(frozen=True)
class EncoderSettings:
    """How video is encoded; .webm is always VP9, and GIF/PNG outputs ignore codec, crf and preset.

    Args:
        codec: "h264" (libx264), "h265" (libx265, tagged hvc1), "h264-nvenc", "h265-nvenc", "vp9" (.webm)
        crf: quality, 0 (lossless) .. 51 (worst); NVENC gets it as -cq, VP9 as -crf with -b:v 0
        preset: x264/x265 speed name ("medium"); NVENC also takes p1..p7
        pix_fmt: pixel format of the encoded video; yuv420p plays everywhere
        even_size: what to do with odd frame sizes that pix_fmt cannot hold: "error", "pad" one black
            row/column at the bottom/right (never rescale), or "round" the frame size down before the
            frames are made (resolve_job does; the encoder then never sees an odd size)
        audio_bitrate: AAC/Opus bitrate in ffmpeg's notation ("192k")
        threads: threads of each software encoder (x264, x265, VP9); None: the encoder's own choice
            (about 1.5 per core)
    """

    codec: Codec = "h264"
    crf: int = 18
    preset: str = "medium"
    pix_fmt: str = "yuv420p"
    even_size: Literal["error", "pad", "round"] = "error"
    audio_bitrate: str = "192k"
    threads: int | None = None

    def __post_init__(self) -> None:
        if self.codec not in CODECS:
            raise UsageError(f"unknown codec {self.codec!r}; choose one of {', '.join(CODECS)}")
        if isinstance(self.crf, bool) or not isinstance(self.crf, int) or not 0 <= self.crf <= 51:
            raise UsageError(f"crf must be an integer from 0 to 51, not {self.crf!r}")
        presets = NVENC_PRESETS if self.codec.endswith("-nvenc") else X264_PRESETS
        if self.preset not in presets:
            choices = ", ".join(presets)
            raise UsageError(f"unknown preset {self.preset!r} for {self.codec}; choose one of {choices}")
        if self.even_size not in EVEN_SIZES:
            raise UsageError(f"even_size must be one of {', '.join(EVEN_SIZES)}, not {self.even_size!r}")
        if not re.fullmatch(r"[a-z0-9_]+", self.pix_fmt):
            raise UsageError(f"malformed pixel format {self.pix_fmt!r}")
        if self.threads is not None and (isinstance(self.threads, bool) or not isinstance(self.threads, int) or self.threads < 1):
            raise UsageError(f"encoder threads must be a whole number >= 1, not {self.threads!r}")
        if not re.fullmatch(r"\d+(\.\d+)?[kM]?", self.audio_bitrate):
            raise UsageError(f"malformed audio bitrate {self.audio_bitrate!r}; write it like 192k")
