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

import math
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

    def __init__(self, settings: NoiseSettings, *, num_ws: int, img_resolution: int) -> None:
        self.settings = settings
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
        self.cache: OrderedDict[tuple[int, int], NDArray[np.float32]] = OrderedDict()

    def key_map(self, layer: int, key: int) -> NDArray[np.float32]:
        """The standard-normal map [H, W] of a conv layer at a key (wrapped into the period)."""
        if self.keys_per_period is not None:
            key %= self.keys_per_period
        entry = (layer, key)
        if entry not in self.cache:
            rng = np.random.default_rng([self.settings.seed, layer, key + (1 << 31)])  # key may be negative
            res = self.resolutions[layer]
            self.cache[entry] = rng.standard_normal((res, res), dtype=np.float32)
            if len(self.cache) > CACHED_KEYS * len(self.resolutions):
                self.cache.popitem(last=False)
        else:
            self.cache.move_to_end(entry)
        return self.cache[entry]

    def maps(self, frames: NDArray[np.int64], layer: int) -> NDArray[np.float32]:
        """Animated noise of one conv layer at the frames: float32 [n, 1, H, W]."""
        u = np.asarray(frames, dtype=np.float64) / self.every
        base = np.floor(u).astype(np.int64)
        weights = bspline_weights(u - base)
        out = np.empty((len(frames), 1, self.resolutions[layer], self.resolutions[layer]), dtype=np.float32)
        for i, (j, w) in enumerate(zip(base, weights, strict=True)):
            keys = [j - 1, j, j + 1, j + 2]
            if self.keys_per_period is not None:
                keys = [k % self.keys_per_period for k in keys]
            combined: dict[int, float] = {}
            for k, wk in zip(keys, w, strict=True):
                combined[k] = combined.get(k, 0.0) + float(wk)  # a short loop visits a key twice
            norm = math.sqrt(sum(v * v for v in combined.values()))
            acc = np.zeros(out.shape[2:], dtype=np.float64)
            for k, wk in combined.items():
                acc += (wk / norm) * self.key_map(layer, k)
            out[i, 0] = acc
        return out

    def frame_noise(self, frames: NDArray[np.int64], strength: NDArray[np.float32] | None, device: torch.device) -> FrameNoise:
        """The FrameNoise of the frames; strength: the "noise_strength" track's rows [n, G], if any."""
        maps: list[torch.Tensor | None] = []
        gains: list[torch.Tensor | None] = []
        for layer in range(len(self.resolutions)):
            maps.append(torch.from_numpy(self.maps(frames, layer)).to(device) if self.settings.animated else None)
            column = self.strength_column[layer]
            gains.append(None if strength is None or column is None else torch.from_numpy(np.ascontiguousarray(strength[:, column])).to(device))
        return FrameNoise(tuple(maps), tuple(gains))


__all__ = ["FrameNoiseSource", "bspline_weights"]
