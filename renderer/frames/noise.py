"""Per-frame noise inputs: animated noise maps smooth in time, and noise strength per layer group.

Animated noise draws an independent standard-normal map per layer every `every` frames (a "key";
keys repeat after `period` frames when looping) and blends the four keys around each frame with
cubic B-spline weights, divided by the root of their sum of squares. A blend of independent
standard-normal maps with weights of unit norm is standard normal again, so every frame's noise
has the statistics the model was trained with, and the B-spline makes it twice continuously
differentiable in time. Each map is a pure function of (seed, layer, key), so a frame's noise does
not depend on the chunk or segment it is rendered in.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import torch
from numpy.typing import NDArray

from renderer.models.synthesizer import FrameNoise
from renderer.plan.layers import LAYER_GROUPS, layer_resolution
from renderer.plan.noise import NoiseSettings

CACHED_KEYS = 64  # noise maps kept (a batch needs 4 + frames / every keys per layer)


def bspline_weights(t: NDArray[np.float64]) -> NDArray[np.float64]:
    """Uniform cubic B-spline weights of the keys j-1, j, j+1, j+2 at t in [0, 1): [n, 4], rows sum to 1."""
    t2, t3 = t * t, t * t * t
    return np.stack([(1 - t) ** 3, 3 * t3 - 6 * t2 + 4, -3 * t3 + 3 * t2 + 3 * t + 1, t3], axis=1) / 6.0


class FrameNoiseSource:
    """The FrameNoise of any frames of a timeline, from its noise settings.

    Args:
        settings: the script's noise (animated and/or with strength multipliers)
        num_ws, img_resolution: the model's, to place each conv layer and its group
        strength_groups: the layer groups of the "noise_strength" track's columns
    """

    def __init__(
        self, settings: NoiseSettings, *, num_ws: int, img_resolution: int, grid: tuple[int, int] = (4, 4)
    ) -> None:
        self.settings = settings
        self.grid = grid  # (rows, columns) of 4x4 constant cells: a wider canvas has wider maps
        # Conv layer c reads w index c (the ToRGBs read the others); its maps are the size of its output.
        self.resolutions = [layer_resolution(c, img_resolution) for c in range(num_ws - 1)]
        groups = {g: i for i, (g, _) in enumerate(settings.strength)}
        bounds = {"coarse": (4, 8), "middle": (16, 32), "fine": (64, 1 << 30)}
        self.strength_column: list[int | None] = []
        for res in self.resolutions:
            group = next(g for g in LAYER_GROUPS if bounds[g][0] <= res <= bounds[g][1])
            self.strength_column.append(groups.get(group))
        self.keys_per_period: int | None = None
        self.every = settings.every
        if settings.animated and settings.period is not None:
            # A whole number of keys per period, so the loop closes exactly.
            self.keys_per_period = max(1, round(settings.period / settings.every))
            self.every = settings.period / self.keys_per_period
        self.cache: OrderedDict[tuple[int, int], torch.Tensor] = OrderedDict()

    def key_map(self, layer: int, key: int, device: torch.device) -> torch.Tensor:
        """The standard-normal map [H, W] of a conv layer at a key (wrapped into the period), on device.

        Drawn with NumPy from (seed, layer, key), so every device and process gets the same map.
        """
        if self.keys_per_period is not None:
            key %= self.keys_per_period
        entry = (layer, key)
        if entry not in self.cache or self.cache[entry].device != device:
            rng = np.random.default_rng([self.settings.seed, layer, key + (1 << 31)])  # key may be negative
            res = self.resolutions[layer]
            shape = (res * self.grid[0] // 4, res * self.grid[1] // 4)
            self.cache[entry] = torch.from_numpy(rng.standard_normal(shape, dtype=np.float32)).to(device)
            if len(self.cache) > CACHED_KEYS * len(self.resolutions):
                self.cache.popitem(last=False)
        else:
            self.cache.move_to_end(entry)
        return self.cache[entry]

    def maps(self, frames: NDArray[np.int64], layer: int, device: torch.device | str = "cpu") -> torch.Tensor:
        """Animated noise of one conv layer at the frames: float32 [n, 1, H, W] on device.

        Each frame is the same four multiply-adds in the same order whatever else is in the batch,
        so its map does not depend on the batch.
        """
        device = torch.device(device)
        u = np.asarray(frames, dtype=np.float64) / self.every
        base = np.floor(u).astype(np.int64)
        weights = bspline_weights(u - base)  # [n, 4]
        keys = base[:, None] + np.arange(-1, 3)[None]  # [n, 4]
        if self.keys_per_period is not None:
            keys = keys % self.keys_per_period
            # A short loop can visit a key twice among the four: its weights add up.
            same = keys[:, :, None] == keys[:, None, :]
            norms = np.sqrt(np.einsum("nij,ni,nj->n", same, weights, weights))
        else:
            norms = np.sqrt(np.sum(weights**2, axis=1))
        scaled = torch.from_numpy((weights / norms[:, None]).astype(np.float32)).to(device)
        unique, index = np.unique(keys, return_inverse=True)
        index = torch.from_numpy(index.reshape(keys.shape)).to(device)
        stack = torch.stack([self.key_map(layer, int(k), device) for k in unique])  # [U, H, W]
        out = scaled[:, 0, None, None] * stack[index[:, 0]]
        for j in range(1, 4):
            out = out + scaled[:, j, None, None] * stack[index[:, j]]
        return out.unsqueeze(1)

    def frame_noise(
        self,
        frames: NDArray[np.int64],
        strength: NDArray[np.float32] | None,
        device: torch.device,
        scale: NDArray[np.float32] | None = None,
    ) -> FrameNoise:
        """The FrameNoise of the frames.

        Args:
            strength: the "noise_strength" track's rows [n, G], if any
            scale: factors [n, num_ws] on each conv layer's strength, by the w index it reads
                (the audio noise reaction's "noise" track), if any
        """
        maps: list[torch.Tensor | None] = []
        gains: list[torch.Tensor | None] = []
        for layer in range(len(self.resolutions)):
            maps.append(self.maps(frames, layer, device) if self.settings.animated else None)
            column = self.strength_column[layer]
            gain = None if strength is None or column is None else torch.from_numpy(np.ascontiguousarray(strength[:, column]))
            if scale is not None:
                factor = torch.from_numpy(np.ascontiguousarray(scale[:, layer]))
                gain = factor if gain is None else gain * factor
            gains.append(None if gain is None else gain.to(device))
        return FrameNoise(tuple(maps), tuple(gains))


__all__ = ["FrameNoiseSource", "bspline_weights"]
