"""Latent directions: SeFa, direction files in the common layouts, direction tracks, the CLI."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from PIL import Image

from renderer import load_generator
from renderer.errors import UsageError
from renderer.frames.latents import build_timeline
from renderer.frames.pipeline import FramePipeline
from renderer.jobs.directions import find_directions, load_directions, write_directions
from renderer.models.directions import read_directions, sefa
from renderer.plan.layers import group_layers
from renderer.plan.script import ScriptError, parse_script
from tests.test_blending import small_config
from tests.test_cli import assert_one_line_error, invoke


@functools.lru_cache(maxsize=1)
def demo():
    return load_generator("demo")


def affine_rows(G, layers: list[int]) -> np.ndarray:
    """The style affine weights of the layers reading the given ws, straight from the state dict."""
    state = G.state_dict()
    names, w_idx = [], 0
    for res in G.config.block_resolutions:
        convs = ["conv1"] if res == 4 else ["conv0", "conv1"]
        for j, conv in enumerate(convs):
            if w_idx + j in layers:
                names.append(f"synthesis.b{res}.{conv}.affine.weight")
        if w_idx + len(convs) in layers:  # skip architecture: every block has a ToRGB
            names.append(f"synthesis.b{res}.torgb.affine.weight")
        w_idx += len(convs)
    rows = np.concatenate([state[n].double().numpy() for n in names])
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


@pytest.mark.parametrize("layers", [None, "coarse", "fine", "4-7"])
def test_sefa_directions_are_orthonormal_top_eigenvectors_of_the_affine_gram(layers: str | None) -> None:
    G = demo()
    found = find_directions(G, k=12, layers=layers)
    d = found.vectors
    assert d.shape == (12, G.w_dim)
    assert_allclose(d @ d.T, np.eye(12), atol=1e-10)
    indices = list(found.layers)
    # Independently: the right singular vectors of the stacked, row-normalised affine weights.
    _, s, vt = np.linalg.svd(affine_rows(G, indices), full_matrices=False)
    assert_allclose(np.abs(np.sum(d * vt[:12], axis=1)), 1.0, atol=1e-8)  # the same up to sign
    assert_allclose(found.eigenvalues, s[:12] ** 2, rtol=1e-9)
    assert np.all(np.diff(found.eigenvalues) <= 0)


def test_sefa_sees_only_the_chosen_layers() -> None:
    G = load_generator("demo")
    coarse = group_layers("coarse", G.num_ws, G.img_resolution)
    before = sefa(G, 4, coarse).vectors
    fine_affine = G.synthesis.b256.conv1.affine.weight
    fine_affine.add_(torch.randn_like(fine_affine))  # a layer outside the range
    assert np.array_equal(sefa(G, 4, coarse).vectors, before)
    G.synthesis.b8.conv0.affine.weight.mul_(torch.linspace(0.1, 3, G.w_dim))  # one inside it
    assert not np.allclose(sefa(G, 4, coarse).vectors, before)


def test_direction_files_in_every_layout(tmp_path: Path) -> None:
    w_dim = 16
    rng = np.random.default_rng(0)
    d = rng.standard_normal((3, w_dim))
    np.save(tmp_path / "boundary.npy", d[:1])  # InterFaceGAN: [1, w_dim]
    np.save(tmp_path / "flat.npy", d[0])
    np.save(tmp_path / "many.npy", d)
    np.savez(tmp_path / "ganspace.npz", lat_comp=d[:, None, :], lat_mean=d[0], lat_stdev=np.ones(3))
    np.savez(tmp_path / "eigvec.npz", eigvec=d.T)
    np.savez(tmp_path / "ours.npz", directions=d, layers=np.array([0, 1, 2]))
    assert_allclose(read_directions(tmp_path / "boundary.npy", w_dim=w_dim).vectors, d[:1])
    assert_allclose(read_directions(tmp_path / "flat.npy", w_dim=w_dim).vectors, d[:1])
    for name in ("many.npy", "ganspace.npz", "eigvec.npz", "ours.npz"):
        assert_allclose(read_directions(tmp_path / name, w_dim=w_dim).vectors, d, err_msg=name)
    assert read_directions(tmp_path / "ours.npz", w_dim=w_dim).layers == (0, 1, 2)
    with pytest.raises(ValueError, match=r"has shape \[3, 16\]; this model takes \[k, 8\]"):
        read_directions(tmp_path / "many.npy", w_dim=8)


def test_saved_directions_read_back(tmp_path: Path) -> None:
    found = find_directions(demo(), k=5, layers="middle")
    path = write_directions(found, tmp_path / "dirs.npz")
    back = load_directions(path, demo())
    assert_allclose(back.vectors, found.vectors, atol=1e-6)
    assert back.layers == found.layers
    with pytest.raises(UsageError, match="written as .npz"):
        write_directions(found, tmp_path / "dirs.npy")


def direction_script(tmp_path: Path, track: dict, **path) -> object:
    data = {"fps": 8, "models": {"base": "demo"}, "path": {"space": "w", **path},
            "keyframes": [{"time": 0, "seed": 1, "psi": 0.6}, {"time": "1s", "seed": 2}],
            "directions": [track]}
    return parse_script(data, base_dir=tmp_path)


def test_moving_along_a_direction_changes_only_its_layers(tmp_path: Path) -> None:
    G = demo()
    write_directions(find_directions(G, k=3), tmp_path / "dirs.npz")
    schedule = "0:(0), 4:(3), 8:(-2)"
    moved = build_timeline(direction_script(tmp_path, {"file": "dirs.npz", "index": 1, "amount": schedule, "layers": "middle"}), G)
    plain = build_timeline(direction_script(tmp_path, {"file": "dirs.npz", "index": 1, "amount": 0}), G)
    chunk_m, chunk_p = moved.chunk(0, 9), plain.chunk(0, 9)
    ws_m = FramePipeline(moved, G, batch_size=9).ws(chunk_m).numpy()
    ws_p = FramePipeline(plain, G, batch_size=9).ws(chunk_p).numpy()
    middle = list(group_layers("middle", G.num_ws, G.img_resolution))
    others = [i for i in range(G.num_ws) if i not in middle]
    assert np.array_equal(ws_m[:, others], ws_p[:, others])
    amounts = chunk_m.tracks["directions"][:, 0]
    assert_allclose(amounts[[0, 4, 8]], [0, 3, -2], atol=1e-6)
    direction = read_directions(tmp_path / "dirs.npz", w_dim=G.w_dim).vectors[1]
    expected = amounts[:, None, None] * direction[None, None, :]
    assert_allclose(ws_m[:, middle] - ws_p[:, middle], np.broadcast_to(expected, ws_m[:, middle].shape), atol=1e-5)
    # The file's own layers are the default.
    write_directions(find_directions(G, k=3, layers="coarse"), tmp_path / "coarse.npz")
    own = build_timeline(direction_script(tmp_path, {"file": "coarse.npz", "amount": 2}), G)
    assert_allclose(np.abs(own.directions[0]).sum(axis=1) > 0, np.isin(np.arange(G.num_ws), group_layers("coarse", G.num_ws, G.img_resolution)))


def test_direction_tracks_are_chunk_invariant_and_loop(tmp_path: Path) -> None:
    G = demo()
    write_directions(find_directions(G, k=2), tmp_path / "dirs.npz")
    tl = build_timeline(direction_script(tmp_path, {"file": "dirs.npz", "amount": "0:(0), 4:(2)"}, loop=True, smooth=0.2), G)
    whole = tl.chunk(0, tl.num_frames).tracks["directions"]
    parts = np.concatenate([tl.chunk(a, min(a + 3, tl.num_frames)).tracks["directions"] for a in range(0, tl.num_frames, 3)])
    assert np.array_equal(whole, parts)


@pytest.mark.parametrize(
    ("track", "fragment"),
    [
        ({"index": 0}, "directions[0]: needs 'file'"),
        ({"file": "none.npz"}, "directions[0].file: direction file 'none.npz' not found"),
        ({"file": "dirs.npz", "index": -1}, "directions[0].index: must be an integer >= 0"),
        ({"file": "dirs.npz", "amount": "0:(x)"}, "directions[0].amount: schedule value 'x' is not a number"),
        ({"file": "dirs.npz", "amount": "0:(0), 99:(1)"}, "directions[0].amount: times at frames [99] fall after"),
        ({"file": "dirs.npz", "layers": "top"}, "directions[0].layers: layers must be coarse"),
        ({"file": "dirs.npz", "scale": 2}, "directions[0]: unknown key 'scale'"),
    ],
)
def test_bad_direction_tracks_fail_in_validation(tmp_path: Path, track: dict, fragment: str) -> None:
    np.savez(tmp_path / "dirs.npz", directions=np.eye(128)[:2])
    with pytest.raises(ScriptError) as e:
        direction_script(tmp_path, track)
    assert fragment in str(e.value)


def test_direction_files_are_checked_against_the_model(tmp_path: Path) -> None:
    np.savez(tmp_path / "dirs.npz", directions=np.eye(64)[:2])
    with pytest.raises(ScriptError, match=r"directions\[0\]\.file: 'dirs.npz' has shape \[2, 64\]"):
        build_timeline(direction_script(tmp_path, {"file": "dirs.npz"}), demo())
    np.savez(tmp_path / "dirs.npz", directions=np.eye(128)[:2])
    with pytest.raises(ScriptError, match=r"directions\[0\]\.index: 5 is past the last of the file's 2"):
        build_timeline(direction_script(tmp_path, {"file": "dirs.npz", "index": 5}), demo())


def test_cli_directions_writes_a_file_and_a_grid(tmp_path: Path) -> None:
    out, grid = tmp_path / "dirs.npz", tmp_path / "grid.png"
    result = invoke("directions", "demo", "-k", "4", "--layers", "coarse", "-o", out, "--grid", grid,
                    "--rows", "2", "--amounts", "-2,0,2", "--device", "cpu")
    assert result.exit_code == 0, result.output
    with np.load(out) as data:
        assert data["directions"].shape == (4, 128) and str(data["method"]) == "sefa"
    sheet = np.asarray(Image.open(grid))
    assert sheet.shape[0] > 2 * 256 and sheet.shape[1] > 3 * 256
    again = tmp_path / "again.png"
    assert invoke("directions", "demo", "--file", out, "--grid", again, "--rows", "1", "--device", "cpu").exit_code == 0
    assert again.exists()


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["demo"], "nothing to write"),
        (["demo", "-o", "x.npz", "--method", "pca"], "method must be one of sefa"),
        (["demo", "-o", "x.npz", "-k", "0"], "k must be from 1 to w_dim = 128"),
        (["demo", "-o", "x.npz", "--layers", "99"], "layers: layers [99] do not exist"),
        (["demo", "--grid", "g.png", "--amounts", "a,b"], "--amounts must be numbers"),
    ],
)
def test_cli_directions_usage_errors(tmp_path: Path, args: list[str], fragment: str) -> None:
    result = invoke("directions", *[tmp_path / a if a.endswith((".npz", ".png")) else a for a in args], "--device", "cpu")
    assert_one_line_error(result, 2, fragment)


def test_sefa_on_other_architectures() -> None:
    from renderer.models.stylegan2 import Generator

    torch.manual_seed(0)
    G = Generator(small_config("resnet"))
    found = sefa(G, 4)
    assert_allclose(found.vectors @ found.vectors.T, np.eye(4), atol=1e-10)
