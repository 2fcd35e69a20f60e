"""StyleGAN3 through everything else: scripts, camera tracks, render, preview, generate, projection,
animated blends, and the built-in demo-sg3 models."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from renderer import load_generator, save_native
from renderer.cli import app
from renderer.frames.images import to_uint8
from renderer.frames.latents import build_timeline
from renderer.frames.pipeline import FramePipeline
from renderer.jobs.job import RenderSettings
from renderer.jobs.preview import PreviewSettings, preview
from renderer.jobs.projector import ProjectSettings, project
from renderer.jobs.render import render
from renderer.jobs.stills import load_animation
from renderer.models.stylegan3 import Generator, StyleGAN3Config, camera_transform, design_filters
from renderer.output.ffmpeg import probe
from renderer.plan.script import ScriptError, parse_script
from renderer.plan.seeds import seeds_to_z
from renderer.plan.timeline import ResolvedKeyframes, plan_timeline

TINY = StyleGAN3Config.from_hyperparameters(
    z_dim=8, w_dim=8, img_resolution=16, channel_base=64, channel_max=8, num_layers=6, margin_size=4,
)


def tiny_sg3(seed: int = 0) -> Generator:
    """A small config-T generator with seeded random weights, its designed filters and a nonzero input affine."""
    G = Generator(TINY)
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for key, value in G.state_dict().items():
        if key.endswith(("w_avg", "magnitude_ema", "transform")) or "filter" in key:
            state[key] = value
        elif key.endswith("affine.bias") and "input" not in key:
            state[key] = 1 + 0.1 * torch.randn(value.shape, generator=gen)
        elif key == "synthesis.input.freqs":
            state[key] = torch.rand(value.shape, generator=gen) - 0.5
        elif key.startswith("mapping.") and key.endswith("weight"):
            state[key] = torch.randn(value.shape, generator=gen) / TINY.mapping_lr_multiplier
        else:
            state[key] = torch.randn(value.shape, generator=gen) * (0.3 if "input.affine" in key else 1.0)
    state["synthesis.input.affine.bias"] = torch.tensor([1.0, 0.0, 0.0, 0.0])
    state[f"synthesis.{TINY.layers[-1].name}.weight"] *= 8  # a visible picture after output_scale
    state.update(design_filters(TINY))
    G.load_state_dict(state)
    return G


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny ops: a second thread only waits on a busy 2-core machine
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A tiny StyleGAN3 model and a drifted copy of it, as renderer .safetensors files."""
    folder = tmp_path_factory.mktemp("sg3")
    base = tiny_sg3(0)
    transfer = tiny_sg3(0)
    with torch.no_grad():
        for name, p in transfer.synthesis.named_parameters():
            p += 0.3 * p.std() * torch.randn(p.shape, generator=torch.Generator().manual_seed(len(name)))
    return save_native(base, folder / "base.safetensors"), save_native(transfer, folder / "transfer.safetensors")


def camera_script(model: str, **extra: object) -> dict[str, object]:
    return {
        "fps": 8,
        "models": {"base": model, **extra.pop("models", {})},  # type: ignore[dict-item]
        "keyframes": [
            {"time": 0, "seed": 1, "psi": 0.7, "translate": [0.0, 0.0], "rotate": 0},
            {"time": "0.5s", "seed": 2, "translate": [0.25, -0.1], "rotate": 30},
            {"time": "1s", "seed": 3},
        ],
        **extra,
    }


# -- scripts and tracks (no torch) -------------------------------------------------------------------


def test_camera_keys_are_keyframed_like_psi() -> None:
    script = parse_script(camera_script("demo"))
    assert script.has_camera
    translate, rotate = script.keyframe_camera()
    assert translate == [(0.0, 0.0), (0.25, -0.1), (0.25, -0.1)] and rotate == [0.0, 30.0, 30.0]
    keys = ResolvedKeyframes(latents=np.zeros((3, 4)))
    script = parse_script({**camera_script("demo"), "path": {"space": "z"}})
    chunk = plan_timeline(script, keys).chunk(0, script.num_frames)
    assert chunk.camera is not None
    moved, turned = chunk.camera
    assert moved.shape == (9, 2) and turned.shape == (9,)
    np.testing.assert_allclose(moved[[0, 4, 8]], [[0, 0], [0.25, -0.1], [0.25, -0.1]], atol=1e-7)
    np.testing.assert_allclose(turned[[0, 4, 8]], [0, 30, 30], atol=1e-6)
    assert 0 < turned[2] < 30  # in between: interpolated, not held
    plain = parse_script({"models": {"base": "demo"}, "keyframes": [{"time": 0, "seed": 1}]})
    assert not plain.has_camera and plan_timeline(plain, ResolvedKeyframes(np.zeros((1, 2, 4)), num_ws=2)).chunk(0, 1).camera is None


def test_rotate_schedule() -> None:
    data = camera_script("demo", tracks={"rotate": "0:(0), 8:(90)"})
    for key in data["keyframes"]:  # type: ignore[attr-defined]
        key.pop("rotate", None)
    script = parse_script({**data, "path": {"space": "z"}})
    chunk = plan_timeline(script, ResolvedKeyframes(latents=np.zeros((3, 4)))).chunk(0, 9)
    assert chunk.camera is not None
    np.testing.assert_allclose(chunk.camera[1][[0, 8]], [0, 90], atol=1e-5)


@pytest.mark.parametrize(
    "key, value, fragment",
    [
        ("translate", [0.1], "must be [x, y]"),
        ("translate", [0.1, "up"], "must be [x, y]"),
        ("translate", [0.1, 1000], "from -100 to 100"),
        ("rotate", "left", "must be a number"),
        ("rotate", 1e9, "at most 36000"),
    ],
)
def test_bad_camera_values_fail_validation_in_one_line(key: str, value: object, fragment: str) -> None:
    data = camera_script("demo")
    data["keyframes"][1][key] = value  # type: ignore[index]
    with pytest.raises(ScriptError) as err:
        parse_script(data)
    message = str(err.value)
    assert f"keyframes[1] (t=0.5s).{key}" in message and fragment in message and "\n" not in message


def test_stylegan2_models_refuse_camera_tracks(tmp_path: Path) -> None:
    script = tmp_path / "walk.toml"
    script.write_text('[models]\nbase = "demo"\n[[keyframes]]\ntime = 0\nseed = 1\nrotate = 10\n')
    result = CliRunner().invoke(app, ["validate", str(script)])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "keyframes[0] (t=0s).rotate" in lines[0] and "need a StyleGAN3 model" in lines[0]
    assert "stylegan2" in lines[0]


# -- rendering -----------------------------------------------------------------------------------


def test_each_frame_gets_its_own_camera_in_one_batch(models: tuple[Path, Path]) -> None:
    base, _ = models
    script = parse_script(camera_script(str(base)))
    G = load_generator(base)
    timeline = build_timeline(script, G)
    batched = np.concatenate(list(FramePipeline(timeline, G, batch_size=9).frames(0, 9)))
    single = np.concatenate(list(FramePipeline(timeline, G, batch_size=1).frames(0, 9)))
    np.testing.assert_array_equal(batched, single)
    chunk = timeline.chunk(0, 9)
    pipeline = FramePipeline(timeline, G, batch_size=9)
    ws = pipeline.ws(chunk)
    assert chunk.camera is not None
    with torch.no_grad():
        moved = G.synthesis(ws, transform=camera_transform(*chunk.camera))
        still = G.synthesis(ws)
    np.testing.assert_array_equal(batched, to_uint8(moved).numpy())
    assert (moved[0] - still[0]).abs().max() == 0  # frame 0 has the identity transform
    assert (moved[4] - still[4]).abs().max() > 0.01  # frame 4 is moved


def test_render_preview_and_animated_blend(models: tuple[Path, Path], tmp_path: Path) -> None:
    base, transfer = models
    data = camera_script(str(base), models={"transfer": str(transfer)})
    data["keyframes"][0]["blend"] = 0.0  # type: ignore[index]
    data["keyframes"][1]["blend"] = {"swap": TINY.layers[0].out_size}  # type: ignore[index]
    data["keyframes"][2]["blend"] = 1.0  # type: ignore[index]
    script = parse_script(data, base_dir=tmp_path)
    G, timeline = load_animation(script)
    assert G.num_models == 2 and timeline.blend_resolutions == load_generator(base).blend_levels
    out = tmp_path / "blend.mp4"
    render(script, RenderSettings(device="cpu", output={"file": out}))
    info = probe(out)
    assert (info.width, info.num_frames) == (16, script.num_frames)
    # The animated blend renders each frame as the static blend at that frame's alphas would.
    frames = np.concatenate(list(FramePipeline(timeline, G, batch_size=4).frames(0, script.num_frames)))
    from renderer import blend

    chunk = timeline.chunk(4, 5)
    assert chunk.blend is not None
    table = dict(zip(timeline.blend_resolutions, chunk.blend[0].tolist(), strict=True))
    static = blend(load_generator(base), load_generator(transfer), table)
    ws = FramePipeline(timeline, G, batch_size=1).ws(chunk)
    assert chunk.camera is not None
    with torch.no_grad():
        expected = to_uint8(static.synthesis(ws, transform=camera_transform(*chunk.camera))).numpy()
    assert np.abs(frames[4].astype(int) - expected[0].astype(int)).max() <= 1
    result = preview(script, tmp_path, PreviewSettings(resolution=8, device="cpu", plot=False))
    assert not result.stops_early and result.resolution == 8
    assert any("StyleGAN3 models cannot stop early" in note and "downscaled to 8" in note for note in result.notes)


def test_generate_cli(models: tuple[Path, Path], tmp_path: Path) -> None:
    base, _ = models
    result = CliRunner().invoke(app, ["generate", "--model", str(base), "--seeds", "0-2", "--psi", "0.7",
                                      "-o", str(tmp_path), "--device", "cpu", "-q"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["seed0000.png", "seed0001.png", "seed0002.png"]


def test_projection_recovers_a_generated_image(models: tuple[Path, Path]) -> None:
    G = load_generator(models[0])
    with torch.no_grad():
        ws = G.mapping(torch.from_numpy(seeds_to_z([5], G.z_dim)), truncation_psi=0.7)
        target = to_uint8(G.synthesis(ws))[0].numpy()
    start = project(G, target, ProjectSettings(steps=1, w_std_samples=200))
    result = project(G, target, ProjectSettings(steps=60, w_std_samples=200))
    assert result.psnr > start.psnr + 3, (start.psnr, result.psnr)
    assert G.noise_buffers() == []


# -- built-in models ------------------------------------------------------------------------------


def test_demo_sg3_is_deterministic_and_varies_by_seed() -> None:
    G = load_generator("demo-sg3")
    assert isinstance(G, Generator) and G.family == "stylegan3" and G.info.format == "builtin"
    assert G.img_resolution == 64 and G.num_ws == 16 and G.architecture == "stylegan3-t"
    from renderer.models.demo_sg3 import _weights

    _weights.cache_clear()
    threads = torch.get_num_threads()
    torch.set_num_threads(2)  # the weights must not depend on the caller's thread count
    try:
        again = load_generator("demo-sg3")
    finally:
        torch.set_num_threads(threads)
    assert all(torch.equal(a, b) for a, b in zip(G.state_dict().values(), again.state_dict().values(), strict=True))
    with torch.no_grad():
        images = to_uint8(G(torch.from_numpy(seeds_to_z(list(range(6)), G.z_dim)), truncation_psi=0.7)).numpy()
    assert images.std(axis=0).mean() > 10  # seeds differ
    means = images.reshape(6, -1, 3).mean(axis=1)
    assert np.ptp(means, axis=1).max() > 40  # and some are clearly coloured


# -- the filtered resampling --------------------------------------------------------------------


def _naive_up(x: torch.Tensor, f: torch.Tensor, up: int, pad: tuple[int, int]) -> torch.Tensor:
    """Along x: insert up - 1 zeros after every sample, pad (negative crops), convolve with f."""
    n, c, h, w = x.shape
    z = torch.nn.functional.pad(x.reshape(n, c, h, w, 1), [0, up - 1]).reshape(n, c, h, w * up)
    z = torch.nn.functional.pad(z, list(pad))
    return torch.nn.functional.conv2d(z, f.flip(0).reshape(1, 1, 1, -1).expand(c, 1, 1, -1).contiguous(), groups=c)


@pytest.mark.parametrize("up", [1, 2, 4])
@pytest.mark.parametrize("taps", [1, 5, 12, 24])
@pytest.mark.parametrize("pad", [(9, 8), (-6, -9), (-11, -12), (0, 3), (13, 0)])
def test_polyphase_upsampling_equals_zero_insertion(up: int, taps: int, pad: tuple[int, int]) -> None:
    from renderer.models.stylegan3 import _up_axis

    gen = torch.Generator().manual_seed(up * 100 + taps)
    x = torch.randn(2, 3, 7, 10, generator=gen, dtype=torch.float64)
    f = torch.randn(taps, generator=gen, dtype=torch.float64)
    if 10 * up + pad[0] + pad[1] - taps + 1 <= 0:
        pytest.skip("nothing left after the crop")
    expected = _naive_up(x, f, up, pad)
    torch.testing.assert_close(_up_axis(x, f, -1, up=up, pad_lo=pad[0], pad_hi=pad[1]), expected, rtol=0, atol=1e-12)
    along_y = _up_axis(x.transpose(2, 3), f, -2, up=up, pad_lo=pad[0], pad_hi=pad[1]).transpose(2, 3)
    torch.testing.assert_close(along_y, expected, rtol=0, atol=1e-12)


def test_stylegan2_layer_groups_are_refused_for_stylegan3(models: tuple[Path, Path]) -> None:
    base, _ = models
    G = load_generator(base)
    data = {"models": {"base": str(base)}, "keyframes": [{"time": 0, "seed": 1, "mix": {"layers": "fine", "seed": 2}}]}
    with pytest.raises(ScriptError, match=r"mix\[0\]\.layers: the groups coarse, middle and fine are StyleGAN2's"):
        build_timeline(parse_script(data), G)
    data["keyframes"][0]["mix"]["layers"] = "3-7"  # type: ignore[index]
    assert build_timeline(parse_script(data), G).num_frames == 1


def test_stylegan3_satisfies_the_protocol(models: tuple[Path, Path]) -> None:
    from renderer import Synthesizer, blend_per_frame

    base, transfer = (load_generator(p) for p in models)
    blended = blend_per_frame([base, transfer])
    for model, num_models, can_blend in ((base, 1, True), (blended, 2, False)):
        assert isinstance(model, Synthesizer)
        assert model.family == "stylegan3" and model.architecture == "stylegan3-t"
        assert model.levels == (4, 8, 16) and not model.can_stop_early and model.can_move_camera
        assert model.blend_levels == tuple(sorted(set(TINY.level_sizes)))
        assert model.num_models == num_models and model.can_blend is can_blend
        assert model.noise_buffers() == []
    ws = base.mapping(torch.from_numpy(seeds_to_z([0], base.z_dim)))
    with pytest.raises(ValueError, match="no image below"):
        base.synthesis(ws, max_resolution=8)
    with pytest.raises(ValueError, match="model_weights"):
        base.synthesis(ws, model_weights=torch.ones(1, 2, 3))
    with pytest.raises(Exception, match="cannot be blended"):
        blend_per_frame([blended, base])


def test_timeline_export_holds_the_camera(models: tuple[Path, Path], tmp_path: Path) -> None:
    from renderer import export_timeline

    script = parse_script(camera_script(str(models[0])))
    path = export_timeline(build_timeline(script, load_generator(models[0])), tmp_path / "tracks.npz")
    with np.load(path) as data:
        assert data["translate"].shape == (script.num_frames, 2) and data["rotate"].shape == (script.num_frames,)
        assert data["rotate"][4] == pytest.approx(30)
