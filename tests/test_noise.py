"""Noise for renders: constant by default (unchanged), animated maps smooth in time, looping,
chunk-invariant, and a strength track per layer group."""

from __future__ import annotations

import copy
import functools
from pathlib import Path

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose

from renderer.frames.latents import build_timeline
from renderer.frames.noise import FrameNoiseSource, bspline_weights
from renderer.frames.pipeline import FramePipeline
from renderer.models.blending import BlendedGenerator, alphas_to_model_weights, blend
from renderer.models.stylegan2 import Generator
from renderer.models.synthesizer import FrameNoise
from renderer.plan.noise import NoiseSettings
from renderer.plan.script import ScriptError, parse_script
from tests.test_blending import small_config


@functools.lru_cache(maxsize=1)
def small() -> Generator:
    torch.manual_seed(0)
    G = Generator(small_config("skip"))
    with torch.no_grad():
        for layer in G._noise_layers():
            layer.noise_strength.fill_(0.3)  # noise visible in the pixels
    return G


def timeline(noise=None, *, loop: bool = False, fps: float = 8, **extra):
    data = {"fps": fps, "models": {"base": "demo"}, "path": {"space": "w", "loop": loop},
            "keyframes": [{"time": 0, "seed": 1, "psi": 0.7}, {"time": "2s", "seed": 2}], **extra}
    if noise is not None:
        data["noise"] = noise
    return build_timeline(parse_script(data, base_dir=Path.cwd()), small())


def render(tl, G=None, *, batch_size: int = 4, splits: tuple[int, ...] = ()) -> np.ndarray:
    pipeline = FramePipeline(tl, G or small(), batch_size=batch_size)
    edges = [0, *splits, tl.num_frames]
    return np.concatenate([b for a, z in zip(edges, edges[1:], strict=False) for b in pipeline.frames(a, z)])


def test_const_noise_is_the_default_and_unchanged() -> None:
    plain = timeline()
    assert plain.noise is None
    const = timeline("const")
    assert const.noise is None  # nothing per frame to do: the stored maps, as before
    assert np.array_equal(render(plain), render(const))


def test_animated_noise_is_chunk_and_batch_invariant() -> None:
    tl = timeline({"mode": "random", "every": "0.5s", "seed": 3}, fps=4)
    whole = render(tl, batch_size=1)
    assert np.array_equal(whole, render(tl, batch_size=1, splits=(3, 5)))
    assert_allclose(whole, render(tl, batch_size=3, splits=(4,)), atol=1)  # batched convs may round differently
    source = FrameNoiseSource(tl.noise, num_ws=small().num_ws, img_resolution=32)
    frames = np.arange(0, 17)
    at_once = source.maps(frames, 4).numpy()
    fresh = FrameNoiseSource(tl.noise, num_ws=small().num_ws, img_resolution=32)  # another segment's process
    one_by_one = np.concatenate([fresh.maps(frames[i : i + 1], 4).numpy() for i in frames[::-1]])[::-1]
    assert np.array_equal(at_once, one_by_one)


def test_animated_noise_moves_smoothly_with_the_trained_statistics() -> None:
    source = FrameNoiseSource(NoiseSettings(mode="random", every=8.0, seed=1), num_ws=10, img_resolution=32)
    maps = source.maps(np.arange(0, 400), 8).reshape(400, -1).double().numpy()  # a 32x32 layer
    assert abs(maps.std() - 1) < 0.02 and abs(maps.mean()) < 0.02
    per_frame_std = maps.std(axis=1)
    assert np.all(np.abs(per_frame_std - 1) < 0.15)  # every frame is unit-variance noise
    step = np.linalg.norm(np.diff(maps, axis=0), axis=1)
    far = np.linalg.norm(maps[40:] - maps[:-40], axis=1)
    assert step.max() < 0.35 * far.mean()  # neighbours are close, keys apart are independent
    bend = np.linalg.norm(np.diff(maps, 2, axis=0), axis=1)
    assert bend.max() < 0.5 * step.mean()  # bends gently ...
    assert bend.max() < 1.5 * np.median(bend)  # ... and evenly: no kinks at the keys (C2 B-spline)
    assert_allclose(bspline_weights(np.linspace(0, 0.99, 7)).sum(axis=1), 1.0)


@pytest.mark.parametrize("noise", [{"mode": "random", "every": "0.5s"}, {"mode": "loop", "every": "0.5s", "period": "1s"}])
def test_noise_loops_with_the_path_or_its_period(noise: dict) -> None:
    tl = timeline(noise, loop=True)
    period = tl.noise.period
    assert period == (8.0 if noise["mode"] == "loop" else float(tl.num_frames))
    source = FrameNoiseSource(tl.noise, num_ws=small().num_ws, img_resolution=32)
    frames = np.arange(tl.num_frames)
    assert_allclose(source.maps(frames + int(period), 6), source.maps(frames, 6), atol=1e-6)
    # The seam is as smooth as the rest: the last frame steps into the first like any other step.
    maps = source.maps(np.arange(int(period) + 1), 6).reshape(int(period) + 1, -1).numpy()
    steps = np.linalg.norm(np.diff(maps, axis=0), axis=1)
    assert steps[-1] <= 1.05 * steps[:-1].max()


@pytest.mark.parametrize("keys", [1, 2, 3])
def test_short_noise_loops_keep_unit_variance(keys: int) -> None:
    """With fewer than four keys per period, a frame's four B-spline keys repeat; their weights add up."""
    source = FrameNoiseSource(NoiseSettings(mode="loop", every=8.0, period=8.0 * keys, seed=1), num_ws=10, img_resolution=32)
    maps = source.maps(np.arange(0, 8 * keys + 1), 8).reshape(8 * keys + 1, -1).numpy()
    assert np.all(np.abs(maps.std(axis=1) - 1) < 0.15)
    assert np.array_equal(maps[0], maps[-1])


def test_random_noise_without_a_loop_does_not_repeat() -> None:
    tl = timeline({"mode": "random", "every": "0.5s"})
    assert tl.noise.period is None
    source = FrameNoiseSource(tl.noise, num_ws=small().num_ws, img_resolution=32)
    assert not np.allclose(source.maps(np.array([0]), 6), source.maps(np.array([tl.num_frames]), 6))


def test_frame_noise_maps_equal_stored_buffers_frame_by_frame() -> None:
    G = small()
    ws = G.mapping(torch.randn(3, G.z_dim, generator=torch.Generator().manual_seed(2)))
    source = FrameNoiseSource(NoiseSettings(mode="random", every=2.0, seed=4), num_ws=G.num_ws, img_resolution=32)
    frames = np.array([0, 5, 9])
    noise = source.frame_noise(frames, None, G.device)
    batched = G.synthesis(ws, noise=noise)
    for i in range(3):
        other = copy.deepcopy(G)
        other.set_noise_buffers([m[i, 0] for m in noise.maps])
        torch.testing.assert_close(batched[i : i + 1], other.synthesis(ws[i : i + 1]), atol=1e-5, rtol=0)


def test_strength_track_scales_each_group() -> None:
    G = small()
    tl = timeline({"strength": {"coarse": 0, "middle": 0, "fine": 0}}, fps=2)
    silent = render(tl)
    pipeline = FramePipeline(tl, G, batch_size=tl.num_frames)
    chunk = tl.chunk(0, tl.num_frames)
    none = G.synthesis(pipeline.ws(chunk), noise_mode="none")
    assert_allclose(silent.astype(float), np.moveaxis(((none * 127.5 + 128).clamp(0, 255)).to(torch.uint8).numpy(), 1, 3), atol=1)
    ramp = timeline({"strength": {"middle": "0:(0), 15:(4)"}})
    assert_allclose(ramp.chunk(0, 16).tracks["noise_strength"][[0, 15], 0], [0, 4], atol=1e-6)
    frames = render(ramp).astype(float)
    loud = render(timeline()).astype(float)
    assert np.abs(frames[0] - loud[0]).mean() > 0.1  # middle noise off at the start
    assert np.abs(frames[15] - loud[15]).mean() > np.abs(frames[0] - loud[0]).mean()


def test_per_frame_blends_take_frame_noise_like_the_static_blend() -> None:
    base = small()
    other = copy.deepcopy(base)
    with torch.no_grad():
        for t in other.state_dict().values():
            if t.is_floating_point():
                t += 0.2 * torch.randn(t.shape, generator=torch.Generator().manual_seed(5))
    G = BlendedGenerator([base, other])
    alphas = np.array([[0.0, 0.2, 0.5, 1.0], [1.0, 0.7, 0.3, 0.1], [0.4, 0.4, 0.4, 0.4]])
    ws = base.mapping(torch.randn(3, base.z_dim, generator=torch.Generator().manual_seed(1)))
    source = FrameNoiseSource(NoiseSettings(mode="random", every=3.0, seed=2), num_ws=base.num_ws, img_resolution=32)
    gains = np.array([[0.5, 2.0, 1.0], [0.0, 1.0, 3.0], [1.0, 1.0, 1.0]], dtype=np.float32)
    source.strength_column = [0 if r <= 8 else 1 if r <= 32 else 2 for r in source.resolutions]
    noise = source.frame_noise(np.array([1, 4, 8]), gains, base.device)
    batched = G.synthesis(ws, model_weights=alphas_to_model_weights(alphas), noise=noise)
    for i in range(3):
        static = blend(base, other, {int(r): float(a) for r, a in zip(G.resolutions, alphas[i], strict=True)})
        one = FrameNoise(tuple(m[i : i + 1] for m in noise.maps), tuple(g[i : i + 1] for g in noise.gains))
        torch.testing.assert_close(batched[i : i + 1], static.synthesis(ws[i : i + 1], noise=one), atol=1e-4, rtol=0)


@pytest.mark.parametrize(
    ("noise", "fragment"),
    [
        ("wobble", "noise: 'wobble' is not accepted"),
        ({"mode": "random", "every": 0}, "noise.every: must be at least one frame"),
        ({"mode": "const", "every": "1s"}, "noise.every: is for animated noise"),
        ({"mode": "random", "period": "1s"}, "noise.period: is for mode = \"loop\""),
        ({"mode": "loop", "every": "1s", "period": "0.5s"}, "noise.period: must be at least noise.every"),
        ({"strength": {"top": 1}}, "noise.strength: unknown layer group 'top'"),
        ({"strength": {"fine": "0:(1), 99:(0)"}}, "noise.strength.fine: times at frames [99] fall after"),
        ({"strength": {"fine": True}}, "noise.strength.fine: must be a number"),
        ({"speed": 1}, "noise: unknown key 'speed'"),
    ],
)
def test_bad_noise_settings_fail_in_validation(noise: object, fragment: str) -> None:
    with pytest.raises(ScriptError) as e:
        timeline(noise)
    assert fragment in str(e.value) and "\n" not in str(e.value)


def test_noise_settings_change_the_resume_key(tmp_path: Path) -> None:
    from renderer.jobs.job import resolve_job

    def key(noise):
        data = {"fps": 8, "models": {"base": "demo"}, "keyframes": [{"time": 0, "seed": 1}, {"time": 1, "seed": 2}]}
        if noise:
            data["noise"] = noise
        job = resolve_job(parse_script(data, base_dir=tmp_path))
        return job.journal_key(build_timeline(job.script, small()).keys, {"device": "cpu", "batch_size": 1})["resolved settings"]

    assert key(None) != key({"mode": "random"}) != key({"mode": "random", "seed": 2})
