"""Tensors derived from a model's fixed weights, computed once per weight instead of once per call.

StyleGAN2's demodulation needs the squared weight summed over each kernel (`[O, I]`) on every call;
for a 512 x 512 layer that is a pass over 2.4 M weights per layer and frame, about a tenth of a
256 px frame's CPU time at batch 1 (benchmarks/RESULTS.md, "Performance against NVIDIA's code").
The weights do not change while rendering, so the result is kept on the parameter and reused
while the parameter's storage, version (bumped by every in-place change), dtype and device are
unchanged. Nothing is cached for a tensor that is not a parameter (a blended or fp16-normalised
weight, made per call) or while autograd tracks it (fine-tuning).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

_ATTRIBUTE = "_renderer_derived"  # on the parameter: {name: (key, tensor)}, freed with it


def derived(weight: torch.Tensor, name: str, make: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """make(weight), reused while `weight` (a parameter outside autograd) is unchanged."""
    if not isinstance(weight, nn.Parameter) or (weight.requires_grad and torch.is_grad_enabled()):
        return make(weight)
    if torch.compiler.is_compiling():
        # Traced into a compiled graph (renderer.models.compiled): the weight is a graph input, so
        # the product is computed in the graph, fused with its neighbours.
        return make(weight)
    key = (weight._version, weight.data_ptr(), weight.dtype, weight.device, tuple(weight.shape))
    entries = weight.__dict__.setdefault(_ATTRIBUTE, {})
    hit = entries.get(name)
    if hit is not None and hit[0] == key:
        return hit[1]
    value = make(weight.detach())
    entries[name] = (key, value)
    return value


__all__ = ["derived"]
