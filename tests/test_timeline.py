"""Per-frame tracks from scripts: keyframes reached, shells kept, chunking invisible, smoothing in seconds."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from renderer import load_generator
from renderer.frames.latents import build_timeline
from renderer.plan.layers import group_layers, layer_resolution
from renderer.plan.script import parse_script

SEEDS = [3, 14, 15, 92, 65]


@functools.lru_cache(maxsize=1)
def demo():
    return load_generator("demo")


def timeline(path: dict | None = None, keyframes: list[dict] | None = None, **top):
    keys = keyframes or [{"time": f"{i}s", "seed": s} for i, s in enumerate(SEEDS)]
    data = {"fps": 12, "models": {"base": "demo"}, "path": path or {}, "keyframes": keys, **top}
    return build_timeline(parse_script(data, base_dir=Path.cwd()), demo())


def full(tl):
    return tl.chunk(0, tl.num_frames)


@pytest.mark.parametrize("space", ["z", "w"])
@pytest.mark.parametrize("kind", ["hold", "linear", "slerp", "cubic", "catmull-rom", "pchip"])
@pytest.mark.parametrize("loop", [False, True])
def test_keyframes_are_reached_exactly(space: str, kind: str, loop: bool) -> None:
    tl = timeline({"space": space, "interpolation": kind, "loop": loop, "easing": "smoothstep"})
    lat = full(tl).latents
    keys = tl.key_frames.astype(int)
    np.testing.assert_allclose(lat[keys], tl.keys.latents.astype(np.float32), atol=1e-5)
    if loop:
        assert tl.num_frames == 60 and not np.allclose(lat[-1], lat[0])  # the last frame is not the first


@pytest.mark.parametrize("kind", ["linear", "cubic", "catmull-rom", "pchip", "slerp"])
def test_z_paths_stay_on_the_shell_of_their_keyframes(kind: str) -> None:
    tl = timeline({"space": "z", "interpolation": kind})
    chunk = full(tl)
    norms = np.linalg.norm(tl.keys.latents, axis=1)
    expected = np.interp(chunk.frames, tl.key_frames, norms)
    np.testing.assert_allclose(np.linalg.norm(chunk.latents, axis=1), expected, rtol=1e-5)


def test_w_paths_are_not_renormalised() -> None:
    tl = timeline({"space": "w", "interpolation": "linear"})
    lat = full(tl).latents
    midpoint = (tl.keys.latents[0] + tl.keys.latents[1]) / 2
    np.testing.assert_allclose(lat[6], midpoint, atol=1e-5)


CHUNKY = {"space": "w", "loop": True, "smooth": 0.3, "pin_keyframes": True, "pca": 8, "lag": {"coarse": -0.2, "fine": "3f"}}


@settings(max_examples=15, deadline=None)
@given(size=st.integers(1, 70))
def test_chunking_never_changes_the_result(size: int) -> None:
    tl = CHUNK_TIMELINE
    chunks = list(tl.chunks(size))
    assert sum(len(c.frames) for c in chunks) == tl.num_frames
    for name in ("latents", "psi", "time", "blend"):
        joined = np.concatenate([getattr(c, name) for c in chunks])
        assert np.array_equal(joined, getattr(CHUNK_FULL, name)), name


CHUNK_TIMELINE = timeline(
    CHUNKY,
    keyframes=[{"time": f"{i}s", "seed": s, "psi": 0.5 + 0.1 * i, "blend": {"swap": 4 * 2**i}} for i, s in enumerate(SEEDS)],
    models={"base": "demo", "transfer": "demo-transfer"},
)
CHUNK_FULL = full(CHUNK_TIMELINE)


def test_layer_groups_follow_resolution() -> None:
    G = demo()  # 256 px: 14 ws
    assert [layer_resolution(i, 256) for i in range(G.num_ws)] == [4, 8, 8, 16, 16, 32, 32, 64, 64, 128, 128, 256, 256, 256]
    assert group_layers("coarse", G.num_ws, 256) == (0, 1, 2)
    assert group_layers("middle", G.num_ws, 256) == (3, 4, 5, 6)
    assert group_layers("fine", G.num_ws, 256) == tuple(range(7, 14))


def test_lagging_layers_reach_keyframes_late_and_leading_ones_early() -> None:
    tl = timeline({"space": "w", "lag": {"coarse": "-2f", "fine": "3f"}})
    lat = full(tl).latents
    coarse, middle, fine = (list(group_layers(g, 14, 256)) for g in ("coarse", "middle", "fine"))
    for k, frame in enumerate(tl.key_frames.astype(int)[1:-1], start=1):
        key = tl.keys.latents[k].astype(np.float32)
        np.testing.assert_allclose(lat[frame][middle], key[middle], atol=1e-5)
        np.testing.assert_allclose(lat[frame - 2][coarse], key[coarse], atol=1e-5)
        np.testing.assert_allclose(lat[frame + 3][fine], key[fine], atol=1e-5)
        assert not np.allclose(lat[frame][fine], key[fine], atol=1e-3)


def test_style_mix_replaces_only_its_layers() -> None:
    keys = [{"time": 0, "seed": 1}, {"time": "1s", "seed": 1, "mix": {"layers": "fine", "seed": 2}}]
    tl = timeline({"space": "w"}, keyframes=keys)
    plain = timeline({"space": "w"}, keyframes=[{"time": 0, "seed": 2}, {"time": "1s", "seed": 1}])
    mixed = tl.keys.latents[1]
    fine = list(group_layers("fine", 14, 256))
    rest = [i for i in range(14) if i not in fine]
    np.testing.assert_array_equal(mixed[fine], plain.keys.latents[0][fine])
    np.testing.assert_array_equal(mixed[rest], tl.keys.latents[0][rest])


def test_pca_keeps_keyframes_and_confines_the_curve() -> None:
    tl = timeline({"space": "w", "interpolation": "cubic", "pca": 4})
    free = timeline({"space": "w", "interpolation": "cubic"})
    line = timeline({"space": "w", "interpolation": "linear"})
    lat, curve, straight = full(tl).latents, full(free).latents, full(line).latents
    keys = tl.key_frames.astype(int)
    np.testing.assert_allclose(lat[keys], tl.keys.latents.astype(np.float32), atol=1e-5)
    deviation = (lat - straight).astype(np.float64)
    basis = tl.keys.pca_basis
    outside = deviation - deviation @ basis @ basis.T
    assert np.abs(outside).max() < 1e-4  # what remains of the curve lies in the top-4 directions
    assert np.abs(lat - curve).max() > 0.1  # and it differs from the unconstrained spline


def test_smoothing_is_in_seconds_not_frames() -> None:
    slow = timeline({"space": "w", "interpolation": "linear", "smooth": 0.25})
    fast_keys = [{"time": f"{i}s", "seed": s} for i, s in enumerate(SEEDS)]
    fast = timeline({"space": "w", "interpolation": "linear", "smooth": 0.25}, keyframes=fast_keys, fps=48)
    a, b = full(slow).latents, full(fast).latents[::4]
    # Same sigma in seconds: the 48 fps track sampled every 4th frame matches the 12 fps one.
    assert np.abs(a - b).max() < 0.05 * np.abs(a).max()
    raw = full(timeline({"space": "w", "interpolation": "linear"})).latents
    assert np.abs(a - raw).max() > 0.05  # and smoothing did something


def test_pinning_restores_keyframes_after_smoothing() -> None:
    loose = timeline({"space": "w", "smooth": 0.3})
    pinned = timeline({"space": "w", "smooth": 0.3, "pin_keyframes": True})
    keys = loose.key_frames.astype(int)
    target = loose.keys.latents.astype(np.float32)
    assert np.abs(full(loose).latents[keys] - target).max() > 0.05
    np.testing.assert_allclose(full(pinned).latents[keys], target, atol=1e-4)


def test_smoothed_z_is_renormalised() -> None:
    tl = timeline({"space": "z", "interpolation": "linear", "smooth": 0.4, "loop": True})
    chunk = full(tl)
    norms = np.linalg.norm(tl.keys.latents, axis=1)
    shell = np.interp(chunk.frames, np.append(tl.key_frames, tl.num_frames), np.append(norms, norms[0]))
    np.testing.assert_allclose(np.linalg.norm(chunk.latents, axis=1), shell, rtol=1e-5)


def test_psi_track_never_overshoots_its_keyframes() -> None:
    keys = [{"time": f"{i}s", "seed": s, "psi": p} for i, (s, p) in enumerate(zip(SEEDS, [0.5, 1.0, 0.9, 0.4, 0.45], strict=True))]
    psi = full(timeline({"space": "w"}, keyframes=keys)).psi
    for i in range(4):
        seg = psi[i * 12 : (i + 1) * 12 + 1]
        lo, hi = sorted([keys[i]["psi"], keys[i + 1]["psi"]])
        assert lo - 1e-6 <= seg.min() and seg.max() <= hi + 1e-6


def test_schedule_track_and_cutoff() -> None:
    tl = timeline({"space": "w"}, tracks={"psi": "0:(0.5), 24:(1.0)"})
    psi = full(tl).psi
    assert psi[0] == pytest.approx(0.5) and psi[24] == pytest.approx(1.0) and psi[-1] == pytest.approx(1.0)
    keys = [{"time": 0, "seed": 1, "truncation_cutoff": 4}, {"time": "1s", "seed": 2, "truncation_cutoff": 8}]
    cutoff = full(timeline({"space": "w"}, keyframes=keys)).truncation_cutoff
    assert cutoff is not None and cutoff.dtype == np.int64 and cutoff[0] == 4 and cutoff[-1] == 8
    assert full(timeline({"space": "w"})).truncation_cutoff is None


def test_latent_files_in_every_layout(tmp_path: Path) -> None:
    G = demo()
    wplus = np.random.RandomState(0).randn(1, G.num_ws, G.w_dim).astype(np.float32)
    np.savez(tmp_path / "projected_w.npz", w=wplus)
    np.save(tmp_path / "wplus.npy", wplus[0])
    np.savez(tmp_path / "z.npz", z=np.ones(G.z_dim))
    keys = [
        {"time": 0, "latent": "projected_w.npz"},
        {"time": "1s", "latent": "wplus.npy"},
        {"time": "2s", "latent": "z.npz"},
        {"time": "3s", "w": np.zeros(G.w_dim).tolist()},
    ]
    data = {"fps": 12, "models": {"base": "demo"}, "path": {"space": "w"}, "keyframes": keys}
    tl = build_timeline(parse_script(data, base_dir=tmp_path), G)
    np.testing.assert_allclose(tl.keys.latents[0], wplus[0], atol=1e-6)
    np.testing.assert_allclose(tl.keys.latents[1], wplus[0], atol=1e-6)
    assert tl.keys.latents.shape == (4, G.num_ws, G.w_dim) and not tl.keys.latents[2].std(0).any()


def test_projected_w_fixture_keyframe(fixtures: Path) -> None:
    """NVIDIA's projector layout, as shipped in the fixtures, is a valid keyframe for its model."""
    data = {
        "fps": 10,
        "models": {"base": str(fixtures / "nvidia_base.pkl")},
        "path": {"space": "w"},
        "keyframes": [{"time": 0, "latent": str(fixtures / "projected_w.npz")}, {"time": "1s", "seed": 0}],
    }
    tl = build_timeline(parse_script(data), load_generator(fixtures / "nvidia_base.pkl"))
    w = np.load(fixtures / "projected_w.npz")["w"][0]
    np.testing.assert_allclose(full(tl).latents[0], w, atol=1e-6)


MORPH = {"base": "demo", "transfer": "demo-transfer"}


def test_blend_track_reaches_each_keyframes_alphas_and_inherits() -> None:
    keys = [
        {"time": 0, "seed": 1},  # before the first blend: the base model (alpha 0)
        {"time": "1s", "seed": 2, "blend": {"swap": 8}},
        {"time": "2s", "seed": 3},  # inherits swap 8
        {"time": "3s", "seed": 4, "blend": {"4": 1.0, "256": 0.0}},
    ]
    tl = timeline({"space": "w"}, keyframes=keys, models=MORPH)
    blend = full(tl).blend
    assert blend is not None and blend.shape == (tl.num_frames, 7)
    assert tl.blend_resolutions == (4, 8, 16, 32, 64, 128, 256)
    np.testing.assert_array_equal(blend[0], 0)
    np.testing.assert_array_equal(blend[12], [1, 1, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(blend[18], [1, 1, 0, 0, 0, 0, 0])  # held between equal keys
    np.testing.assert_allclose(blend[36], [1, 5 / 6, 4 / 6, 3 / 6, 2 / 6, 1 / 6, 0], atol=1e-6)
    # Between keyframes the alphas move monotonically (pchip never overshoots): no flicker.
    assert np.all(np.diff(blend[:13, 0]) >= 0) and blend[:13].min() >= 0 and blend[:13].max() <= 1


def test_no_blend_keyframes_means_no_blend_track() -> None:
    assert full(timeline({"space": "w"}, models=MORPH)).blend is None


def test_blend_track_is_smoothed_like_psi() -> None:
    keys = [{"time": 0, "seed": 1, "blend": 0}, {"time": "1s", "seed": 1, "blend": 1}, {"time": "2s", "seed": 1, "blend": 1}]
    raw = full(timeline({"space": "w", "interpolation": "linear"}, keyframes=keys, models=MORPH)).blend
    smooth = full(timeline({"space": "w", "interpolation": "linear", "smooth": 0.2}, keyframes=keys, models=MORPH)).blend
    assert raw is not None and smooth is not None
    assert np.abs(smooth - raw).max() > 0.01 and smooth[0, 0] > 0  # the ramp starts earlier
