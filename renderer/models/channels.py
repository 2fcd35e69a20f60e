"""Channel blends: alpha by resolution *and* feature channel, as a channel-masked copy of a model.

A mask gives each feature channel c of each block resolution r a value k(r, c) in [0, 1]. The
channel-masked copy of a model m over the base b is `b + k * (m - b)` along each tensor's channel
axis, so blending the base with that copy at weight w(r) gives every channel
`(1 - w(r) k(r, c)) b + w(r) k(r, c) m`: a channel-dependent blend that the ordinary per-resolution
blends (static or per frame, renderer.models.blending) compute exactly.

The channel axis of each tensor of block r is the one that indexes the block's feature channels
(channels[r]): the output channels of its convs, their biases and the resnet skip, the const, the
styles of conv1 and of the ToRGB (their affine weights' and biases' rows), and the ToRGB weight's
input channels. Tensors without that axis (conv0's styles, which act on the block below's
channels, noise strengths and maps, the ToRGB bias) take the mean of the block's mask.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from renderer.models.blending import check_same_architecture, tensor_resolution
from renderer.models.stylegan2 import Generator

# (tensor name within a block, its channel axis)
_CHANNEL_AXES = [
    (re.compile(r"const$"), 0),
    (re.compile(r"(conv0|conv1|skip)\.weight$"), 0),
    (re.compile(r"(conv0|conv1)\.bias$"), 0),
    (re.compile(r"(conv1|torgb)\.affine\.(weight|bias)$"), 0),
    (re.compile(r"torgb\.weight$"), 1),
]


def channel_axis(name: str) -> int | None:
    """The axis of a synthesis tensor that indexes its block's feature channels; None if it has none."""
    local = name.split(".", 2)[2] if name.startswith("synthesis.b") else name
    return next((axis for pattern, axis in _CHANNEL_AXES if pattern.fullmatch(local)), None)


def channel_masks(spec: Any, channels: Mapping[int, int], *, base: Generator | None, model: Generator | None) -> dict[int, NDArray[np.float64]]:
    """A mask spec (renderer.plan.blends.MaskSpec) -> {resolution: float64 [channels[r]]} in [0, 1].

    Resolutions the spec does not cover are left out (they blend every channel). Masks selected
    from model statistics need base and model; without them (a check before loading) they are {}.
    Raises:
        ValueError: a file or range that does not fit the model's channels
    """
    resolutions = [r for r in sorted(channels) if spec.resolutions is None or r in spec.resolutions]
    masks: dict[int, NDArray[np.float64]] = {}
    if spec.file is not None:
        masks = _read_mask_file(Path(spec.file), channels)
    elif spec.channels:
        for res, indices in spec.channels:
            if res not in channels:
                raise ValueError(f"resolution {res} is not a block of this model ({', '.join(map(str, sorted(channels)))})")
            bad = [i for i in indices if i >= channels[res]]
            if bad:
                raise ValueError(f"channels {bad} at {res} px do not exist: the model has {channels[res]} (0-{channels[res] - 1})")
            mask = np.zeros(channels[res])
            mask[list(indices)] = 1.0
            masks[res] = mask
    elif spec.select is not None:
        if base is None or model is None:
            return {}
        drift = channel_drift(base, model)
        for res in resolutions:
            count = max(1, round(spec.fraction * channels[res]))
            order = np.argsort(-drift[res] if spec.select == "drift" else drift[res], kind="stable")
            mask = np.zeros(channels[res])
            mask[order[:count]] = 1.0
            masks[res] = mask
    return {r: m for r, m in masks.items() if r in resolutions}


def _read_mask_file(path: Path, channels: Mapping[int, int]) -> dict[int, NDArray[np.float64]]:
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: np.asarray(data[key], dtype=np.float64) for key in data}
    except (OSError, ValueError, EOFError) as e:
        raise ValueError(f"{path.name}: cannot read ({e})") from None
    masks = {}
    for key, array in arrays.items():
        if not key.isdigit() or int(key) not in channels:
            raise ValueError(f"{path.name}: key {key!r} is not a block resolution of this model ({', '.join(map(str, sorted(channels)))})")
        res = int(key)
        if array.shape != (channels[res],):
            raise ValueError(f"{path.name}: the mask of {res} px has shape {list(array.shape)}; the model has {channels[res]} channels there")
        if not np.all((array >= 0) & (array <= 1)):
            raise ValueError(f"{path.name}: mask values must lie in [0, 1] (at {res} px)")
        masks[res] = array
    return masks


@torch.no_grad()
def channel_drift(base: Generator, model: Generator) -> dict[int, NDArray[np.float64]]:
    """How far the model moved each feature channel from the base: per resolution, float64 [C],
    the norm of the change of the channel's conv weights and biases over the norm of the base's."""
    base_state, state = base.state_dict(), model.state_dict()
    change: dict[int, NDArray[np.float64]] = {}
    size: dict[int, NDArray[np.float64]] = {}
    for name, tensor in base_state.items():
        res = tensor_resolution(name)
        if res is None or not re.search(r"(conv0|conv1)\.(weight|bias)$", name):
            continue
        a = tensor.double().reshape(tensor.shape[0], -1)
        d = state[name].double().reshape(tensor.shape[0], -1) - a
        change[res] = change.get(res, 0) + d.square().sum(1).numpy()
        size[res] = size.get(res, 0) + a.square().sum(1).numpy()
    return {r: np.sqrt(change[r] / np.maximum(size[r], 1e-30)) for r in change}


@torch.no_grad()
def channel_masked(base: Generator, model: Generator, masks: Mapping[int, NDArray[np.floating]]) -> Generator:
    """The copy of `model` whose channels are the base's outside the masks: `b + k * (m - b)`
    (the base's mapping and w_avg). Resolutions without a mask are the model's own."""
    check_same_architecture([base, model])
    masked = copy.deepcopy(base)
    base_state, state = base.state_dict(), model.state_dict()
    blended = {}
    for name, b in base_state.items():
        res = tensor_resolution(name)
        if res is None:
            blended[name] = b.clone()
            continue
        m = state[name]
        if res not in masks:
            blended[name] = m.clone()
            continue
        k = torch.as_tensor(np.asarray(masks[res]), dtype=torch.float32, device=b.device)
        axis = channel_axis(name)
        if axis is None or b.ndim <= axis or b.shape[axis] != len(k):
            scale: torch.Tensor | float = float(k.mean())
        else:
            shape = [1] * b.ndim
            shape[axis] = len(k)
            scale = k.reshape(shape)
        blended[name] = (b.float() + scale * (m.float() - b.float())).to(b.dtype)
    masked.load_state_dict(blended)
    source = model.info.source or "model"
    masked.info = type(base.info)(format="blend", source=f"{source} (channel mask)", w_avg_source=base.info.w_avg_source,
                                 notes=(f"{source} on the masked channels, the base elsewhere",))
    return masked


__all__ = ["channel_axis", "channel_drift", "channel_masked", "channel_masks"]
