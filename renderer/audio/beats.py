"""Tempo and beats from an onset-strength envelope: autocorrelation, then dynamic programming.

The tempo is the autocorrelation lag of the onset envelope that scores best under a log-normal
prior around 120 bpm (refined between lags by a parabola); the beats are the path through the
envelope that best trades onset strength against steady spacing at that period (Ellis 2007); the
reported tempo is then the least-squares slope of the beat times, finer than any lag grid.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

MIN_BPM, MAX_BPM = 40.0, 240.0
PRIOR_BPM, PRIOR_OCTAVES = 120.0, 1.0  # the log-normal tempo prior: centre and width
TIGHTNESS = 100.0  # how strongly the beat path keeps its period (Ellis' alpha)


def estimate_tempo(onset: NDArray, rate: float, *, prior_bpm: float = PRIOR_BPM) -> float:
    """Beats per minute of an onset envelope sampled at `rate` Hz (0 when it has no periodicity)."""
    x = np.asarray(onset, dtype=np.float64)
    x = x - x.mean()
    if len(x) < 4 or not np.any(x):
        return 0.0
    size = 1 << int(np.ceil(np.log2(2 * len(x))))
    spectrum = np.fft.rfft(x, size)
    acf = np.fft.irfft(spectrum * np.conj(spectrum), size)[: len(x)]
    acf /= np.arange(len(x), 0, -1)  # unbiased: long lags sum fewer products
    lo = max(1, int(np.floor(60.0 * rate / MAX_BPM)))
    hi = min(len(x) - 2, int(np.ceil(60.0 * rate / MIN_BPM)))
    if hi <= lo:
        return 0.0
    lags = np.arange(lo, hi + 1)
    bpm = 60.0 * rate / lags
    prior = np.exp(-0.5 * (np.log2(bpm / prior_bpm) / PRIOR_OCTAVES) ** 2)
    score = np.clip(acf[lags], 0, None) * prior
    if not np.any(score > 0):
        return 0.0
    best = int(lags[np.argmax(score)])
    a, b, c = acf[best - 1], acf[best], acf[best + 1]
    shift = 0.5 * (a - c) / (a - 2 * b + c) if (a - 2 * b + c) < 0 else 0.0
    return 60.0 * rate / (best + float(np.clip(shift, -0.5, 0.5)))


def track_beats(onset: NDArray, rate: float, bpm: float, *, tightness: float = TIGHTNESS) -> NDArray[np.float64]:
    """Beat times in seconds: the dynamic-programming path through the onset envelope at period
    60 / bpm (Ellis 2007), with weak beats at either end (silence, fades) dropped."""
    x = np.asarray(onset, dtype=np.float64)
    if bpm <= 0 or not np.any(x > 0):
        return np.zeros(0)
    period = 60.0 * rate / bpm
    std = x.std()
    # Imported here: a render imports this module but needs no scipy.ndimage (~40 MB of RSS).
    from scipy.ndimage import gaussian_filter1d

    local = gaussian_filter1d(x / (std if std > 0 else 1.0), period / 32.0, mode="constant")
    n = len(local)
    score = local.copy()
    back = np.full(n, -1, dtype=np.int64)
    offsets = np.arange(-int(round(2 * period)), -int(round(period / 2)) + 1)  # where the previous beat may be
    penalty = -tightness * np.log(-offsets / period) ** 2
    for i in range(n):
        prev = i + offsets
        valid = prev >= 0
        if not valid.any():
            continue
        candidates = score[prev[valid]] + penalty[valid]
        j = int(np.argmax(candidates))
        score[i] = local[i] + candidates[j]
        back[i] = prev[valid][j]
    # The path ends at the best-scoring local maximum of the score in the last period.
    tail = np.arange(max(0, n - int(round(period))), n)
    peaks = tail[(score[tail] >= np.roll(score, 1)[tail]) & (score[tail] >= np.roll(score, -1)[tail])]
    end = int(peaks[np.argmax(score[peaks])]) if len(peaks) else int(tail[np.argmax(score[tail])])
    beats = [end]
    while back[beats[-1]] >= 0:
        beats.append(int(back[beats[-1]]))
    frames = np.array(beats[::-1])
    strength = local[frames]
    strong = strength > 0.5 * np.sqrt(np.mean(strength**2))  # librosa's trim: drop the soft ends
    if strong.any():
        first, last = np.argmax(strong), len(strong) - 1 - np.argmax(strong[::-1])
        frames = frames[first : last + 1]
    return frames / rate


def beat_tempo(beats: NDArray, fallback: float) -> float:
    """The tempo of a beat sequence: 60 / the least-squares spacing (fallback with < 3 beats)."""
    if len(beats) < 3:
        return fallback
    slope = np.polyfit(np.arange(len(beats)), beats, 1)[0]
    return 60.0 / slope if slope > 0 else fallback


__all__ = ["beat_tempo", "estimate_tempo", "track_beats"]
