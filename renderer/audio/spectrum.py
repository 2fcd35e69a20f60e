"""Short-time spectra of mono audio, computed in blocks (numpy FFT, Hann window, centred frames)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from numpy.typing import NDArray

BLOCK = 2048  # frames transformed at a time: bounded temporary memory for any length


def frame_times(num_frames: int, hop: int, rate: int) -> NDArray[np.float64]:
    """Seconds at the centre of each STFT frame: [num_frames]."""
    return np.arange(num_frames) * hop / rate


def num_stft_frames(num_samples: int, hop: int) -> int:
    """Centred frames of a signal: one every `hop` samples, the first centred on sample 0."""
    return 1 + num_samples // hop


def stft_magnitude_blocks(x: NDArray[np.float32], *, n_fft: int, hop: int) -> Iterator[NDArray[np.float32]]:
    """|STFT| of mono x, Hann-windowed frames centred every `hop` samples (zero-padded ends), in
    blocks of float32 [frames, n_fft // 2 + 1], in order."""
    x = np.asarray(x, dtype=np.float32)
    total = num_stft_frames(len(x), hop)
    padded = np.pad(x, (n_fft // 2, n_fft // 2 + hop))
    window = np.hanning(n_fft + 1)[:-1].astype(np.float32)  # periodic Hann
    view = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop][:total]
    for start in range(0, total, BLOCK):
        frames = view[start : start + BLOCK] * window
        yield np.abs(np.fft.rfft(frames, axis=1)).astype(np.float32)


def stft_magnitude(x: NDArray[np.float32], *, n_fft: int, hop: int) -> NDArray[np.float32]:
    """The whole |STFT| [frames, n_fft // 2 + 1] (see stft_magnitude_blocks)."""
    return np.concatenate(list(stft_magnitude_blocks(x, n_fft=n_fft, hop=hop)))


def bin_frequencies(n_fft: int, rate: int) -> NDArray[np.float64]:
    """Hz of each rfft bin: [n_fft // 2 + 1]."""
    return np.fft.rfftfreq(n_fft, 1.0 / rate)


def percussive_part(magnitude: NDArray[np.float32], *, time_bins: int = 17, freq_bins: int = 17) -> NDArray[np.float32]:
    """The percussive part of a magnitude spectrogram [frames, bins] by median filtering (Fitzgerald
    2010): harmonic sounds are smooth along time, hits along frequency; a soft (Wiener) mask keeps
    the bins where the frequency-median dominates."""
    # Imported here: a render imports this module but needs no scipy.ndimage (~40 MB of RSS).
    from scipy.ndimage import median_filter

    harmonic = median_filter(magnitude, size=(time_bins, 1), mode="nearest")
    percussive = median_filter(magnitude, size=(1, freq_bins), mode="nearest")
    h2, p2 = harmonic.astype(np.float32) ** 2, percussive.astype(np.float32) ** 2
    mask = np.divide(p2, h2 + p2, out=np.zeros_like(p2), where=(h2 + p2) > 0)
    return magnitude * mask


__all__ = ["bin_frequencies", "frame_times", "num_stft_frames", "percussive_part", "stft_magnitude", "stft_magnitude_blocks"]
