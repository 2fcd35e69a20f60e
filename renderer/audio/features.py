"""Audio features at the video's frame rate: loudness and onsets per band, chroma, beats, sections.

`analyze(audio, fps=...)` measures a song once and returns `AudioFeatures`, whose per-frame arrays
line up with video frames: frame i is the audio at `offset + i / fps` seconds. Spectra are taken at
a finer internal hop (11.6 ms) and pooled into each frame's 1 / fps span, so a hit is never missed
between two video frames: onsets keep their span's maximum, loudness its RMS.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from renderer.audio.beats import beat_tempo, estimate_tempo, track_beats
from renderer.audio.decode import RATE, Audio, load_audio
from renderer.audio.sections import find_boundaries, novelty_curve
from renderer.audio.spectrum import (
    bin_frequencies,
    num_stft_frames,
    percussive_part,
    stft_magnitude,
    stft_magnitude_blocks,
)
from renderer.errors import AudioError

N_FFT, HOP = 1024, 256  # onsets and loudness: 46 ms windows every 11.6 ms at 22.05 kHz
CHROMA_FFT, CHROMA_HOP = 4096, 1024  # chroma: 5.4 Hz bins resolve semitones down to about 90 Hz
CHROMA_RANGE = (55.0, 4200.0)  # Hz: A1 to C8
SECTION_RATE = 10.0  # Hz: frames compared for section boundaries
LOG_COMPRESSION = 100.0  # onset spectra are log(1 + C |X|): quiet hits count, loud ones saturate
# The log-compressed flux of a hit peaks as the hit moves in from the window's edge, about a quarter
# window before it reaches the centre: onset times are reported that much later.
ONSET_DELAY = N_FFT / 4 / RATE  # seconds
PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
DEFAULT_BANDS: dict[str, tuple[float, float]] = {"low": (20.0, 150.0), "mid": (150.0, 500.0), "high": (500.0, 11025.0)}
BAND_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
SCALAR_KINDS = ("rms", "onset", "percussive")  # per band, and overall ("rms", "onset", "percussive")
FEATURE_FORMS = 'rms, onset, percussive, beat, section, chroma, or <band>.rms / <band>.onset / <band>.percussive'


@dataclasses.dataclass(frozen=True)
class AudioFeatures:
    """A song measured at a video frame rate. Per-frame arrays have T = num_frames rows; frame i is
    the audio at offset + i / fps seconds (frames outside the audio are silent: zeros)."""

    fps: float
    offset: float  # seconds into the audio of frame 0
    duration: float  # seconds of audio
    bands: Mapping[str, tuple[float, float]]  # name -> (low, high) Hz
    rms: NDArray[np.float32]  # [T] RMS loudness of the whole signal
    onset: NDArray[np.float32]  # [T] spectral flux over all frequencies
    band_rms: NDArray[np.float32]  # [B, T]
    band_onset: NDArray[np.float32]  # [B, T]
    band_percussive: NDArray[np.float32] | None  # [B, T] flux of the percussive part (HPSS); None: not measured
    chroma: NDArray[np.float32]  # [T, 12] C, C#, ..., B; each frame's strongest class is 1
    waveform: NDArray[np.float32]  # [T, 2] min and max sample in each frame's span (plots)
    tempo: float  # bpm, 0 when no beat was found
    beats: NDArray[np.float64]  # [n] seconds of audio
    sections: NDArray[np.float64]  # [m] seconds of audio: section boundaries
    novelty: NDArray[np.float32]  # [T] the section novelty curve

    @property
    def num_frames(self) -> int:
        return len(self.rms)

    @property
    def time(self) -> NDArray[np.float64]:
        """[T] seconds of audio at each frame."""
        return self.offset + np.arange(self.num_frames) / self.fps

    def beat_frames(self) -> NDArray[np.int64]:
        """The video frames nearest the beats inside the video: [n']."""
        return _event_frames(self.beats, self.offset, self.fps, self.num_frames)

    def feature(self, name: str) -> NDArray[np.float64]:
        """A feature by name: [T] ("rms", "low.onset", "beat", ...) or [T, 12] ("chroma").
        Raises:
            KeyError with a message naming the accepted names
        """
        if name == "chroma":
            return self.chroma.astype(np.float64)
        if name in ("beat", "section"):
            impulses = np.zeros(self.num_frames)
            times = self.beats if name == "beat" else self.sections
            impulses[_event_frames(times, self.offset, self.fps, self.num_frames)] = 1.0
            return impulses
        band, _, kind = name.rpartition(".")
        if kind == "percussive" and self.band_percussive is None:
            raise KeyError(f"{name!r}: the percussive part was not measured (analyze with percussive=True)")
        if not band and kind in SCALAR_KINDS:
            if kind == "percussive":
                assert self.band_percussive is not None
                return self.band_percussive.sum(axis=0).astype(np.float64)
            return getattr(self, kind).astype(np.float64)
        if band in self.bands and kind in SCALAR_KINDS:
            row = list(self.bands).index(band)
            table = {"rms": self.band_rms, "onset": self.band_onset, "percussive": self.band_percussive}[kind]
            assert table is not None
            return table[row].astype(np.float64)
        raise KeyError(f"unknown feature {name!r}; accepted: {', '.join(feature_names(self.bands))}")

    def arrays(self) -> dict[str, NDArray]:
        """Every feature as named arrays (what `renderer analyze` saves as .npz)."""
        out: dict[str, NDArray] = {
            "time": self.time, "fps": np.float64(self.fps), "tempo": np.float64(self.tempo),
            "beats": self.beats, "sections": self.sections, "waveform": self.waveform,
            "rms": self.rms, "onset": self.onset, "chroma": self.chroma, "novelty": self.novelty,
            "band_names": np.array(list(self.bands)), "band_edges": np.array(list(self.bands.values())),
        }
        for i, band in enumerate(self.bands):
            out[f"{band}.rms"] = self.band_rms[i]
            out[f"{band}.onset"] = self.band_onset[i]
            if self.band_percussive is not None:
                out[f"{band}.percussive"] = self.band_percussive[i]
        return out


def feature_names(bands: Mapping[str, tuple[float, float]] = DEFAULT_BANDS) -> list[str]:
    """Every scalar and vector feature name for these bands."""
    return [*SCALAR_KINDS, "beat", "section", "chroma", *(f"{b}.{k}" for b in bands for k in SCALAR_KINDS)]


def check_bands(bands: Mapping[str, tuple[float, float]], rate: int = RATE) -> dict[str, tuple[float, float]]:
    """Bands as {name: (low, high)} Hz, checked: 0 <= low < high <= rate / 2, names lower-case words.
    Raises:
        ValueError saying which band is wrong and what is accepted
    """
    checked: dict[str, tuple[float, float]] = {}
    for name, edges in bands.items():
        if not BAND_NAME.match(str(name)):
            raise ValueError(f"band name {name!r} must be a lower-case word (like low, kick, hats)")
        try:
            low, high = (float(e) for e in edges)
        except (TypeError, ValueError):
            raise ValueError(f"band {name!r} must be [low, high] in Hz, got {edges!r}") from None
        if not (0 <= low < high <= rate / 2):
            raise ValueError(f"band {name!r} must have 0 <= low < high <= {rate // 2} Hz, got [{low:g}, {high:g}]")
        checked[str(name)] = (low, high)
    if not checked:
        raise ValueError("at least one band is needed")
    return checked


@dataclasses.dataclass(frozen=True)
class SongMeasures:
    """A song measured once at the internal hop, before pooling to any frame rate (see measure)."""

    duration: float  # seconds
    rate: int  # Hz of `samples`
    samples: NDArray[np.float32]  # [n] mono
    bands: Mapping[str, tuple[float, float]]
    inner_t: NDArray[np.float64]  # [m] seconds of the STFT frames
    rms: NDArray[np.float64]  # [m]
    band_rms: NDArray[np.float64]  # [B, m]
    onset: NDArray[np.float64]  # [m]
    band_onset: NDArray[np.float64]  # [B, m]
    band_percussive: NDArray[np.float64] | None  # [B, m]; None: not measured
    chroma_t: NDArray[np.float64]  # [c] seconds
    chroma: NDArray[np.float64]  # [c, 12]
    section_t: NDArray[np.float64]  # [s] seconds
    novelty: NDArray[np.float64]  # [s]
    tempo: float
    beats: NDArray[np.float64]
    sections: NDArray[np.float64]


def measure(audio: Audio, *, bands: Mapping[str, tuple[float, float]] = DEFAULT_BANDS, percussive: bool = True) -> SongMeasures:
    """Every feature of a song at the internal hop, and its tempo, beats and sections.

    percussive: also the onsets of the median-filter percussive part (most of the time it takes).
    """
    bands = check_bands(bands, audio.rate)
    x = audio.mono.astype(np.float32)
    rate = audio.rate

    magnitude = stft_magnitude(x, n_fft=N_FFT, hop=HOP)
    freqs = bin_frequencies(N_FFT, rate)
    in_band = [(freqs >= lo) & (freqs < hi) if hi < rate / 2 else (freqs >= lo) for lo, hi in bands.values()]
    window_power = float(np.sum(np.hanning(N_FFT + 1)[:-1] ** 2))
    weights = np.where((freqs > 0) & (freqs < rate / 2), 2.0, 1.0) / (window_power * N_FFT)
    power = magnitude.astype(np.float64) ** 2 * weights  # mean square per bin (Parseval)
    rms = np.sqrt(power.sum(axis=1))
    band_rms = np.stack([np.sqrt(power[:, m].sum(axis=1)) for m in in_band])
    del power
    flux = _flux(magnitude)
    # Each octave counts the same (as mel bands do), so a kick's few low bins weigh as much as a
    # hat's many high ones.
    octaves = [(freqs >= lo) & (freqs < 2 * lo) for lo in 27.5 * 2.0 ** np.arange(9)]
    onset = np.mean([flux[:, m].mean(axis=1) for m in octaves if m.any()], axis=0)
    band_onset = _band_means(flux, in_band)
    del flux
    band_percussive = _band_means(_flux(percussive_part(magnitude)), in_band) if percussive else None

    inner_rate = rate / HOP
    tempo0 = estimate_tempo(onset, inner_rate)
    beats = track_beats(onset, inner_rate, tempo0) + ONSET_DELAY * RATE / rate
    tempo = beat_tempo(beats, tempo0)

    chroma_t, chroma, timbre = _chroma_and_timbre(x, rate)
    section_t = np.arange(0, audio.duration, 1.0 / SECTION_RATE)
    section_features = np.concatenate(
        [_interp_columns(section_t, chroma_t, chroma), _interp_columns(section_t, chroma_t, timbre)], axis=1
    )
    novelty = novelty_curve(section_features, SECTION_RATE)
    return SongMeasures(
        duration=audio.duration, rate=rate, samples=x, bands=bands, inner_t=np.arange(len(magnitude)) / inner_rate,
        rms=rms, band_rms=band_rms, onset=onset, band_onset=band_onset, band_percussive=band_percussive,
        chroma_t=chroma_t, chroma=chroma, section_t=section_t, novelty=novelty,
        tempo=float(tempo), beats=beats, sections=find_boundaries(novelty, SECTION_RATE),
    )


def at_frames(song: SongMeasures, *, fps: float, offset: float = 0.0, num_frames: int | None = None) -> AudioFeatures:
    """A measured song pooled to video frames: frame i is the audio at offset + i / fps seconds;
    num_frames None: every frame the audio covers from `offset`."""
    if num_frames is None:
        num_frames = max(1, int(np.floor((song.duration - offset) * fps + 1e-6)))
    video_t = offset + np.arange(num_frames) / fps
    spans = _spans(song.inner_t, video_t, fps)
    onset_spans = _spans(song.inner_t + ONSET_DELAY * RATE / song.rate, video_t, fps)
    inside = (video_t >= -0.5 / fps) & (video_t <= song.duration + 0.5 / fps)
    as_frames = functools.partial(_mask, inside)
    percussive = song.band_percussive
    return AudioFeatures(
        fps=fps, offset=offset, duration=song.duration, bands=song.bands,
        rms=as_frames(_pool_rms(song.rms, spans)),
        onset=as_frames(_pool_max(song.onset, onset_spans)),
        band_rms=np.stack([as_frames(_pool_rms(r, spans)) for r in song.band_rms]),
        band_onset=np.stack([as_frames(_pool_max(o, onset_spans)) for o in song.band_onset]),
        band_percussive=None if percussive is None else np.stack([as_frames(_pool_max(o, onset_spans)) for o in percussive]),
        chroma=as_frames(_interp_columns(video_t, song.chroma_t, song.chroma)),
        waveform=as_frames(_waveform(song.samples, song.rate, video_t, fps)),
        tempo=song.tempo, beats=song.beats, sections=song.sections,
        novelty=as_frames(np.interp(video_t, song.section_t, song.novelty) if len(song.section_t) else np.zeros(num_frames)),
    )


def analyze(
    audio: Audio,
    *,
    fps: float,
    offset: float = 0.0,
    num_frames: int | None = None,
    bands: Mapping[str, tuple[float, float]] = DEFAULT_BANDS,
    percussive: bool = True,
) -> AudioFeatures:
    """Measure a song at a video frame rate (measure, then at_frames).

    Args:
        audio: decoded audio (its channels are mixed to mono here)
        fps: video frames per second
        offset: seconds into the audio where frame 0 is (negative: the video starts before the audio)
        num_frames: frames to measure; None: every frame the audio covers from `offset`
        bands: name -> (low, high) Hz
        percussive: also the percussive onsets (HPSS)
    """
    return at_frames(measure(audio, bands=bands, percussive=percussive), fps=fps, offset=offset, num_frames=num_frames)


def analyze_file(
    path: str | Path,
    *,
    fps: float,
    offset: float = 0.0,
    num_frames: int | None = None,
    bands: Mapping[str, tuple[float, float]] = DEFAULT_BANDS,
    percussive: bool = False,
) -> AudioFeatures:
    """`analyze` of an audio file; its measures are remembered for the process, so a script's
    beats and reactions read a song once (percussive: also the HPSS onsets, which cost most).
    Raises:
        AudioError naming the file: missing, not audio, silent, or shorter than the frames asked for
    """
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"audio file {path}: no such file")
    stat = path.stat()
    key = tuple((name, (float(lo), float(hi))) for name, (lo, hi) in check_bands(bands).items())
    song = _measured(path.resolve(), stat.st_mtime_ns, stat.st_size, key, percussive)
    features = at_frames(song, fps=fps, offset=offset, num_frames=num_frames)
    if num_frames is not None:
        needed = offset + (num_frames - 1) / fps
        if features.duration + 0.5 / fps < needed:
            raise AudioError(
                f"audio file {path}: {features.duration:.2f} s is shorter than the video it drives "
                f"({num_frames} frames at {fps:g} fps from {offset:g} s need {needed:.2f} s)"
            )
    return features


# ---------------------------------------------------------------------------------------------
# Internals

_MEASURES: dict[tuple[object, ...], SongMeasures] = {}  # the songs measured in this process, newest last
MEASURES_KEPT = 8


def _measured(path: Path, mtime: int, size: int, bands: tuple[object, ...], percussive: bool) -> SongMeasures:
    """measure() of a file, remembered: a song measured with its percussive part serves any request."""
    key = (path, mtime, size, bands)
    song = _MEASURES.get(key)
    if song is None or (percussive and song.band_percussive is None):
        song = measure(load_audio(path), bands=dict(bands), percussive=percussive)  # type: ignore[arg-type]
    _MEASURES.pop(key, None)
    _MEASURES[key] = song
    while len(_MEASURES) > MEASURES_KEPT:
        _MEASURES.pop(next(iter(_MEASURES)))
    return song


def _band_means(flux: NDArray, in_band: list[NDArray[np.bool_]]) -> NDArray[np.float64]:
    return np.stack([flux[:, m].mean(axis=1) if m.any() else np.zeros(len(flux)) for m in in_band])


def _flux(magnitude: NDArray[np.float32]) -> NDArray[np.float32]:
    """Half-wave rectified frame-to-frame increase of the log-compressed magnitude: [frames, bins]."""
    log = np.log1p(LOG_COMPRESSION * magnitude)
    flux = np.zeros_like(log)
    np.maximum(log[1:] - log[:-1], 0.0, out=flux[1:])
    return flux


def _chroma_and_timbre(x: NDArray[np.float32], rate: int) -> tuple[NDArray, NDArray, NDArray]:
    """Chroma [n, 12] (each frame's strongest class 1; silence 0) and log energies in 12 octave-ish
    bands [n, 12] (timbre, for section boundaries), at the chroma hop; with their times [n]."""
    freqs = bin_frequencies(CHROMA_FFT, rate)
    usable = (freqs >= CHROMA_RANGE[0]) & (freqs <= CHROMA_RANGE[1])
    pitch = 69.0 + 12.0 * np.log2(np.where(usable, freqs, 440.0) / 440.0)
    distance = (pitch[:, None] - np.arange(12)[None, :]) % 12.0  # semitones above each class (C = 0)
    distance = np.minimum(distance, 12.0 - distance)
    to_chroma = np.where(usable[:, None], np.exp(-0.5 * (distance / 0.4) ** 2), 0.0)  # [bins, 12]
    edges = np.geomspace(40.0, rate / 2, 13)
    to_bands = np.stack([(freqs >= lo) & (freqs < hi) for lo, hi in zip(edges[:-1], edges[1:], strict=True)], axis=1)
    chroma_parts, timbre_parts = [], []
    for block in stft_magnitude_blocks(x, n_fft=CHROMA_FFT, hop=CHROMA_HOP):
        power = block.astype(np.float64) ** 2
        chroma_parts.append(power @ to_chroma)
        timbre_parts.append(np.log10(power @ to_bands + 1e-10))
    chroma = np.concatenate(chroma_parts)
    peak = chroma.max(axis=1, keepdims=True)
    loud = peak > 1e-6 * max(float(peak.max()), 1e-30)
    chroma = np.divide(chroma, peak, out=np.zeros_like(chroma), where=loud & (peak > 0))
    times = np.arange(num_stft_frames(len(x), CHROMA_HOP)) * CHROMA_HOP / rate
    return times, chroma, np.concatenate(timbre_parts)


def _spans(inner_t: NDArray, video_t: NDArray, fps: float) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """[lo, hi) internal frames inside each video frame's span [t - 0.5 / fps, t + 0.5 / fps); an
    empty span (a video rate above the internal one) takes the nearest internal frame."""
    lo = np.searchsorted(inner_t, video_t - 0.5 / fps, side="left")
    hi = np.searchsorted(inner_t, video_t + 0.5 / fps, side="left")
    nearest = np.clip(np.rint(np.interp(video_t, inner_t, np.arange(len(inner_t)))).astype(np.int64), 0, len(inner_t) - 1)
    empty = hi <= lo
    lo = np.where(empty, nearest, np.clip(lo, 0, len(inner_t) - 1))
    hi = np.where(empty, nearest + 1, np.clip(hi, 1, len(inner_t)))
    return lo, hi


def _pool_max(values: NDArray, spans: tuple[NDArray, NDArray]) -> NDArray[np.float32]:
    lo, hi = spans
    out = np.empty(len(lo))
    for i, (a, b) in enumerate(zip(lo, hi, strict=True)):
        out[i] = values[a:b].max()
    return out.astype(np.float32)


def _pool_rms(values: NDArray, spans: tuple[NDArray, NDArray]) -> NDArray[np.float32]:
    lo, hi = spans
    cumulative = np.concatenate([[0.0], np.cumsum(np.asarray(values, dtype=np.float64) ** 2)])
    return np.sqrt((cumulative[hi] - cumulative[lo]) / (hi - lo)).astype(np.float32)


def _interp_columns(t: NDArray, source_t: NDArray, values: NDArray) -> NDArray[np.float32]:
    """Each column of values [n, C] (at source_t) linearly interpolated at t: [len(t), C]."""
    return np.stack([np.interp(t, source_t, values[:, c]) for c in range(values.shape[1])], axis=1).astype(np.float32)


def _waveform(x: NDArray, rate: int, video_t: NDArray, fps: float) -> NDArray[np.float32]:
    """Min and max sample in each frame's span: [T, 2]."""
    lo = np.clip(np.rint((video_t - 0.5 / fps) * rate).astype(np.int64), 0, len(x))
    hi = np.clip(np.rint((video_t + 0.5 / fps) * rate).astype(np.int64), 0, len(x))
    out = np.zeros((len(video_t), 2), dtype=np.float32)
    for i, (a, b) in enumerate(zip(lo, hi, strict=True)):
        if b > a:
            out[i] = (x[a:b].min(), x[a:b].max())
    return out


def _mask(inside: NDArray[np.bool_], values: NDArray) -> NDArray[np.float32]:
    """Frames outside the audio are silent."""
    values = np.asarray(values, dtype=np.float32)
    return np.where(inside.reshape((-1,) + (1,) * (values.ndim - 1)), values, 0.0).astype(np.float32)


def _event_frames(times: NDArray, offset: float, fps: float, num_frames: int) -> NDArray[np.int64]:
    frames = np.rint((np.asarray(times) - offset) * fps).astype(np.int64)
    return np.unique(frames[(frames >= 0) & (frames < num_frames)])


__all__ = [
    "DEFAULT_BANDS",
    "FEATURE_FORMS",
    "PITCH_CLASSES",
    "AudioFeatures",
    "SongMeasures",
    "analyze",
    "analyze_file",
    "at_frames",
    "measure",
    "check_bands",
    "feature_names",
]
