"""N-model and channel blends in scripts and the CLI: equal to static state-dict surgery per frame."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch

from renderer import load_generator
from renderer.frames.latents import build_timeline
from renderer.frames.pipeline import FramePipeline
from renderer.jobs.stills import load_animation, save_native
from renderer.models.blending import blend_models, tensor_resolution
from renderer.models.channels import channel_drift, channel_masked, channel_masks
from renderer.models.stylegan2 import Generator
from renderer.plan.blends import MaskSpec
from renderer.plan.script import ScriptError, parse_script
from tests.test_blending import small_config
from tests.test_cli import assert_one_line_error, invoke

ATOL = 1e-4


def drifted(G: Generator, seed: int, scale: float = 0.4) -> Generator:
    other = copy.deepcopy(G)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in other.state_dict().items():
            if name.startswith("synthesis.") and t.is_floating_point():
                t += scale * (t.std() if t.numel() > 1 else 1.0) * torch.randn(t.shape, generator=gen)
    return other


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """base, transfer and a third model (32 px, 8 channels) saved as .safetensors, and a mask file."""
    folder = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)
    base = Generator(small_config("skip"))
    with torch.no_grad():
        for layer in base._noise_layers():
            layer.noise_strength.fill_(0.2)
    for name, G in (("base", base), ("transfer", drifted(base, 1)), ("third", drifted(base, 2))):
        save_native(G, folder / f"{name}.safetensors")
    np.savez(folder / "mask.npz", **{"8": np.linspace(0, 1, 8), "32": np.array([1, 0, 1, 0, 0.5, 0.5, 1, 0.0])})
    return folder


def script(folder: Path, keyframes: list[dict], **extra):
    data = {"fps": 4, "models": {"base": "base.safetensors", "transfer": "transfer.safetensors",
                                 "extra": {"third": "third.safetensors"}},
            "path": {"space": "w"}, "keyframes": keyframes, **extra}
    return parse_script(data, base_dir=folder)


MASKS = {
    "file": {"file": "mask.npz"},
    "ranges": {"channels": {"4": "0-3", "16": [1, 5, 6]}},
    "drift": {"select": "drift", "fraction": 0.5, "resolutions": [16, 32]},
}


def surgery(models: dict[str, Generator], base: Generator, parts: list[tuple[str, dict[int, np.ndarray] | None, np.ndarray]]) -> Generator:
    """The static blend by hand: per tensor of resolution r, base + sum_c w_c(r) k_c(r, ch) (m_c - base),
    the mask along the tensor's feature-channel axis (or its mean where there is none)."""
    axes = {"const": 0, "conv0.weight": 0, "conv1.weight": 0, "conv0.bias": 0, "conv1.bias": 0,
            "conv1.affine.weight": 0, "conv1.affine.bias": 0, "torgb.affine.weight": 0, "torgb.affine.bias": 0,
            "torgb.weight": 1}
    resolutions = base.config.block_resolutions
    state = {k: v.double().clone() for k, v in base.state_dict().items()}
    base_state = base.state_dict()
    for name, masks, weights in parts:
        other = models[name].state_dict()
        for key in state:
            res = tensor_resolution(key)
            if res is None:
                continue
            w = float(weights[resolutions.index(res)])
            delta = other[key].double() - base_state[key].double()
            if masks is not None and res in masks:
                k = torch.from_numpy(np.asarray(masks[res], dtype=np.float64))
                axis = axes.get(key.split(".", 2)[2])
                if axis is None:
                    delta = delta * float(k.mean())
                else:
                    shape = [1] * delta.ndim
                    shape[axis] = len(k)
                    delta = delta * k.reshape(shape)
            state[key] += w * delta
    G = copy.deepcopy(base)
    G.load_state_dict({k: v.to(base.state_dict()[k].dtype) for k, v in state.items()})
    return G


def test_n_model_and_channel_blends_equal_static_surgery_at_each_frame(models: Path) -> None:
    keyframes = [
        {"time": 0, "seed": 1, "psi": 0.7, "blend": {"transfer": 0.2, "third": {"4": 1, "32": 0}}},
        {"time": "1s", "seed": 2, "blend": {"transfer": {"weight": 1, "mask": "file"}, "third": {"weight": {"swap": 8}, "mask": "drift"}}},
        {"time": "2s", "seed": 3, "blend": {"third": {"weight": 0.7, "mask": "ranges"}, "transfer": -0.2}},
    ]
    s = script(models, keyframes, masks=MASKS)
    G, tl = load_animation(s)
    components = tl.blend_components
    assert components == (("transfer", None), ("third", None), ("transfer", "file"), ("third", "drift"), ("third", "ranges"))
    assert G.num_models == 6
    pipeline = FramePipeline(tl, G, batch_size=tl.num_frames)
    chunk = tl.chunk(0, tl.num_frames)
    weights = pipeline.model_weights(chunk)
    torch.testing.assert_close(weights.sum(dim=1), torch.ones(tl.num_frames, 4))
    ws = pipeline.ws(chunk)
    batched = G.synthesis(ws, model_weights=weights)  # one batched pass: every frame its own blend
    plain = {name: load_generator(models / f"{name}.safetensors") for name in ("base", "transfer", "third")}
    base = plain["base"]
    masks = {
        "file": channel_masks(s.masks["file"], base.config.channels, base=None, model=None),
        "ranges": channel_masks(s.masks["ranges"], base.config.channels, base=None, model=None),
        "drift": channel_masks(s.masks["drift"], base.config.channels, base=base, model=plain["third"]),
    }
    assert set(masks["drift"]) == {16, 32} and all(m.sum() == 4 for m in masks["drift"].values())
    rows = chunk.tracks["model_blend"]
    for i in range(tl.num_frames):
        parts = [(name, None if mask is None else masks[mask], rows[i, c]) for c, (name, mask) in enumerate(components)]
        static = surgery(plain, base, parts)
        torch.testing.assert_close(batched[i : i + 1], static.synthesis(ws[i : i + 1]), atol=ATOL, rtol=0)
    # Keyframes reach their weights; the base has the rest.
    np.testing.assert_allclose(rows[4, 2], 1.0, atol=1e-6)
    np.testing.assert_allclose(rows[8, 0], -0.2, atol=1e-6)
    np.testing.assert_allclose(rows[0, 1], [1, 2 / 3, 1 / 3, 0], atol=1e-6)


def test_a_named_transfer_blend_is_the_two_model_blend(models: Path) -> None:
    named = script(models, [{"time": 0, "seed": 1, "blend": {"transfer": {"swap": 8}}}, {"time": "1s", "seed": 2, "blend": {"transfer": 0.4}}])
    plain = script(models, [{"time": 0, "seed": 1, "blend": {"swap": 8}}, {"time": "1s", "seed": 2, "blend": 0.4}])
    base = load_generator(models / "base.safetensors")
    a, b = build_timeline(named, base), build_timeline(plain, base)
    assert a.blend_components == () and "blend" in a.tracks
    assert np.array_equal(a.chunk(0, a.num_frames).blend, b.chunk(0, b.num_frames).blend)


def test_masks_all_and_nothing(models: Path) -> None:
    base, transfer = load_generator(models / "base.safetensors"), load_generator(models / "transfer.safetensors")
    ones = {r: np.ones(c) for r, c in base.config.channels.items()}
    zeros = {r: np.zeros(c) for r, c in base.config.channels.items()}
    for key, value in channel_masked(base, transfer, ones).state_dict().items():
        expected = transfer.state_dict()[key] if tensor_resolution(key) else base.state_dict()[key]
        torch.testing.assert_close(value, expected, atol=1e-6, rtol=0)
    for key, value in channel_masked(base, transfer, zeros).state_dict().items():
        torch.testing.assert_close(value, base.state_dict()[key], atol=1e-6, rtol=0)


def test_drift_and_stable_select_the_most_and_least_moved_channels(models: Path) -> None:
    base = load_generator(models / "base.safetensors")
    moved = copy.deepcopy(base)
    with torch.no_grad():
        moved.synthesis.b16.conv1.weight[[2, 5]] *= 3  # channels 2 and 5 drift most at 16 px
    drift = channel_drift(base, moved)
    assert set(np.flatnonzero(drift[16] > 0)) == {2, 5} and not drift[8].any()
    spec = MaskSpec("m", select="drift", fraction=0.25, resolutions=(16,))
    assert np.flatnonzero(channel_masks(spec, base.config.channels, base=base, model=moved)[16]).tolist() == [2, 5]
    stable = MaskSpec("m", select="stable", fraction=0.75, resolutions=(16,))
    assert np.flatnonzero(channel_masks(stable, base.config.channels, base=base, model=moved)[16] == 0).tolist() == [2, 5]


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"blend": {"toon": 1}}, "keyframes[0] (t=0s).blend: unknown model 'toon'; a named blend takes transfer, third"),
        ({"blend": {"base": 1, "third": 0}}, "unknown model 'base'; a named blend takes transfer, third; the base takes what the others leave"),
        ({"blend": {"third": {"weight": 1, "mask": "nope"}}}, "keyframes[0] (t=0s).blend.third.mask: unknown mask 'nope'"),
        ({"blend": {"third": {"swap": 0}}}, "keyframes[0] (t=0s).blend.third: swap must be a number >= 1"),
        ({"blend": {"third": {"weight": 1, "mask": "file", "alpha": 2}}}, "blend.third: unknown key 'alpha'"),
    ],
)
def test_bad_named_blends_fail_in_validation(models: Path, change: dict, fragment: str) -> None:
    with pytest.raises(ScriptError) as e:
        script(models, [{"time": 0, "seed": 1, **change}, {"time": 1, "seed": 2}], masks=MASKS)
    assert fragment in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize(
    ("extra", "masks", "fragment"),
    [
        ({"transfer": "third.safetensors"}, {}, "models.extra.transfer: model name 'transfer' must be a word"),
        ({"x": "missing.pt"}, {}, "models.extra.x: model file 'missing.pt' not found"),
        ({"third": "third.safetensors"}, {"m": {"file": "mask.npz", "select": "drift"}}, "masks.m: give exactly one of file, channels or select"),
        ({"third": "third.safetensors"}, {"m": {"channels": {"12": "0-3"}}}, "masks.m.channels: '12' is not a resolution"),
        ({"third": "third.safetensors"}, {"m": {"channels": {"8": "3-1"}}}, "masks.m.channels.8: channels must look like"),
        ({"third": "third.safetensors"}, {"m": {"channels": {"8": "0-3"}, "fraction": 0.5}}, "masks.m.fraction: goes with select"),
        ({"third": "third.safetensors"}, {"m": {"select": "drift", "fraction": 2}}, "masks.m.fraction: must be at most 1"),
    ],
)
def test_bad_models_and_masks_fail_in_validation(models: Path, extra: dict, masks: dict, fragment: str) -> None:
    data = {"fps": 4, "models": {"base": "base.safetensors", "transfer": "transfer.safetensors", "extra": extra},
            "keyframes": [{"time": 0, "seed": 1}], "masks": masks}
    with pytest.raises(ScriptError) as e:
        parse_script(data, base_dir=models)
    assert fragment in str(e.value)


@pytest.mark.parametrize(
    ("mask", "fragment"),
    [
        ({"channels": {"8": "0-9"}}, "masks.m: channels [8, 9] at 8 px do not exist: the model has 8 (0-7)"),
        ({"channels": {"64": "0-3"}}, "masks.m: resolution 64 is not a block of this model"),
    ],
)
def test_masks_are_checked_against_the_model(models: Path, mask: dict, fragment: str) -> None:
    s = script(models, [{"time": 0, "seed": 1, "blend": {"third": {"weight": 1, "mask": "m"}}}], masks={"m": mask})
    with pytest.raises(ScriptError) as e:
        build_timeline(s, load_generator(models / "base.safetensors"))
    assert fragment in str(e.value)


def test_mask_files_are_checked(models: Path, tmp_path: Path) -> None:
    np.savez(models / "bad.npz", **{"8": np.ones(5)})
    s = script(models, [{"time": 0, "seed": 1, "blend": {"third": {"weight": 1, "mask": "m"}}}], masks={"m": {"file": "bad.npz"}})
    with pytest.raises(ScriptError, match=r"masks\.m: bad\.npz: the mask of 8 px has shape \[5\]; the model has 8 channels"):
        build_timeline(s, load_generator(models / "base.safetensors"))


def test_cli_blend_takes_several_models(models: Path, tmp_path: Path) -> None:
    out, grid = tmp_path / "three.safetensors", tmp_path / "three.png"
    paths = [models / f"{n}.safetensors" for n in ("base", "transfer", "third")]
    result = invoke("blend", *paths, "--weight", "0.3", "--weight", "4=0,32=0.6", "-o", out, "--grid", grid, "--seeds", "0", "--device", "cpu")
    assert result.exit_code == 0, result.output
    G = load_generator(out)
    base, transfer, third = (load_generator(p) for p in paths)
    third_w = np.interp(np.log2([4, 8, 16, 32]), np.log2([4, 32]), [0, 0.6])
    table = np.stack([1 - 0.3 - third_w, np.full(4, 0.3), third_w])
    expected = blend_models([base, transfer, third], table)
    for key, value in G.state_dict().items():
        torch.testing.assert_close(value, expected.state_dict()[key], atol=1e-6, rtol=0)
    assert grid.exists()
    assert_one_line_error(invoke("blend", *paths, "--weight", "0.3", "-o", out), 2, "2 models need 2 --weight values")
    assert_one_line_error(invoke("blend", *paths, "--swap", "8", "-o", out), 2, "--swap shape a two-model blend")
    assert_one_line_error(invoke("blend", *paths, "--weight", "x", "--weight", "1", "-o", out), 2, "--weight 'x'")
