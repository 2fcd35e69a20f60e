"""Resolution-dependent blending of StyleGAN3 models, by each layer's output size.

Every synthesis tensor belongs to one level: the input's to the first layer's input size, a
layer's (`synthesis.L{i}_{size}_{channels}.*`, its `magnitude_ema` included) to its output size.
A level with alpha a takes `(1 - a) * base + a * transfer`; the mapping network and w_avg come
from the base unless asked otherwise; the filters and the Fourier features' frequencies, phases
and stored transform are the base's (a fine-tune leaves them unchanged). Sizes are not monotonic
in depth (the last two layers are cropped to img_resolution), so blend specs name sizes: a swap at
52 takes every layer of size <= 52 from the transfer model.

- `blend_models`: one static Generator (state-dict surgery);
- `BlendedGenerator`: the models' tensors stacked, each frame of a batch synthesised with its own
  blend. StyleGAN3 convolves with one modulated weight per sample anyway, so a frame's blended
  tensors cost one weighted sum per layer, and the very code of a single model then runs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from renderer.errors import UsageError
from renderer.models.stylegan3 import (
    Generator,
    InputTensors,
    LayerTensors,
    StyleGAN3Config,
    SynthesisNetwork,
    level_of,
)
from renderer.models.synthesizer import ModelInfo, NoiseMode, weighted_sum

# Buffers that are not learned: always the base model's.
FIXED = ("up_filter", "down_filter", "input.freqs", "input.phases", "input.transform")


def is_fixed(name: str) -> bool:
    return name.endswith(FIXED)


def check_same_architecture(models: Sequence[Generator], names: Sequence[str]) -> None:
    """UsageError unless every model has the base's StyleGAN3 architecture (layers, sizes, rates)."""
    reference = models[0].config
    for model, name in zip(models[1:], names[1:], strict=True):
        config = model.config
        if config == reference:
            continue
        if len(config.layers) != len(reference.layers):
            why = f"{len(reference.layers)} vs {len(config.layers)} layers"
        elif config.img_resolution != reference.img_resolution:
            why = f"{reference.img_resolution} px vs {config.img_resolution} px"
        else:
            diff = [a.name if a.name == b.name else f"{a.name} vs {b.name}"
                    for a, b in zip(reference.layers, config.layers, strict=True) if a != b]
            why = f"layers {', '.join(diff[:3])} differ" if diff else "the input or mapping differs"
        raise UsageError(f"cannot blend {names[0]} with {name}: the StyleGAN3 architectures differ ({why})")


def level_columns(config: StyleGAN3Config, levels: Sequence[int]) -> dict[str, int]:
    """The model-weights column of every synthesis module ("input", "L0_36_48", ...)."""
    column = {size: i for i, size in enumerate(levels)}
    sizes = config.level_sizes
    return {"input": column[sizes[0]], **{spec.name: column[size] for spec, size in zip(config.layers, sizes[1:], strict=True)}}


def blend_models(
    models: Sequence[Generator],
    table: NDArray[np.float64],
    mapping: NDArray[np.float64],
    info: ModelInfo,
) -> Generator:
    """The static blend of M models: `table` [M, L] weights per blend level (Generator.blend_levels),
    `mapping` [M] weights of the mapping networks and w_avg."""
    base = models[0]
    levels = base.blend_levels
    column = {size: i for i, size in enumerate(levels)}
    states = [m.state_dict() for m in models]
    blended = {}
    for key, tensor in states[0].items():
        level = level_of(key, base.config)
        if level is not None and is_fixed(key):
            blended[key] = tensor.clone()
            continue
        coefs = mapping if level is None else table[:, column[level]]
        blended[key] = weighted_sum([s[key] for s in states], coefs)
    G = Generator(base.config, info=info)
    G.load_state_dict(blended)
    return G.to(base.device)


class StackedTensors(nn.Module):
    """One module's learned tensors of M models, stacked on a leading axis [M, ...] (buffers, so
    they move with the model and are never trained)."""

    def __init__(self, modules: Sequence[nn.Module], names: Sequence[str]) -> None:
        super().__init__()
        self.names = list(names)
        for name in names:
            stacked = torch.stack([m.get_parameter(name) if name in dict(m.named_parameters()) else m.get_buffer(name)
                                   for m in modules]).detach().clone()
            self.register_buffer(name.replace(".", "_"), stacked)

    def mixed(self, mix: torch.Tensor, constant: bool) -> dict[str, torch.Tensor]:
        """Each tensor blended: shared (the batch's one blend, when `constant`) or per frame [N, ...]."""
        weights = mix[0] if constant else mix
        return {name: torch.tensordot(weights, getattr(self, name.replace(".", "_")), dims=1) for name in self.names}


LAYER_TENSORS = ("affine.weight", "affine.bias", "weight", "bias", "magnitude_ema")
INPUT_TENSORS = ("affine.weight", "affine.bias", "weight")


class BlendedSynthesisNetwork(SynthesisNetwork):
    """The synthesis networks of M models, each frame blended per level with its own weights."""

    def __init__(self, networks: Sequence[SynthesisNetwork], config: StyleGAN3Config, levels: Sequence[int]) -> None:
        super().__init__(config)
        base = networks[0]
        self.load_state_dict(base.state_dict())  # the base's fixed buffers; learned tensors come stacked
        self.num_models = len(networks)
        self.levels = tuple(levels)
        self.columns = level_columns(config, levels)
        self.stacked = nn.ModuleDict({"input": StackedTensors([n.input for n in networks], INPUT_TENSORS)})
        self.always_per_frame = False  # True: no shared blend even for equal weights (compiled: fixed shapes)
        for spec in config.layers:
            self.stacked[spec.name] = StackedTensors([n.get_submodule(spec.name) for n in networks], LAYER_TENSORS)

    def forward(  # type: ignore[override]
        self,
        ws: torch.Tensor,
        noise_mode: NoiseMode = "const",
        max_resolution: int | None = None,
        transform: torch.Tensor | None = None,
        model_weights: torch.Tensor | None = None,
        noise: object = None,
    ) -> torch.Tensor:
        """Synthesize images, each frame with its own blend.

        Args:
            ws, noise_mode, max_resolution, transform: as SynthesisNetwork's
            model_weights: [N, M, L], each frame's weight of each model at each blend level (blend_levels)
        Returns:
            img: float32 [N, img_channels, img_resolution, img_resolution]
        """
        self.check_inputs(ws, noise_mode, max_resolution, transform)
        if noise is not None:
            raise ValueError("a StyleGAN3 network has no noise inputs to animate")
        shape = (ws.shape[0], self.num_models, len(self.levels))
        if model_weights is None or tuple(model_weights.shape) != shape:
            got = None if model_weights is None else list(model_weights.shape)
            raise ValueError(f"model_weights must be [N, M, levels] = {list(shape)}, got {got}")
        host = model_weights.detach().to("cpu", torch.float32)  # small; one host sync per batch
        weights = host.to(ws.device)
        constant = [not self.always_per_frame and bool((host[:, :, i] == host[:1, :, i]).all()) for i in range(len(self.levels))]

        def mixed(name: str) -> dict[str, torch.Tensor]:
            column = self.columns[name]
            return self.stacked[name].mixed(weights[:, :, column], constant[column])  # type: ignore[operator]

        t = mixed("input")
        inputs = InputTensors(t["affine.weight"], t["affine.bias"], t["weight"], self.input.freqs, self.input.phases)
        layers = []
        for spec in self.config.layers:
            t = mixed(spec.name)
            plain = self.get_submodule(spec.name)
            layers.append(LayerTensors(
                t["affine.weight"], t["affine.bias"], t["weight"], t["bias"], t["magnitude_ema"],
                plain.up_filter, plain.down_filter,
            ))
        return self.run(ws, transform, inputs, layers)


class BlendedGenerator(Generator):
    """M StyleGAN3 generators of one architecture whose per-level blend may change every frame.

    `G.synthesis(ws, model_weights=...)` takes [N, M, L] weights (L = blend_levels); the output
    equals, per frame, the static `blend_models` at that frame's weights.
    """

    can_blend = False  # its tensors are stacked; blend the models it was made of instead

    def __init__(self, models: Sequence[Generator], mapping: NDArray[np.float64], info: ModelInfo) -> None:
        base = models[0]
        super().__init__(base.config, info=info)
        states = [m.state_dict() for m in models]
        self.mapping.load_state_dict(
            {k: weighted_sum([s[f"mapping.{k}"] for s in states], mapping) for k in self.mapping.state_dict()}
        )
        self.synthesis = BlendedSynthesisNetwork([m.synthesis for m in models], base.config, base.blend_levels)
        self.num_models = len(models)
        self.to(base.device)

    @property
    def resolutions(self) -> list[int]:
        """The blend levels, in the order of model_weights' last axis."""
        return list(self.blend_levels)


def check_models(models: Sequence[object]) -> list[Generator]:
    """The models as StyleGAN3 generators; UsageError when one is not."""
    if len(models) < 2:
        raise UsageError("blending needs at least two models")
    if not all(isinstance(m, Generator) and not isinstance(m, BlendedGenerator) for m in models):
        raise UsageError("these models cannot be blended as StyleGAN3 models")
    return list(models)  # type: ignore[arg-type]


__all__ = ["BlendedGenerator", "blend_models", "check_same_architecture", "level_columns"]
