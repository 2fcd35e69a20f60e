"""Seeds and seed lists (no torch): `"0-3,7"` -> [0, 1, 2, 3, 7], seed -> z the NVIDIA way."""

from __future__ import annotations

import numpy as np

from renderer.errors import UsageError

MAX_SEED = 2**32 - 1  # np.random.RandomState accepts seeds in [0, 2**32)


def parse_seeds(spec: str) -> list[int]:
    """Parse a comma-separated list of seeds and inclusive ranges, keeping the order given.

    Example: "0-3,7" -> [0, 1, 2, 3, 7].
    """
    seeds: list[int] = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            raise UsageError(f"seed list {spec!r} has an empty entry")
        lo, sep, hi = part.partition("-")
        try:
            first = int(lo)
            last = int(hi) if sep else first
        except ValueError:
            raise UsageError(f"seed list {spec!r}: {part!r} is not a seed or a range like 0-3") from None
        if last < first:
            raise UsageError(f"seed list {spec!r}: range {part!r} runs backwards")
        if first < 0 or last > MAX_SEED:
            raise UsageError(f"seed list {spec!r}: seeds must lie in 0..{MAX_SEED}")
        seeds.extend(range(first, last + 1))
    return seeds


def seed_to_z(seed: int, z_dim: int) -> np.ndarray:
    """The NVIDIA convention, so seed N is the same latent in every StyleGAN tool.

    Returns:
        z: float64 [1, z_dim]
    """
    return np.random.RandomState(seed).randn(1, z_dim)


def seeds_to_z(seeds: list[int] | tuple[int, ...], z_dim: int) -> np.ndarray:
    """Latents of several seeds, stacked: float32 [len(seeds), z_dim]."""
    if not seeds:
        return np.zeros((0, z_dim), dtype=np.float32)
    return np.concatenate([seed_to_z(s, z_dim) for s in seeds]).astype(np.float32)
