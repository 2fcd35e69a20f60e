"""Looping GIF: lossless segments (FFV1 in Matroska), joined with one palette made from every frame."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from renderer.output.encoded import FfmpegOutput, check_segments, concat_join
from renderer.output.ffmpeg import run_ffmpeg
from renderer.output.kind import JoinOptions
from renderer.plan.encoding import EncoderSettings


class GifWriter(FfmpegOutput):
    """A GIF that loops forever (an OutputWriter); it has no sound and no tags."""

    kind = "gif"
    muxer = "matroska"
    segment_suffix = ".mkv"

    def codec_args(self, settings: EncoderSettings) -> list[str]:
        # Lossless intermediate: the GIF palette is built from all frames in the final pass.
        return ["-c:v", "ffv1", "-pix_fmt", "bgr0"]

    def join(self, segments: Sequence[Path], output: Path, options: JoinOptions) -> Path:
        """The dithered GIF of the segments; audio and metadata are ignored."""
        output = Path(output)
        check_segments(segments, output, options.fps)
        cut = ["-t", f"{options.duration:.6f}"] if options.duration is not None else []
        return concat_join(
            segments, output, fps=options.fps, duration=options.duration,
            encode=lambda concat, tmp, scratch: join_gif(concat, tmp, scratch / "palette.png", cut),
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


__all__ = ["GifWriter"]
