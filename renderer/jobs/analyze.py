"""`analyze`: a song's features at a video frame rate, as a plot, an .npz and keyframe suggestions.

Torch-free (only renderer.audio and the plot), so `renderer analyze` starts in a moment.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from renderer.audio.features import DEFAULT_BANDS, AudioFeatures, analyze_file, check_bands
from renderer.errors import EncoderError, UsageError
from renderer.output.files import atomic_path, make_folder
from renderer.output.plots import matplotlib_available

BAR = 4  # beats per bar
SUGGESTED_BARS = 4  # a keyframe every this many bars, and at each section start


@dataclasses.dataclass(frozen=True)
class SongAnalysis:
    features: AudioFeatures
    npz: Path
    plot: Path | None  # None: matplotlib is not installed
    suggestion: str  # TOML to paste into a script


def parse_bands(text: str) -> dict[str, tuple[float, float]]:
    """Bands from the command line: "low=20-150,mid=150-500,high=500-11025" (Hz)."""
    bands: dict[str, tuple[float, float]] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, edges = item.partition("=")
        low, _, high = edges.partition("-")
        try:
            bands[name.strip()] = (float(low), float(high))
        except ValueError:
            raise UsageError(f"band {item!r} must look like low=20-150 (a name and Hz)") from None
    try:
        return check_bands(bands)
    except ValueError as e:
        raise UsageError(f"bands: {e}") from None


def analyze_song(
    song: str | Path,
    out_dir: str | Path | None = None,
    *,
    fps: float = 30.0,
    bands: Mapping[str, tuple[float, float]] | str | None = None,
    plot: bool | None = None,
) -> SongAnalysis:
    """Measure a song at `fps` and write `<name>.features.npz` and `<name>.analysis.png` (when
    matplotlib is installed, or required with plot=True) into out_dir (default: beside the song).
    Raises:
        AudioError (exit 2) for a missing, unreadable or silent file; UsageError for bad options
    """
    song = Path(song)
    bands = parse_bands(bands) if isinstance(bands, str) else dict(bands or DEFAULT_BANDS)
    if not (fps > 0 and np.isfinite(fps)):
        raise UsageError(f"fps must be a positive number, not {fps}")
    features = analyze_file(song, fps=fps, bands=bands, percussive=True)
    folder = Path(out_dir) if out_dir is not None else song.parent
    make_folder(folder, error=EncoderError)
    npz = folder / f"{song.stem}.features.npz"
    with atomic_path(npz) as tmp, open(tmp, "wb") as f:
        np.savez(f, **features.arrays())
    picture = None
    if plot or (plot is None and matplotlib_available()):
        from renderer.output.audio_plot import plot_analysis

        picture = plot_analysis(features, folder / f"{song.stem}.analysis.png", title=song.name)
    return SongAnalysis(features=features, npz=npz, plot=picture, suggestion=suggest_keyframes(features, song.name))


def suggest_keyframes(features: AudioFeatures, audio_name: str, *, bars: int = SUGGESTED_BARS) -> str:
    """TOML keyframes on the detected beats: one every `bars` bars and one at each section start,
    each with its own seed, ready to paste under a script's [models]."""
    beats = features.beats
    sections = ", ".join(f"{s:.2f}" for s in features.sections) or "-"
    lines = [(f"# {audio_name}: {features.duration:.2f} s, {features.tempo:.2f} bpm, {len(beats)} beats, "
              f"{len(features.sections)} section boundaries at {sections} s")]
    if len(beats) < 2:
        return "\n".join([*lines, "# no steady beat: time keyframes in seconds instead",
                          f'fps = {features.fps:g}', "", "[output]", f'audio = "{audio_name}"'])
    picks: dict[int, str] = {}
    for index in range(0, len(beats), BAR * bars):
        picks[index] = f"bar {index // BAR}"
    for start in features.sections:
        index = int(np.argmin(np.abs(beats - start)))
        picks[index] = f"section start {start:.2f} s"
    lines += [f"fps = {features.fps:g}", 'bpm = "auto"', 'beats = "detected"  # "16b" is detected beat 16 (the first is "0b")',
              "", "[output]", f'audio = "{audio_name}"']
    for seed, index in enumerate(sorted(picks), start=1):
        lines += ["", "[[keyframes]]", f'time = "{index}b"  # {beats[index]:.2f} s, {picks[index]}', f"seed = {seed}"]
    return "\n".join(lines)


__all__ = ["SongAnalysis", "analyze_song", "parse_bands", "suggest_keyframes"]
