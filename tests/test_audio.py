"""Audio analysis against synthetic ground truth: beats, band onsets, sections, chroma, envelopes."""

from __future__ import annotations

import subprocess
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.io import wavfile

from renderer.audio.decode import Audio, load_audio
from renderer.audio.envelope import EnvelopeSettings, attack_decay, normalize, shape_envelope, smooth
from renderer.audio.features import PITCH_CLASSES, analyze, analyze_file, check_bands
from renderer.errors import AudioError
from tests.audio_signals import RATE, click_track, kicks_and_hats

FPS = 30


def features_of(x: np.ndarray, **kwargs: object):
    return analyze(Audio(np.asarray(x, np.float32)[None], RATE), fps=FPS, **kwargs)


def peak_frames(v: np.ndarray, threshold: float = 0.3) -> np.ndarray:
    v = v / v.max()
    return np.flatnonzero((v > threshold) & (v >= np.roll(v, 1)) & (v > np.roll(v, -1)))


def strongest_peaks(v: np.ndarray, n: int) -> np.ndarray:
    peaks = peak_frames(v, 0.0)
    return np.sort(peaks[np.argsort(v[peaks])[::-1][:n]])


def test_click_track_tempo_and_every_beat_within_a_frame() -> None:
    x, beats = click_track(128.0)
    f = features_of(x)
    assert f.tempo == pytest.approx(128.0, abs=0.5)
    assert len(f.beats) == len(beats)
    assert np.abs(f.beats - beats).max() < 1.0 / FPS
    # The per-frame beat impulses sit on the frames nearest the true beats.
    assert set(np.flatnonzero(f.feature("beat"))) <= {int(np.rint(b * FPS)) + d for b in beats for d in (-1, 0, 1)}


@pytest.mark.parametrize("bpm", [96.0, 140.0])
def test_other_tempi(bpm: float) -> None:
    x, beats = click_track(bpm, seconds=20.0, start=0.5)
    f = features_of(x)
    assert f.tempo == pytest.approx(bpm, abs=0.5)
    assert np.abs(f.beats[:, None] - beats[None]).min(axis=1).max() < 1.0 / FPS


def test_kicks_in_the_low_band_hats_in_the_high_band() -> None:
    x, kicks, hats = kicks_and_hats()
    f = features_of(x)
    kick_frames, hat_frames = np.rint(kicks * FPS).astype(int), np.rint(hats * FPS).astype(int)
    assert np.array_equal(peak_frames(f.feature("low.onset")), kick_frames)
    assert np.array_equal(peak_frames(f.feature("high.onset")), hat_frames)
    for kind in ("onset", "percussive"):
        low, high = f.feature(f"low.{kind}"), f.feature(f"high.{kind}")
        assert np.array_equal(strongest_peaks(low, 6), kick_frames), kind
        assert np.array_equal(strongest_peaks(high, 6), hat_frames), kind
        assert low[kick_frames].min() > np.delete(low, kick_frames).max(), kind
        assert high[hat_frames].min() > 2 * np.delete(high, hat_frames).max(), kind
        # Each band is quiet where the other one hits.
        assert low[hat_frames].max() < 0.1 * low.max()
        assert high[kick_frames].max() < 0.25 * high.max()
    assert f.feature("low.rms")[kick_frames + 1].min() > 10 * f.feature("low.rms")[hat_frames].max()


def test_a_tone_that_switches_is_a_section_boundary() -> None:
    t = np.arange(int(16 * RATE)) / RATE
    switch = 7.3
    x = np.where(t < switch, np.sin(2 * np.pi * 220 * t), 0.6 * np.sin(2 * np.pi * 330 * t) + 0.3 * np.sin(2 * np.pi * 2000 * t))
    f = features_of(x)
    assert len(f.sections) == 1
    assert abs(f.sections[0] - switch) < 0.25


def test_a_major_triad_chroma_peaks_at_a_c_sharp_e() -> None:
    t = np.arange(int(3 * RATE)) / RATE
    x = sum(np.sin(2 * np.pi * hz * t) for hz in (440.0, 554.37, 659.26)) / 3
    chroma = features_of(x).chroma.mean(axis=0)
    top = {PITCH_CLASSES[i] for i in np.argsort(chroma)[::-1][:3]}
    assert top == {"A", "C#", "E"}
    assert np.sort(chroma)[-4] < 0.2 * np.sort(chroma)[-3]


def test_bands_are_configurable_in_hz() -> None:
    x, kicks, _ = kicks_and_hats()
    f = features_of(x, bands={"kick": (40, 80), "air": (6000, 10000)})
    assert list(f.bands) == ["kick", "air"]
    assert np.array_equal(peak_frames(f.feature("kick.onset")), np.rint(kicks * FPS).astype(int))
    with pytest.raises(KeyError, match="accepted"):
        f.feature("low.onset")
    with pytest.raises(ValueError, match="low < high"):
        check_bands({"low": (200, 100)})


def test_frames_follow_the_offset_and_silence_outside_the_audio() -> None:
    x, kicks, _ = kicks_and_hats()
    f = features_of(x, offset=-1.0, num_frames=14 * FPS)
    low = f.feature("low.onset")
    assert np.array_equal(peak_frames(low), np.rint((kicks + 1.0) * FPS).astype(int))
    assert not low[: FPS - 1].any() and not low[13 * FPS + 2 :].any()


# -- decoding ---------------------------------------------------------------------------------


def test_wav_decodes_without_ffmpeg_and_resamples(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    t = np.arange(44_100) / 44_100
    stereo = np.stack([np.sin(2 * np.pi * 440 * t), 0.5 * np.sin(2 * np.pi * 440 * t)], axis=1)
    wavfile.write(tmp_path / "a.wav", 44_100, (stereo * 20000).astype(np.int16))
    monkeypatch.setattr(imageio_ffmpeg, "get_ffmpeg_exe", lambda: (_ for _ in ()).throw(AssertionError("ffmpeg used")))
    mono = load_audio(tmp_path / "a.wav")
    assert mono.rate == RATE and mono.samples.shape == (1, RATE)
    assert np.abs(mono.samples).max() == pytest.approx(0.75 * 20000 / 32768, rel=0.02)
    stems = load_audio(tmp_path / "a.wav", mono=False)
    assert stems.samples.shape == (2, RATE)


def test_compressed_audio_decodes_through_ffmpeg(tmp_path: Path) -> None:
    x, beats = click_track(128.0, seconds=12.0)
    wav = tmp_path / "c.wav"
    wavfile.write(wav, RATE, x)
    m4a = tmp_path / "c.m4a"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-i", str(wav), "-ac", "2", "-c:a", "aac", str(m4a)], check=True)
    audio = load_audio(m4a, mono=False)
    assert audio.samples.shape[0] == 2 and audio.duration == pytest.approx(12.0, abs=0.05)
    f = analyze_file(m4a, fps=FPS)
    assert f.tempo == pytest.approx(128.0, abs=0.5)


@pytest.mark.parametrize("case", ["missing", "not audio", "silent", "short"])
def test_bad_audio_is_one_error_naming_the_file(tmp_path: Path, case: str) -> None:
    path = tmp_path / "song.wav"
    if case == "not audio":
        path = tmp_path / "song.mp3"
        path.write_text("this is not a song\n")
    elif case == "silent":
        wavfile.write(path, RATE, np.zeros(RATE, np.float32))
    elif case == "short":
        wavfile.write(path, RATE, click_track(seconds=2.0)[0])
    with pytest.raises(AudioError) as error:
        analyze_file(path, fps=FPS, num_frames=5 * FPS)
    message = str(error.value)
    assert str(path) in message and "\n" not in message
    assert {"missing": "no such file", "not audio": "not audio", "silent": "silent", "short": "shorter"}[case] in message


# -- envelopes --------------------------------------------------------------------------------


def test_normalize_maps_the_percentile_to_one() -> None:
    x = np.arange(101, dtype=float)
    assert normalize(x, 100)[-1] == 1.0
    assert normalize(x, 50)[50] == pytest.approx(1.0)
    assert not normalize(np.zeros(5)).any()


def test_attack_decay_rises_fast_and_releases_slowly() -> None:
    x = np.zeros(60)
    x[10] = 1.0
    y = attack_decay(x, fps=30, attack=0.0, decay=0.5)
    assert y[10] == 1.0 and y[9] == 0.0
    assert y[10 + 15] == pytest.approx(np.exp(-15 / 15), rel=1e-9)  # one time constant later: 1/e
    slow = attack_decay(x, fps=30, attack=0.1, decay=0.5)
    assert 0 < slow[10] < 1


def test_causal_smoothing_never_looks_ahead() -> None:
    x = np.zeros(100)
    x[50] = 1.0
    assert not smooth(x, 0.2, fps=30, causal=True)[:50].any()
    assert smooth(x, 0.2, fps=30)[45] > 0
    assert smooth(x, 0.2, fps=30).sum() == pytest.approx(1.0)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(0, 100), min_size=2, max_size=80), st.floats(0.2, 3.0), st.floats(0, 0.5), st.floats(0, 1.0),
       st.floats(0, 0.3), st.booleans())
def test_shaped_envelopes_stay_in_unit_range(values: list[float], gamma: float, attack: float, decay: float,
                                            sigma: float, causal: bool) -> None:
    shaped = shape_envelope(np.array(values), EnvelopeSettings(gamma=gamma, attack=attack, decay=decay, smooth=sigma,
                                                                causal=causal), fps=30)
    assert shaped.shape == (len(values),)
    assert np.all((shaped >= 0) & (shaped <= 1))
