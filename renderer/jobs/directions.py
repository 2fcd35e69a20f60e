"""`renderer directions`: find latent directions of a model, save them, and look at what each does."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from renderer.errors import UsageError
from renderer.frames.images import image_grid, to_uint8
from renderer.models.directions import METHODS, Directions, read_directions, save_directions, sefa
from renderer.models.stylegan2 import Generator
from renderer.models.synthesizer import Synthesizer
from renderer.output.files import atomic_path
from renderer.plan.layers import resolve_layers
from renderer.plan.script import parse_layers
from renderer.plan.seeds import seed_to_z


def find_directions(G: Synthesizer, *, method: str = "sefa", k: int = 20, layers: str | None = None) -> Directions:
    """The top-k directions of G by `method` ("sefa") for the layers `layers` ("coarse", "4-7", ...; None: all).

    Raises:
        UsageError for an unknown method, a bad k or layer spec, or a model without style affines
    """
    if method not in METHODS:
        raise UsageError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    if not isinstance(G, Generator):
        raise UsageError(f"SeFa reads StyleGAN2 style affines; this is a {G.family} model")
    indices = None
    if layers is not None:
        try:
            indices = resolve_layers(parse_layers(layers), G.num_ws, G.img_resolution)
        except ValueError as e:
            raise UsageError(f"layers: {e}") from None
    try:
        return sefa(G, k, indices)
    except ValueError as e:
        raise UsageError(str(e)) from None


def write_directions(directions: Directions, path: str | Path, *, method: str = "sefa") -> Path:
    """Save directions as .npz (atomically); UsageError for another suffix."""
    path = Path(path)
    if path.suffix.lower() != ".npz":
        raise UsageError(f"{path}: directions are written as .npz")
    with atomic_path(path) as tmp:
        save_directions(directions, tmp, method=method)
    return path


def load_directions(path: str | Path, G: Synthesizer) -> Directions:
    """A direction file (ours, GANSpace, InterFaceGAN, eigvec layouts) checked against G; UsageError if unusable."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{path}: no such direction file")
    try:
        return read_directions(path, w_dim=G.w_dim)
    except ValueError as e:
        raise UsageError(f"{path}: {e}") from None


@torch.no_grad()
def direction_grid(
    G: Synthesizer,
    directions: Directions,
    *,
    seed: int = 0,
    amounts: Sequence[float] = (-3.0, 0.0, 3.0),
    rows: int = 8,
    psi: float = 0.7,
    layers: str | None = None,
) -> np.ndarray:
    """A labelled sheet: one row per direction (the first `rows`), one column per amount, all
    from one seed's truncated ws moved along the direction on its layers (`layers` overrides the file's)."""
    if layers is not None:
        try:
            chosen = resolve_layers(parse_layers(layers), G.num_ws, G.img_resolution)
        except ValueError as e:
            raise UsageError(f"layers: {e}") from None
    else:
        chosen = directions.layers if directions.layers is not None else tuple(range(G.num_ws))
    mask = torch.zeros(G.num_ws, 1, device=G.device)
    mask[list(chosen)] = 1.0
    z = torch.from_numpy(seed_to_z(seed, G.z_dim)).float().to(G.device)
    ws = G.mapping(z, truncation_psi=psi)  # [1, num_ws, w_dim]
    steps = torch.tensor(list(amounts), dtype=torch.float32, device=G.device)
    sheet_rows = []
    for vector in directions.vectors[:rows]:
        d = torch.from_numpy(vector).float().to(G.device)
        moved = ws + steps[:, None, None] * mask[None] * d[None, None]  # [A, num_ws, w_dim]
        sheet_rows.append(list(to_uint8(G.synthesis(moved)).cpu().numpy()))
    return image_grid(
        sheet_rows, column_labels=[f"{a:+g}" for a in amounts],
        row_labels=[f"#{i}" for i in range(len(sheet_rows))],
    )


__all__ = ["direction_grid", "find_directions", "load_directions", "write_directions"]
