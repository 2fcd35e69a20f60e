"""Decode audio to float32 samples: WAV with scipy, anything else through the bundled ffmpeg."""

from __future__ import annotations

import dataclasses
import functools
import re
import subprocess
import tempfile
from math import gcd
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from scipy.io import wavfile

from renderer.errors import AudioError

RATE = 22_050  # Hz: analysis rate; the spectrum up to 11 kHz holds every feature renderer measures
SILENCE = 1e-4  # peak amplitude below which a file counts as silent (-80 dBFS)


@dataclasses.dataclass(frozen=True)
class Audio:
    """Decoded audio: samples float32 [channels, n] in [-1, 1] at `rate` Hz."""

    samples: NDArray[np.float32]
    rate: int
    path: Path | None = None

    @property
    def duration(self) -> float:
        """Seconds."""
        return self.samples.shape[1] / self.rate

    @property
    def mono(self) -> NDArray[np.float32]:
        """The channels averaged: [n]."""
        return self.samples.mean(axis=0) if len(self.samples) > 1 else self.samples[0]


def load_audio(path: str | Path, *, rate: int = RATE, mono: bool = True) -> Audio:
    """Read an audio file at `rate` Hz: mono (channels averaged) or every channel (stems).

    WAV files are read with scipy (no ffmpeg needed); other formats, and WAV codecs scipy does not
    read, are decoded by imageio-ffmpeg's bundled binary.
    Raises:
        AudioError (one line naming the file): missing, unreadable, not audio, empty or silent.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"audio file {path}: no such file")
    stat = path.stat()
    return _load_cached(path.resolve(), stat.st_mtime_ns, stat.st_size, rate, mono)


@functools.lru_cache(maxsize=8)
def _load_cached(path: Path, mtime: int, size: int, rate: int, mono: bool) -> Audio:
    samples = _read_wav(path, rate) if path.suffix.lower() == ".wav" else None
    if samples is None:
        samples = _read_ffmpeg(path, rate, mono)
    if samples.shape[1] == 0:
        raise AudioError(f"audio file {path}: holds no samples")
    if not np.isfinite(samples).all():
        raise AudioError(f"audio file {path}: holds NaN or infinite samples")
    if float(np.abs(samples).max()) < SILENCE:
        raise AudioError(f"audio file {path}: is silent (peak below -80 dBFS); nothing to react to")
    if mono and len(samples) > 1:
        samples = samples.mean(axis=0, keepdims=True)
    samples.setflags(write=False)  # shared by the cache
    return Audio(samples=samples, rate=rate, path=path)


def _read_wav(path: Path, rate: int) -> NDArray[np.float32] | None:
    """[channels, n] float32 from a WAV file, or None when scipy cannot read it (ffmpeg may)."""
    try:
        source_rate, data = wavfile.read(path, mmap=False)
    except (ValueError, OSError):
        return None
    if data.dtype == np.uint8:
        samples = (data.astype(np.float32) - 128.0) / 128.0
    elif np.issubdtype(data.dtype, np.integer):
        samples = data.astype(np.float32) / float(-np.iinfo(data.dtype).min)
    else:
        samples = data.astype(np.float32)
    samples = samples.reshape(len(samples), -1).T  # [channels, n]
    return resample(samples, source_rate, rate)


def resample(samples: NDArray[np.float32], source_rate: int, rate: int) -> NDArray[np.float32]:
    """Polyphase resampling along the last axis (scipy), exact when the rates are equal."""
    if source_rate == rate:
        return np.ascontiguousarray(samples, dtype=np.float32)
    g = gcd(int(source_rate), int(rate))
    from scipy.signal import resample_poly  # scipy.signal takes a second to import: scripts load without it

    return resample_poly(samples, rate // g, source_rate // g, axis=-1).astype(np.float32)


def _read_ffmpeg(path: Path, rate: int, mono: bool) -> NDArray[np.float32]:
    """[channels, n] float32 decoded by ffmpeg (f32le at `rate`; ffmpeg downmixes to mono)."""
    import imageio_ffmpeg  # the one program renderer.audio runs: the bundled ffmpeg

    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    channels = 1 if mono else _channels(ffmpeg, path)
    command = [
        ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-i", str(path),
        "-map", "0:a:0", "-vn", "-f", "f32le", "-acodec", "pcm_f32le", "-ar", str(rate), "-ac", str(channels), "-",
    ]
    with tempfile.TemporaryFile() as err:  # a file, never an unread pipe that could fill up
        done = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err, check=False)
        err.seek(0)
        lines = err.read().decode("utf-8", errors="replace").strip().splitlines()
    if done.returncode != 0:
        why = re.sub(r"^\[[^]]*\]\s*", "", lines[-1]) if lines else f"ffmpeg exited with {done.returncode}"
        if "matches no streams" in why:
            raise AudioError(f"audio file {path}: has no audio stream")
        raise AudioError(f"audio file {path}: not audio that ffmpeg can decode ({why})")
    data = np.frombuffer(done.stdout, dtype="<f4")
    return data[: len(data) // channels * channels].reshape(-1, channels).T.copy()


_LAYOUTS = {"mono": 1, "stereo": 2, "2.1": 3, "3.0": 3, "quad": 4, "4.0": 4, "5.0": 5, "5.1": 6, "6.1": 7, "7.1": 8}


def _channels(ffmpeg: str, path: Path) -> int:
    """Channels of the first audio stream, from ffmpeg's description of the file."""
    done = subprocess.run([ffmpeg, "-hide_banner", "-nostdin", "-i", str(path)], stdin=subprocess.DEVNULL,
                          capture_output=True, check=False)
    text = done.stderr.decode("utf-8", errors="replace")
    match = re.search(r"Audio: [^,]+, \d+ Hz, ([^,]+)", text)
    if not match:
        return 1  # not described: decoding says what is wrong, or takes it as mono
    layout = match.group(1).strip()
    if count := re.match(r"(\d+) channels", layout):
        return int(count.group(1))
    return _LAYOUTS.get(layout.split("(")[0], 2)


__all__ = ["RATE", "Audio", "load_audio", "resample"]
