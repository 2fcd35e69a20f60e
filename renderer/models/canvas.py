"""Wider (or taller) canvases from a square generator: fit "extend".

A StyleGAN generator is convolutional below its learned 4x4 constant: give it a constant of
rows x cols cells and every layer works on the wider map, so the top level comes out at
(rows x cols) * resolution / 4 px, one continuous picture. The constant grows by mirroring
("reflect", "symmetric") or repeating ("tile") its cells, and every stored noise map grows with
it: the stored map stays where the square was (the middle), and fixed, seeded N(0, 1) noise fills
the rest, so noise_mode "const" is still constant over time and the same for every model of a blend.

A family opts in with a method `extended(grid, padding) -> Synthesizer` on its generator (StyleGAN2
has one, blends included); `extend_canvas` refuses any other family with one line.
"""

from __future__ import annotations

import numpy as np
import torch

from renderer.errors import UsageError
from renderer.models.synthesizer import Synthesizer

PADDING_MODES = {"reflect": "reflect", "symmetric": "symmetric", "tile": "wrap"}  # numpy.pad's names
NOISE_SEED = 0x5EED  # the seed of the extension noise; layer i draws from NOISE_SEED + i


def extend_canvas(G: Synthesizer, grid: tuple[int, int], padding: str = "reflect") -> Synthesizer:
    """G synthesising a canvas of grid = (rows, cols) constant cells instead of 4 x 4.

    The square grid returns G itself, so a square frame renders exactly as before.

    Raises:
        UsageError: the family cannot extend its canvas (one line, suggesting the other fits)
    """
    if tuple(grid) == (4, 4):
        return G
    extended = getattr(G, "extended", None)
    if extended is None:
        raise UsageError(
            f'{G.family} models cannot synthesise wider canvases (fit = "extend"); '
            'use fit = "crop", "pad" or "blur-pad"'
        )
    return extended(tuple(grid), padding)


def offsets(old: tuple[int, int], new: tuple[int, int]) -> tuple[int, int]:
    """(top, left) of an old map centred in a new one (the extra row or column goes after it)."""
    return (new[0] - old[0]) // 2, (new[1] - old[1]) // 2


def grow_const(const: torch.Tensor, shape: tuple[int, int], padding: str) -> torch.Tensor:
    """The constant [..., 4, 4] grown to [..., rows, cols] around its middle by `padding`."""
    if padding not in PADDING_MODES:
        raise ValueError(f"padding must be one of {', '.join(PADDING_MODES)}, got {padding!r}")
    old = tuple(const.shape[-2:])
    top, left = offsets(old, shape)  # type: ignore[arg-type]
    pads = [(0, 0)] * (const.ndim - 2) + [(top, shape[0] - old[0] - top), (left, shape[1] - old[1] - left)]
    grown = np.pad(const.detach().cpu().numpy(), pads, mode=PADDING_MODES[padding])  # type: ignore[call-overload]
    return torch.from_numpy(np.ascontiguousarray(grown)).to(const.device, const.dtype)


def grow_noise(noise: torch.Tensor, shape: tuple[int, int], at: tuple[int, int], layer: int) -> torch.Tensor:
    """A stored noise map [..., h, w] placed at `at` = (top, left) in fixed N(0, 1) noise [..., H, W].

    The surround is drawn from NOISE_SEED + layer, the same for every model of a stack [M, h, w],
    so a blend of extended models equals the extended blend.
    """
    old = tuple(noise.shape[-2:])
    fresh = np.random.RandomState(NOISE_SEED + layer).standard_normal(shape).astype(np.float32)
    grown = torch.from_numpy(fresh).to(noise.device, noise.dtype).expand(*noise.shape[:-2], *shape).clone()
    top, left = at
    grown[..., top : top + old[0], left : left + old[1]] = noise
    return grown


__all__ = ["NOISE_SEED", "PADDING_MODES", "extend_canvas", "grow_const", "grow_noise", "offsets"]
