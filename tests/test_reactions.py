"""Audio reactions in scripts: exact psi, keyframes kept under speed, pulses, blends, chroma,
detected beats, chunking invisible, and one-line errors for bad reactions and bad audio."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from renderer import load_generator
from renderer.audio.envelope import shape_envelope
from renderer.audio.features import analyze_file
from renderer.errors import AudioError
from renderer.frames.latents import build_timeline
from renderer.plan.layers import group_layers
from renderer.plan.paths import KeyframePath
from renderer.plan.script import ScriptError, parse_script
from renderer.plan.seeds import seed_to_z
from renderer.plan.speed import SpeedWarped as Retimed
from renderer.plan.speed import compose_positions, retime
from renderer.plan.timeline import concat_chunks, reaction_track_name
from tests.audio_signals import RATE, click_track, kicks_and_hats, write_wav

FPS = 24


@functools.lru_cache(maxsize=1)
def demo():
    return load_generator("demo")


@pytest.fixture(scope="module")
def song(tmp_path_factory: pytest.TempPathFactory) -> Path:
    x, _, _ = kicks_and_hats()
    return write_wav(tmp_path_factory.mktemp("song") / "song.wav", x)


def script_with(song: Path, reactions: list[dict], **top):
    data = {
        "fps": FPS, "models": {"base": "demo"}, "output": {"audio": song.name},
        "keyframes": [{"time": 0, "seed": 1}, {"time": "5s", "seed": 2}, {"time": "10s", "seed": 3}],
        "reactions": reactions, **top,
    }
    return parse_script(data, base_dir=song.parent)


def expected_values(song: Path, script, feature: str, value_range: tuple[float, float]) -> np.ndarray:
    features = analyze_file(song, fps=FPS, num_frames=script.num_frames, percussive=True)
    reaction = script.reactions[0]
    env = shape_envelope(features.feature(feature), reaction.envelope, fps=FPS)
    return value_range[0] + (value_range[1] - value_range[0]) * env


@pytest.mark.parametrize("feature", ["low.onset", "low.percussive"])
def test_psi_equals_the_mapped_feature_at_every_frame(song: Path, feature: str) -> None:
    script = script_with(song, [{"psi": {"feature": feature, "range": [0.5, 1.0]}}])
    tl = build_timeline(script, demo())
    psi = tl.chunk(0, tl.num_frames).psi
    expected = expected_values(song, script, feature, (0.5, 1.0))
    np.testing.assert_allclose(psi, expected.astype(np.float32), rtol=0, atol=1e-7)
    kick_frames = np.rint(np.array([1.0, 2.5, 4.0, 6.2, 8.1]) * FPS).astype(int)
    assert np.all(psi[kick_frames] > 0.8) and psi[kick_frames - 3].max() < 0.55  # pulses on the kicks


def test_psi_on_some_layers_keeps_the_keyframe_psi_on_the_others(song: Path) -> None:
    script = script_with(song, [{"psi": {"feature": "low.onset", "range": [0.2, 1.0], "layers": "coarse"}}])
    G = demo()
    tl = build_timeline(script, G)
    psi = tl.chunk(0, tl.num_frames).psi
    coarse = list(group_layers("coarse", G.num_ws, G.img_resolution))
    assert psi.shape == (tl.num_frames, G.num_ws)
    np.testing.assert_allclose(psi[:, coarse], np.repeat(expected_values(song, script, "low.onset", (0.2, 1.0))[:, None], len(coarse), 1), atol=1e-7)
    others = [i for i in range(G.num_ws) if i not in coarse]
    assert np.all(psi[:, others] == 1.0)


def test_speed_keeps_keyframes_on_their_frames_and_rushes_on_hits(song: Path) -> None:
    plain = build_timeline(script_with(song, []), demo())
    fast = build_timeline(script_with(song, [{"speed": {"feature": "low.rms", "range": [0.2, 3.0]}}]), demo())
    a, b = plain.chunk(0, plain.num_frames).latents, fast.chunk(0, fast.num_frames).latents
    keys = fast.key_frames
    np.testing.assert_allclose(b[keys], fast.keys.latents.astype(np.float32), atol=1e-5)
    assert np.abs(a - b).max() > 0.1  # the path is re-timed between keyframes
    step = np.sqrt(((b[1:] - b[:-1]) ** 2).sum(axis=(1, 2)))
    loud = np.rint(np.array([1.0, 2.5, 4.0, 6.2, 8.1]) * FPS).astype(int)
    assert step[loud].mean() > 3 * np.median(step)  # the latent moves fastest on the kicks


def test_speed_on_coarse_layers_only(song: Path) -> None:
    G = demo()
    plain = build_timeline(script_with(song, []), G).chunk(0, 241).latents
    tl = build_timeline(script_with(song, [{"speed": {"feature": "low.rms", "layers": "coarse"}}]), G)
    fast = tl.chunk(0, tl.num_frames).latents
    coarse = list(group_layers("coarse", G.num_ws, G.img_resolution))
    others = [i for i in range(G.num_ws) if i not in coarse]
    np.testing.assert_array_equal(fast[:, others], plain[:, others])
    assert np.abs(fast[:, coarse] - plain[:, coarse]).max() > 0.1


def test_a_pulse_moves_toward_its_target_and_eases_back(song: Path) -> None:
    G = demo()
    plain = build_timeline(script_with(song, []), G).chunk(0, 241).latents.astype(np.float64)
    script = script_with(song, [{"pulse": {"feature": "low.onset", "seed": 7, "range": [0.0, 0.8], "layers": "coarse"}}])
    tl = build_timeline(script, G)
    w = tl.chunk(0, tl.num_frames).latents.astype(np.float64)
    amount = expected_values(song, script, "low.onset", (0.0, 0.8))
    target = tl.keys.reactions[0].target
    np.testing.assert_allclose(target, G.mapping(__import__("torch").from_numpy(seed_to_z(7, G.z_dim)).float())[0].double().numpy(), atol=1e-5)
    coarse = list(group_layers("coarse", G.num_ws, G.img_resolution))
    expected = plain.copy()
    expected[:, coarse] += amount[:, None, None] * (target[None, coarse] - plain[:, coarse])
    np.testing.assert_allclose(w, expected, atol=2e-5)
    np.testing.assert_allclose(tl.chunk(0, tl.num_frames).tracks[reaction_track_name(0, "pulse")], amount, atol=1e-7)
    kick = round(2.5 * FPS)
    assert amount[kick] == pytest.approx(0.8) and amount[kick + 6] < amount[kick + 1] < 0.8  # eases back


def test_blend_adds_alpha_at_the_layers_resolutions(song: Path) -> None:
    data_models = {"base": "demo", "transfer": "demo-transfer"}
    script = parse_script(
        {"fps": FPS, "models": data_models, "output": {"audio": song.name}, "blend": 0.2,
         "keyframes": [{"time": 0, "seed": 1}, {"time": "10s", "seed": 3}],
         "reactions": [{"blend": {"feature": "high.onset", "layers": "fine"}}]},
        base_dir=song.parent,
    )
    tl = build_timeline(script, demo())
    blend = tl.chunk(0, tl.num_frames).blend
    resolutions = np.array(tl.blend_resolutions)
    value = expected_values(song, script, "high.onset", (0.0, 1.0))
    np.testing.assert_allclose(blend[:, resolutions >= 64], np.clip(0.2 + value[:, None], 0, 1).repeat((resolutions >= 64).sum(), 1), atol=1e-6)
    assert np.all(blend[:, resolutions < 64] == np.float32(0.2))


def test_chroma_pulls_toward_the_seed_of_the_pitch_class(tmp_path: Path) -> None:
    t = np.arange(int(11 * RATE)) / RATE
    song = write_wav(tmp_path / "a.wav", 0.5 * np.sin(2 * np.pi * 440 * t))
    seeds = list(range(100, 112))
    script = script_with(song, [{"chroma": {"seeds": seeds, "range": [0, 1.0], "gamma": 4.0}}])
    G = demo()
    tl = build_timeline(script, G)
    w = tl.chunk(100, 101).latents[0]
    a_seed = tl.keys.reactions[0].target[9]  # A is pitch class 9
    others = np.delete(tl.keys.reactions[0].target, 9, axis=0)
    assert np.abs(w - a_seed).mean() < 0.3 * np.abs(others - a_seed).mean()


def test_every_reaction_is_exact_in_any_chunking(song: Path) -> None:
    script = parse_script(
        {"fps": FPS, "models": {"base": "demo", "transfer": "demo-transfer"}, "output": {"audio": song.name},
         "path": {"loop": True, "smooth": 0.1, "lag": {"fine": "3f"}},
         "keyframes": [{"time": 0, "seed": 1}, {"time": "4s", "seed": 2}, {"time": "8s", "seed": 3}],
         "reactions": [
             {"speed": {"feature": "rms", "range": [0.5, 2.0], "layers": "middle"}},
             {"psi": {"feature": "low.onset", "range": [0.6, 1.0]}},
             {"pulse": {"feature": "high.onset", "seed": 9, "range": [0, 0.5], "layers": "fine"}},
             {"blend": {"feature": "mid.onset", "layers": "coarse", "causal": True, "smooth": 0.1}},
             {"chroma": {"seeds": list(range(12)), "range": [0, 0.3], "layers": "middle"}},
             {"noise": {"feature": "high.rms", "range": [0.5, 3.0], "layers": "4-9"}},
         ]},
        base_dir=song.parent,
    )
    tl = build_timeline(script, demo())
    whole = tl.chunk(0, tl.num_frames)
    parts = concat_chunks([tl.chunk(a, min(a + 7, tl.num_frames)) for a in range(0, tl.num_frames, 7)])
    np.testing.assert_array_equal(parts.latents, whole.latents)
    for name in whole.tracks:
        np.testing.assert_array_equal(parts.tracks[name], whole.tracks[name])
    assert {"noise", "blend", "reaction5.noise", "reaction4.chroma"} <= set(whole.tracks)
    # A blended render with per-frame noise strengths draws the same frames in any batching.
    from renderer.frames.pipeline import FramePipeline
    from renderer.models.blending import blend_per_frame

    G = blend_per_frame([demo(), load_generator("demo-transfer")])
    picks = np.array([3, 40, 41, 100])
    one = np.concatenate(list(FramePipeline(tl, G, batch_size=1, resolution=32).frames_at(picks)))
    four = np.concatenate(list(FramePipeline(tl, G, batch_size=4, resolution=32).frames_at(picks)))
    np.testing.assert_array_equal(one, four)


# -- beats from the song -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def clicks(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    x, beats = click_track(128.0, seconds=20.0, start=0.4)
    return write_wav(tmp_path_factory.mktemp("clicks") / "clicks.wav", x), beats


def test_bpm_auto_and_detected_beats(clicks: tuple[Path, np.ndarray]) -> None:
    song, beats = clicks
    data = {"fps": 30, "bpm": "auto", "models": {"base": "demo"}, "output": {"audio": song.name},
            "keyframes": [{"time": "0b", "seed": 1}, {"time": "16b", "seed": 2}, {"time": "16.5b", "seed": 3}]}
    grid = parse_script(data, base_dir=song.parent)
    assert grid.bpm == pytest.approx(128.0, abs=0.5)
    assert grid.keyframes[1].frame == round(16 * 60 / grid.bpm * 30)  # a grid from time 0
    detected = parse_script({**data, "beats": "detected"}, base_dir=song.parent)
    found = analyze_file(song, fps=30).beats
    assert [k.frame for k in detected.keyframes] == [round(found[0] * 30), round(found[16] * 30), round((found[16] + found[17]) / 2 * 30)]
    assert abs(detected.keyframes[1].frame - beats[16] * 30) <= 1  # on the 16th beat of the song (counting from 0)
    assert detected.beat(detected.keyframes[1].frame) == pytest.approx(16, abs=0.1)


def test_detected_beats_follow_the_audio_offset(clicks: tuple[Path, np.ndarray]) -> None:
    song, beats = clicks
    data = {"fps": 30, "beats": "detected", "models": {"base": "demo"},
            "output": {"audio": song.name, "audio_offset": 2.0},
            "keyframes": [{"time": "0b", "seed": 1}, {"time": "4b", "seed": 2}]}
    script = parse_script(data, base_dir=song.parent)
    after = beats[beats >= 2.0] - 2.0
    frames = np.array([k.frame for k in script.keyframes])
    assert np.abs(frames - np.array([after[0], after[4]]) * 30).max() <= 1
    detected = analyze_file(song, fps=30, offset=2.0).beats
    detected = detected[detected >= 2.0] - 2.0
    assert frames.tolist() == [round(detected[0] * 30), round(detected[4] * 30)]


# -- mistakes ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("reaction", "message"), [
    ({"psi": {"feature": "lows.onset"}}, "reactions[0].psi.feature: 'lows.onset' is not a feature"),
    ({"psi": {"feature": "low.onset", "range": [1]}}, "reactions[0].psi.range: must be [low, high]"),
    ({"speed": {"range": [0, 2]}}, "reactions[0].speed.range: speeds must be > 0"),
    ({"pulse": {"range": [0, 1]}}, "reactions[0].pulse: no latent source"),
    ({"chroma": {"seeds": [1, 2]}}, "reactions[0].chroma.seeds: needs 12 seeds"),
    ({"blend": {}}, "reactions[0].blend: blending needs a transfer model"),
    ({"psi": {}, "speed": {}}, "reactions[0]: give exactly one target"),
    ({"psy": {}}, "did you mean 'psi'"),
    ({"psi": {"decay": -1}}, "reactions[0].psi.decay: must be >= 0"),
    ({"psi": {"audio": "drums.wav"}}, "reactions[0].psi.audio: audio file 'drums.wav' not found"),
])
def test_bad_reactions_fail_validation_naming_the_key(song: Path, reaction: dict, message: str) -> None:
    with pytest.raises(ScriptError, match=message.replace("[", r"\[").replace("]", r"\]").replace("(", r"\(")):
        script_with(song, [reaction])


def test_a_reaction_needs_a_song(song: Path) -> None:
    with pytest.raises(ScriptError, match="needs audio"):
        parse_script({"models": {"base": "demo"}, "keyframes": [{"time": 0, "seed": 1}],
                      "reactions": [{"psi": {}}]}, base_dir=song.parent)


def test_a_stem_shorter_than_the_video_is_one_line_naming_it(song: Path, tmp_path: Path) -> None:
    stem = write_wav(tmp_path / "drums.wav", kicks_and_hats(seconds=4.0, kicks=(1.0,), hats=(2.0,))[0])
    with pytest.raises(AudioError, match=r"drums.wav: 4.00 s is shorter than the video"):
        script_with(song, [{"psi": {"audio": str(stem)}}])


# -- re-timing ---------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0.0, 10.0), min_size=30, max_size=30), st.sets(st.integers(1, 29), max_size=5), st.booleans())
def test_retime_is_monotone_and_keeps_keyframes(speed: list[float], inner: set[int], loop: bool) -> None:
    keys = np.array(sorted({0, *inner, *([] if loop else [30])}))
    positions = retime(np.array(speed), keys, num_frames=30, loop=loop)
    assert np.all(np.diff(positions) > 0)
    np.testing.assert_array_equal(positions[keys], keys.astype(float))


def test_retime_spends_frames_where_speed_is_low() -> None:
    speed = np.where(np.arange(20) < 10, 0.1, 1.0)
    positions = retime(speed, np.array([0, 20]), num_frames=20)
    assert positions[10] < 3.0  # the slow half covers little of the segment
    assert compose_positions(positions, np.arange(21.0)).tolist() == positions.tolist()
    line = KeyframePath(np.array([0.0, 20.0]), np.array([[0.0], [20.0]]), interpolation=["linear"], easing=["linear"])
    assert Retimed(line, positions)(np.array([0.0, 10.0, 20.0]))[:, 0].tolist() == [0.0, positions[10], 20.0]


def test_noise_scales_the_noise_inputs_of_its_layers(song: Path) -> None:
    import torch

    from renderer.frames.pipeline import FramePipeline

    G = demo()
    script = script_with(song, [{"noise": {"feature": "high.onset", "range": [0.0, 40.0], "layers": "fine"}}])
    tl = build_timeline(script, G)
    chunk = tl.chunk(0, tl.num_frames)
    fine = list(group_layers("fine", G.num_ws, G.img_resolution))
    value = expected_values(song, script, "high.onset", (0.0, 40.0))
    np.testing.assert_allclose(chunk.noise[:, fine], np.repeat(value[:, None], len(fine), 1), atol=1e-5)
    assert np.all(np.delete(chunk.noise, fine, axis=1) == 1.0)
    # Frames render with those strengths: a hat frame (noise x40 on fine layers) differs from the same
    # latent rendered with the trained strengths; a silent frame (x0) differs the other way.
    hat = round(1.7 * FPS)
    pipeline = FramePipeline(tl, G, batch_size=2, resolution=64)
    frames = np.concatenate(list(pipeline.frames_at(np.array([hat]))))
    ws = pipeline.ws(tl.chunk(hat, hat + 1))
    from renderer.frames.images import to_uint8
    from renderer.models.synthesizer import FrameNoise

    def with_gains(factors: np.ndarray) -> FrameNoise:
        # Conv layer c reads w index c: its strength is scaled by column c.
        layers = G.num_ws - 1
        return FrameNoise((None,) * layers, tuple(torch.from_numpy(factors[:, c].astype(np.float32)) for c in range(layers)))

    plain = G.synthesis(ws, noise_mode="const", max_resolution=64)
    scaled = G.synthesis(ws, noise_mode="const", max_resolution=64, noise=with_gains(chunk.noise[hat : hat + 1]))
    assert np.array_equal(frames[0], to_uint8(scaled)[0].cpu().numpy())
    # The trained demo uses little noise on its fine layers: x40 moves the 64 px image by 0.82 levels.
    assert (to_uint8(plain).float() - to_uint8(scaled).float()).abs().mean() > 0.5
    ones = G.synthesis(ws, noise_mode="const", max_resolution=64, noise=with_gains(np.ones((1, G.num_ws))))
    assert torch.equal(ones, plain)  # a factor of 1 is the trained strength, bit for bit


CPU1 = {"device": "cpu", "batch_size": 1}


def test_a_resume_key_changes_with_the_song_a_reaction_reads(tmp_path: Path) -> None:
    from renderer.frames.latents import resolve_keyframes
    from renderer.jobs.job import RenderSettings, resolve_job

    x, _, _ = kicks_and_hats()
    song = write_wav(tmp_path / "song.wav", x)
    script = script_with(song, [{"psi": {}}])
    keys = resolve_keyframes(script, demo())
    before = resolve_job(script, RenderSettings(device="cpu")).journal_key(keys, CPU1)
    write_wav(song, x * 0.5)
    assert resolve_job(script, RenderSettings(device="cpu")).journal_key(keys, CPU1) != before
