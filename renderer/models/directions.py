"""Latent directions: closed-form factorisation (SeFa) of a generator's style affines, and direction files.

SeFa (Shen & Zhou 2021): every layer turns w into styles with an affine map `A w + b`; the
directions in W that change those styles the most are the top eigenvectors of `A^T A`, A the
stacked affine weights of the chosen layers (each style channel's row scaled to unit norm, as the
paper's code does, so a wide layer does not outvote a narrow one). They are orthonormal.

Direction files, as the tools people use write them:
- ours (`renderer directions`): .npz with `directions` [k, w_dim], `eigenvalues` [k], `layers` [L];
- GANSpace: .npz with `lat_comp` [k, 1, w_dim] (or [k, w_dim]);
- InterFaceGAN: a boundary .npy [1, w_dim] or [w_dim]; any .npy [k, w_dim] is k directions;
- SeFa-style column layouts: .npz with `eigvec` [w_dim, k].
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from renderer.models.stylegan2 import FullyConnectedLayer, Generator

METHODS = ("sefa",)


@dataclasses.dataclass(frozen=True)
class Directions:
    """Unit directions in W, and the layers they were found for (None: not said, so every layer)."""

    vectors: NDArray[np.float64]  # [k, w_dim]
    layers: tuple[int, ...] | None = None
    eigenvalues: NDArray[np.float64] | None = None  # [k], for SeFa


def style_affines(G: Generator, layers: Sequence[int]) -> list[tuple[int, FullyConnectedLayer]]:
    """(w index, affine layer) of every layer that reads one of the w indices `layers`, from 4x4 up.

    Block r's convs read consecutive ws; its ToRGB reads the w after them (the next block's first).
    """
    wanted = set(layers)
    found: list[tuple[int, FullyConnectedLayer]] = []
    w_idx = 0
    for res in G.config.block_resolutions:
        block = getattr(G.synthesis, f"b{res}")
        convs = [block.conv1] if block.is_first else [block.conv0, block.conv1]
        for j, conv in enumerate(convs):
            if w_idx + j in wanted:
                found.append((w_idx + j, conv.affine))
        if block.has_torgb and w_idx + block.num_conv in wanted:
            found.append((w_idx + block.num_conv, block.torgb.affine))
        w_idx += block.num_conv
    return found


def stacked_affine_weights(G: Generator, layers: Sequence[int]) -> NDArray[np.float64]:
    """The affine weights of the layers reading `layers`, rows (style channels) of unit norm: [C, w_dim]."""
    rows = [affine.weight.detach().double().cpu().numpy() for _, affine in style_affines(G, layers)]
    if not rows:
        raise ValueError(f"no layer reads the ws {list(layers)}")
    weights = np.concatenate(rows)
    return weights / np.linalg.norm(weights, axis=1, keepdims=True)


def sefa(G: Generator, k: int, layers: Sequence[int] | None = None) -> Directions:
    """The top-k SeFa directions of G for the w indices `layers` (None: all): orthonormal rows [k, w_dim].

    Each direction's sign is fixed so that its largest component is positive (deterministic output).
    """
    layers = tuple(range(G.num_ws)) if layers is None else tuple(layers)
    if not 1 <= k <= G.w_dim:
        raise ValueError(f"k must be from 1 to w_dim = {G.w_dim}, not {k}")
    weights = stacked_affine_weights(G, layers)
    values, vectors = np.linalg.eigh(weights.T @ weights)  # ascending
    order = np.argsort(values)[::-1][:k]
    top = vectors[:, order].T.copy()
    signs = np.sign(top[np.arange(k), np.abs(top).argmax(axis=1)])
    return Directions(top * signs[:, None], layers, values[order])


def save_directions(directions: Directions, path: Path, *, method: str = "sefa") -> None:
    """Write ours: .npz with directions [k, w_dim], layers [L], eigenvalues [k] and the method."""
    arrays: dict[str, NDArray] = {"directions": directions.vectors.astype(np.float32), "method": np.array(method)}
    if directions.layers is not None:
        arrays["layers"] = np.asarray(directions.layers, dtype=np.int64)
    if directions.eigenvalues is not None:
        arrays["eigenvalues"] = directions.eigenvalues.astype(np.float32)
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def read_directions(path: Path, *, w_dim: int) -> Directions:
    """A direction file in any of the layouts above, checked against w_dim.

    Raises:
        ValueError naming the keys or shape found and the layouts accepted
    """
    accepted = f"[k, {w_dim}] directions (ours 'directions', GANSpace 'lat_comp', InterFaceGAN [1, {w_dim}], 'eigvec' [{w_dim}, k])"
    layers = None
    try:
        if path.suffix.lower() == ".npz":
            with np.load(path, allow_pickle=False) as data:
                keys = list(data.keys())
                if "directions" in keys:
                    array = np.asarray(data["directions"], dtype=np.float64)
                    if "layers" in keys:
                        layers = tuple(int(i) for i in np.asarray(data["layers"]).ravel())
                elif "lat_comp" in keys:
                    array = np.asarray(data["lat_comp"], dtype=np.float64)
                    array = array.reshape(array.shape[0], -1) if array.ndim == 3 and array.shape[1] == 1 else array
                elif "eigvec" in keys:
                    array = np.asarray(data["eigvec"], dtype=np.float64).T
                elif len(keys) == 1:
                    array = np.asarray(data[keys[0]], dtype=np.float64)
                else:
                    raise ValueError(f"holds {keys}; expected 'directions', 'lat_comp' or 'eigvec'")
        elif path.suffix.lower() == ".npy":
            array = np.asarray(np.load(path, allow_pickle=False), dtype=np.float64)
        else:
            raise ValueError("must be a .npy or .npz file")
    except (OSError, EOFError) as e:
        raise ValueError(f"cannot read ({e})") from None
    if array.ndim == 1:
        array = array[None]
    if array.ndim != 2 or array.shape[1] != w_dim or not len(array):
        raise ValueError(f"has shape {list(array.shape)}; this model takes {accepted}")
    if not np.isfinite(array).all():
        raise ValueError("holds NaN or infinite values")
    return Directions(array, layers)


__all__ = ["METHODS", "Directions", "read_directions", "save_directions", "sefa", "stacked_affine_weights", "style_affines"]
