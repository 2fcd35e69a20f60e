"""Resolution-dependent model interpolation (Pinkney & Adler 2020), static and per frame.

`p = (1 - alpha(r)) * p_base + alpha(r) * p_transfer` for every synthesis tensor of resolution r:
the const, both convs with their affine layers, biases and noise strengths, the stored noise
buffers and the ToRGB layer, i.e. everything under `synthesis.b{r}.` in our (NVIDIA) naming,
whatever format the checkpoint came from. The mapping network and w_avg come from the base model
unless asked otherwise, as in the paper.

Two forms:
- `blend` / `blend_models`: one static Generator (state-dict surgery), as the community's blend
  scripts make; `save_native` writes it.
- `BlendedGenerator`: the models stacked, synthesised with weights that may differ for every
  frame of a batch (see `renderer.models.stylegan2.ModelMix` for how that stays one batched pass).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import torch
from numpy.typing import NDArray

from renderer.blendspec import (
    BlendSpec,
    alpha_by_resolution,
    check_column_sums,
    describe_blend,
    model_weights,
)
from renderer.errors import UsageError
from renderer.models.stylegan2 import Generator, GeneratorConfig, ModelInfo, ModelMix, SynthesisNetwork

_BLOCK = re.compile(r"synthesis\.b(\d+)\.")


def tensor_resolution(name: str) -> int | None:
    """The block resolution a generator tensor belongs to; None for the mapping network's."""
    match = _BLOCK.match(name)
    return int(match.group(1)) if match else None


def check_same_architecture(models: Sequence[Generator], names: Sequence[str] | None = None) -> None:
    """Raise UsageError listing the first mismatching tensors unless all models have one layout."""
    names = list(names) if names else [m.info.source or f"model {i}" for i, m in enumerate(models)]
    reference = {k: tuple(v.shape) for k, v in models[0].state_dict().items()}
    for model, name in zip(models[1:], names[1:], strict=True):
        shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
        problems = []
        for key in [*reference, *(k for k in shapes if k not in reference)]:
            a, b = reference.get(key), shapes.get(key)
            if a != b:
                problems.append(f"{key} {list(a) if a else 'missing'} vs {list(b) if b else 'missing'}")
        if not problems and models[0].config.architecture != model.config.architecture:
            problems.append(f"architecture {models[0].config.architecture} vs {model.config.architecture}")
        if not problems and models[0].config.resample_filter != model.config.resample_filter:
            problems.append("different resample filters")
        if problems:
            more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
            a, b = models[0].config, model.config
            sizes = f" ({a.img_resolution} px vs {b.img_resolution} px)" if a.img_resolution != b.img_resolution else ""
            raise UsageError(
                f"cannot blend {names[0]} with {name}: the architectures differ{sizes}: "
                + "; ".join(problems[:3]) + more
            )


def blend_models(
    models: Sequence[Generator],
    weights: NDArray[np.floating] | Sequence[BlendSpec],
    *,
    mapping_weights: Sequence[float] | None = None,
) -> Generator:
    """Blend M generators of one architecture into a static Generator.

    Args:
        models: the generators; models[0] is the base (mapping, w_avg, config, device)
        weights: [M, R] weights per block resolution (4, 8, ..., img_resolution), or one spec per
            model (a number or a {resolution: weight} table); they must sum to 1 per resolution
        mapping_weights: [M] weights of the mapping networks and w_avg; default: all from the base
    """
    check_same_architecture(models)
    resolutions = models[0].config.block_resolutions
    table = _weights_table(weights, len(models), resolutions)
    mapping = _mapping_weights(mapping_weights, len(models))
    column = {r: i for i, r in enumerate(resolutions)}
    states = [m.state_dict() for m in models]
    blended = {}
    for key in states[0]:
        res = tensor_resolution(key)
        coefs = mapping if res is None else table[:, column[res]]
        blended[key] = _weighted_sum([s[key] for s in states], coefs)
    base = models[0]
    G = Generator(base.config, info=_blend_info(models, table, resolutions, mapping))
    G.load_state_dict(blended)
    return G.to(base.device)


def blend(
    base: Generator, transfer: Generator, alpha: BlendSpec, *, mapping_alpha: float = 0.0
) -> Generator:
    """The paper's two-model blend: `(1 - alpha(r)) * base + alpha(r) * transfer` per resolution.

    Args:
        alpha: a number, {"swap": R, "low": "transfer"|"base", "width": W}, or {resolution: alpha}
        mapping_alpha: alpha of the mapping network and w_avg (0: from the base, as in the paper)
    """
    try:
        alphas = alpha_by_resolution(alpha, base.config.block_resolutions)
    except ValueError as e:
        raise UsageError(f"blend: {e}") from None
    weights = np.stack([1.0 - alphas, alphas])
    return blend_models([base, transfer], weights, mapping_weights=[1.0 - mapping_alpha, mapping_alpha])


class BlendedSynthesisNetwork(SynthesisNetwork):
    """The synthesis networks of M models, every tensor stacked on a leading model axis, blended
    per block with per-frame weights (see renderer.models.stylegan2.ModelMix)."""

    def __init__(self, networks: Sequence[SynthesisNetwork], config: GeneratorConfig) -> None:
        super().__init__(config)
        sources = [n.state_dict() for n in networks]
        for module_name, module in self.named_modules():
            prefix = f"{module_name}." if module_name else ""
            for name in list(module._parameters):
                stacked = torch.stack([s[prefix + name] for s in sources])
                setattr(module, name, torch.nn.Parameter(stacked, requires_grad=False))
            for name in list(module._buffers):
                if name not in module._non_persistent_buffers_set:
                    module.register_buffer(name, torch.stack([s[prefix + name] for s in sources]))
        self.num_models = len(networks)
        self._reset_cache()

    def _reset_cache(self) -> None:
        # Per block: the weights of the constant blend whose tensors are cached, and the cache.
        self._cache: list[tuple[tuple[float, ...], dict]] = [((), {}) for _ in self.block_resolutions]

    def _block_mixes(self, model_weights: torch.Tensor | None, batch: int) -> list[ModelMix | None]:
        shape = (batch, self.num_models, len(self.block_resolutions))
        if model_weights is None or tuple(model_weights.shape) != shape:
            got = None if model_weights is None else list(model_weights.shape)
            raise ValueError(f"model_weights must be [N, M, blocks] = {list(shape)}, got {got}")
        host = model_weights.detach().to("cpu", torch.float32)  # small; one host sync per batch
        weights = host.to(self.f2.device)
        mixes: list[ModelMix | None] = []
        for i in range(len(self.block_resolutions)):
            block = host[:, :, i]
            if bool((block == block[:1]).all()):
                # A constant blend: reuse this block's blended tensors while its weights repeat.
                key = tuple(block[0].tolist())
                if self._cache[i][0] != key:
                    self._cache[i] = (key, {})
                mixes.append(ModelMix(weights[:, :, i], uniform=True, cache=self._cache[i][1]))
            else:
                mixes.append(ModelMix(weights[:, :, i], uniform=False))
        return mixes

    def _apply(self, fn, *args, **kwargs):  # type: ignore[no-untyped-def]
        self._reset_cache()  # moved or cast tensors: blend anew
        return super()._apply(fn, *args, **kwargs)


class BlendedGenerator(Generator):
    """M generators of one architecture whose per-resolution blend may change every frame.

    `G.synthesis(ws, model_weights=...)` takes [N, M, R] weights (R block resolutions); frames of
    one batch may all differ. The output equals, per frame, the static `blend_models` at that
    frame's weights, while costing one batched pass with M-fold convolutions, and the same as a
    single model for blocks whose weights are constant over the batch.
    """

    def __init__(self, models: Sequence[Generator], *, mapping_weights: Sequence[float] | None = None) -> None:
        if len(models) < 2:
            raise UsageError("blending needs at least two models")
        check_same_architecture(models)
        base = models[0]
        mapping = _mapping_weights(mapping_weights, len(models))
        super().__init__(base.config, info=_blend_info(models, None, base.config.block_resolutions, mapping))
        states = [m.state_dict() for m in models]
        self.mapping.load_state_dict(
            {k: _weighted_sum([s[f"mapping.{k}"] for s in states], mapping) for k in self.mapping.state_dict()}
        )
        self.synthesis = BlendedSynthesisNetwork([m.synthesis for m in models], base.config)
        self.to(base.device)

    @property
    def resolutions(self) -> list[int]:
        """The block resolutions, in the order of model_weights' last axis."""
        return self.config.block_resolutions


def alphas_to_model_weights(alphas: torch.Tensor | NDArray[np.floating]) -> torch.Tensor:
    """Two-model alphas per frame and resolution [N, R] -> model weights [N, 2, R]."""
    a = torch.as_tensor(alphas, dtype=torch.float32)
    return torch.stack([1.0 - a, a], dim=1)


# ---------------------------------------------------------------------------------------------


def _weights_table(
    weights: NDArray[np.floating] | Sequence[BlendSpec], num_models: int, resolutions: Sequence[int]
) -> NDArray[np.float64]:
    """[M, R] weights given as a table or as one spec per model, checked; UsageError if wrong."""
    try:
        if isinstance(weights, np.ndarray) and weights.ndim == 2:
            table = weights.astype(np.float64)
            if table.shape != (num_models, len(resolutions)):
                raise ValueError(f"weights must be [models, resolutions] = [{num_models}, {len(resolutions)}], got {list(table.shape)}")
            check_column_sums(table, resolutions)
            return table
        if len(weights) != num_models:
            raise ValueError(f"{num_models} models need {num_models} weight specs, got {len(weights)}")
        return model_weights(list(weights), resolutions)
    except ValueError as e:
        raise UsageError(str(e)) from None


def _mapping_weights(weights: Sequence[float] | None, num_models: int) -> NDArray[np.float64]:
    if weights is None:
        return np.eye(num_models)[0]
    table = np.asarray(weights, dtype=np.float64)
    if table.shape != (num_models,) or abs(table.sum() - 1.0) > 1e-6:
        raise UsageError(f"mapping weights must be {num_models} numbers summing to 1, got {list(weights)}")
    return table


def _weighted_sum(tensors: Sequence[torch.Tensor], coefs: NDArray[np.float64]) -> torch.Tensor:
    """sum_m coefs[m] * tensors[m] in float32; a weight of exactly 1 copies its tensor bit for bit."""
    hit = np.flatnonzero(coefs == 1.0)
    if len(hit) == 1 and np.all(np.delete(coefs, hit) == 0.0):
        return tensors[int(hit[0])].clone()
    out = torch.zeros_like(tensors[0], dtype=torch.float32)
    for tensor, coef in zip(tensors, coefs, strict=True):
        if coef != 0.0:
            out += float(coef) * tensor.float()
    return out.to(tensors[0].dtype)


def _blend_info(
    models: Sequence[Generator],
    table: NDArray[np.float64] | None,
    resolutions: Sequence[int],
    mapping: NDArray[np.float64],
) -> ModelInfo:
    sources = [m.info.source or f"model {i}" for i, m in enumerate(models)]
    notes = [f"blend of {', '.join(sources)}"]
    if table is not None:
        for source, row in zip(sources, table, strict=True):
            notes.append(f"{source}: " + describe_blend({r: float(v) for r, v in zip(resolutions, row, strict=True)}))
    notes.append("mapping and w_avg: " + ", ".join(f"{s} {w:g}" for s, w in zip(sources, mapping, strict=True) if w))
    return ModelInfo(format="blend", source=" + ".join(sources), w_avg_source=models[0].info.w_avg_source, notes=tuple(notes))
