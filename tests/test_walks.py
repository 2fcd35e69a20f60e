"""Generated walks: seeded keyframes and seamless noise loops, validated like typed keyframes."""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose

from renderer import load_generator
from renderer.frames.latents import build_timeline
from renderer.plan.script import ScriptError, parse_script
from renderer.plan.walks import loop_z, walk_seeds
from tests.test_cli import invoke
from tests.test_paths import seam_slopes


@functools.lru_cache(maxsize=1)
def demo():
    return load_generator("demo")


def script(walks: list[dict], keyframes: list[dict] | None = None, path: dict | None = None, **top):
    data = {"fps": 12, "models": {"base": "demo"}, "path": path or {}, "walks": walks, **top}
    if keyframes is not None:
        data["keyframes"] = keyframes
    return parse_script(data, base_dir=Path.cwd())


def test_a_seeded_walk_is_deterministic_and_fills_its_span() -> None:
    walk = [{"start": "1s", "end": "5s", "every": "1s", "seed": 7, "psi": 0.6}]
    a, b = script(walk), script(walk)
    assert a.keyframes == b.keyframes
    assert [k.frame for k in a.keyframes] == [12, 24, 36, 48, 60]
    assert [k.source.seed for k in a.keyframes] == walk_seeds(7, 5)
    assert script([{**walk[0], "seed": 8}]).keyframes != a.keyframes
    assert a.keyframe_psi() == [0.6] * 5


def test_walk_keyframes_equal_the_same_keyframes_typed() -> None:
    walked = script([{"end": "2s", "every": "1s", "seeds": [4, 9], "easing": "smoothstep"}],
                    keyframes=[{"time": "0.5s", "seed": 1, "psi": 0.5}])
    typed = parse_script({"fps": 12, "models": {"base": "demo"}, "keyframes": [
        {"time": 0, "seed": 4, "easing": "smoothstep"}, {"time": "0.5s", "seed": 1, "psi": 0.5},
        {"time": "1s", "seed": 9, "easing": "smoothstep"}, {"time": "2s", "seed": 4, "easing": "smoothstep"},
    ]}, base_dir=Path.cwd())
    strip = [dataclasses.replace(k, label=None) for k in walked.keyframes]
    assert strip == [dataclasses.replace(k, label=None) for k in typed.keyframes]
    assert walked.num_frames == typed.num_frames
    assert [k.where() for k in walked.keyframes] == [
        "walks[0] #0 (t=0s)", "keyframes[0] (t=0.5s)", "walks[0] #1 (t=1s)", "walks[0] #2 (t=2s)"]
    assert np.array_equal(full_latents(walked), full_latents(typed))


def full_latents(s) -> np.ndarray:
    tl = build_timeline(s, demo())
    return tl.chunk(0, tl.num_frames).latents


def test_a_latents_folder_is_cycled_in_name_order_or_shuffled_by_seed(tmp_path: Path) -> None:
    for name in ("b", "a", "c"):
        np.save(tmp_path / f"{name}.npy", np.full(128, ord(name), dtype=np.float32))
    walk = {"end": "4s", "every": "1s", "latents": "."}
    plain = parse_script({"fps": 4, "models": {"base": "demo"}, "walks": [walk]}, base_dir=tmp_path)
    assert [k.source.file.name for k in plain.keyframes] == ["a.npy", "b.npy", "c.npy", "a.npy", "b.npy"]
    shuffled = parse_script({"fps": 4, "models": {"base": "demo"}, "walks": [{**walk, "seed": 3}]}, base_dir=tmp_path)
    names = [k.source.file.name for k in shuffled.keyframes]
    assert sorted(names[:3]) == ["a.npy", "b.npy", "c.npy"] and names[3:] == names[:2]


@pytest.mark.parametrize(
    ("walk", "fragment"),
    [
        ({"every": "1s"}, "walks[0]: needs an 'end' time"),
        ({"end": "2s"}, "walks[0]: needs 'every'"),
        ({"end": "2s", "every": 0}, "walks[0].every: must be at least one frame"),
        ({"start": "3s", "end": "2s", "every": "1s"}, "walks[0].end: must be after the start"),
        ({"end": "2s", "every": "1s", "seed": -1}, "walks[0].seed: must be an integer >= 0"),
        ({"end": "2s", "every": "1s", "seeds": []}, "walks[0].seeds: must be a non-empty list"),
        ({"end": "2s", "every": "1s", "latents": "nowhere"}, "walks[0].latents: folder 'nowhere' not found"),
        ({"end": "2s", "every": "1s", "kind": "spiral"}, "walks[0].kind: 'spiral' is not accepted"),
        ({"end": "2s", "every": "1s", "speed": 2}, "walks[0]: unknown key 'speed'"),
        ({"end": "2s", "every": "1s", "psi": "high"}, "walks[0].psi: must be a number"),
        ({"end": "2s", "every": "0.5s", "kind": "loop", "harmonics": 2}, "walks[0].every: 4 keyframes per period"),
        ({"end": "2s", "every": "1s", "period": "1s"}, "walks[0].period: is for kind = \"loop\""),
    ],
)
def test_bad_walks_fail_in_validation_naming_the_key(walk: dict, fragment: str) -> None:
    with pytest.raises(ScriptError) as e:
        script([walk])
    assert fragment in str(e.value) and "\n" not in str(e.value)


def test_a_walk_keyframe_on_a_typed_keyframe_is_named() -> None:
    with pytest.raises(ScriptError, match=r"walks\[0\] #1 \(t=1s\): falls on frame 12, where keyframes\[0\] \(t=1s\) is"):
        script([{"end": "2s", "every": "1s"}], keyframes=[{"time": "1s", "seed": 3}])


def test_typed_keyframes_are_still_checked_after_merging() -> None:
    with pytest.raises(ScriptError, match=r"keyframes\[0\] \(t=1s\)\.psi: must be a number"):
        script([{"end": "2s", "every": "1s"}], keyframes=[{"time": "1s", "seed": 3, "psi": "x"}])


def test_the_loop_latent_is_periodic_and_on_the_shell() -> None:
    z = np.stack([loop_z(5, 512, p, 3) for p in np.linspace(0, 1, 33)])
    assert_allclose(z[0], z[-1], atol=1e-9)
    norms = np.linalg.norm(z, axis=1) / np.sqrt(512)
    assert np.all(np.abs(norms - 1) < 0.2)
    assert not np.allclose(loop_z(5, 512, 0.25, 3), loop_z(6, 512, 0.25, 3))


LOOP = [{"kind": "loop", "every": "0.5s", "seed": 5, "harmonics": 2, "psi": 0.7}]


@pytest.mark.parametrize("space", ["z", "w"])
def test_a_noise_loop_continues_from_its_last_frame_into_its_first(space: str) -> None:
    s = script(LOOP, path={"space": space, "loop": True}, duration="4s")
    assert s.keyframes[-1].frame == 42 and len(s.keyframes) == 8  # the keyframe at 4 s is the first again
    tl = build_timeline(s, demo())
    period = float(tl.num_frames)
    # As the loop tests do it: one-sided slopes either side of each keyframe; the seam (frame 0,
    # reached from the closing segment) bends no more than any other keyframe does (in w, with
    # the cubic loop spline, not at all; in z the shell's norm is joined linearly at every key).
    h = 1e-3

    def kink(at: float) -> float:
        x = tl.latents(np.array([at - 2 * h, at - h, at % period, at + h, at + 2 * h])).reshape(5, -1)
        left, right = seam_slopes(x, h)
        return float(np.abs(left - right).max())

    kinks = [kink(float(k.frame)) for k in s.keyframes[1:]]
    assert kink(period) <= 1.05 * max(kinks) + 1e-6
    if space == "w":
        assert kink(period) < 1e-3
    # ... and in frames, the step from the last frame into the first, and the change of step
    # there, are no larger than anywhere else along the loop.
    frames = tl.chunk(0, tl.num_frames).latents.reshape(tl.num_frames, -1).astype(np.float64)
    step = np.roll(frames, -1, axis=0) - frames  # step[-1]: last frame -> first
    bend = np.linalg.norm(np.roll(step, -1, axis=0) - step, axis=1)
    size = np.linalg.norm(step, axis=1)
    assert size[-1] <= 1.05 * size[:-1].max() and size[-1] >= 0.5 * np.median(size)
    assert max(bend[-1], bend[-2]) <= 1.05 * bend[:-2].max()


def test_a_loop_walk_over_two_periods_repeats() -> None:
    s = script([{**LOOP[0], "period": "2s", "every": "0.25s"}], duration="4s", path={"space": "w"})
    assert [k.source.phase for k in s.keyframes[:8]] == [k.source.phase for k in s.keyframes[8:16]]
    assert s.keyframes[-1].frame == 48  # an open path ends on the walk's last keyframe


def test_validate_lists_walk_keyframes(tmp_path: Path) -> None:
    (tmp_path / "walk.toml").write_text(
        'fps = 12\nduration = "2s"\n[models]\nbase = "demo"\n[path]\nloop = true\n'
        '[[walks]]\nkind = "loop"\nevery = "0.25s"\nseed = 1\n'
        '[[keyframes]]\ntime = "0.1s"\nseed = 4\n'
    )
    result = invoke("validate", tmp_path / "walk.toml")
    assert result.exit_code == 0, result.output
    assert "loop of seed 1 at 0.125 (walks[0] #1)" in result.output and "seed 4" in result.output
    assert "24 frames" in result.output
