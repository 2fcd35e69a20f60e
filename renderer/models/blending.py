"""Resolution-dependent model interpolation (Pinkney & Adler 2020), static and per frame.

`p = (1 - alpha(r)) * p_base + alpha(r) * p_transfer` for every synthesis tensor of resolution r:
the const, both convs with their affine layers, biases and noise strengths, the stored noise
buffers and the ToRGB layer, i.e. everything under `synthesis.b{r}.` in our (NVIDIA) naming,
whatever format the checkpoint came from. The mapping network and w_avg come from the base model
unless asked otherwise, as in the paper.

Two forms:
- `blend` / `blend_models`: one static Generator (state-dict surgery), as the community's blend
  scripts make; `save_native` writes it.
- `BlendedGenerator` (`blend_per_frame`): the models stacked, synthesised with weights that may
  differ for every frame of a batch, in one batched pass. It wraps the StyleGAN2 network rather than
  threading through it: blended versions of the layers (BlendedFullyConnectedLayer,
  BlendedSynthesisLayer, BlendedToRGBLayer, BlendedResnetSkip, BlendedSynthesisBlock) hold the M
  models' tensors stacked and take each frame's weights; BlendedSynthesisNetwork runs them block by
  block, and a block whose weights are constant over the batch runs as a plain block (ConstantBlend).
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray
from torch import nn

from renderer.blendspec import (
    BlendSpec,
    alpha_by_resolution,
    check_column_sums,
    describe_blend,
    model_weights,
)
from renderer.errors import UsageError
from renderer.models import stylegan3_blend as sg3_blend
from renderer.models.stylegan2 import (
    HALF_PRECISION_CLAMP,
    LRELU_GAIN,
    FullyConnectedLayer,
    Generator,
    GeneratorConfig,
    ResnetSkip,
    SynthesisBlock,
    SynthesisLayer,
    SynthesisNetwork,
    ToRGBLayer,
    bias_act,
    conv2d_resample,
    layer_noise,
    noise_bias_act,
    normalize_for_half,
    per_frame_noise,
    upsample2d,
)
from renderer.models.synthesizer import FrameNoise, ModelInfo, NoiseMode, Synthesizer, weighted_sum

_BLOCK = re.compile(r"synthesis\.b(\d+)\.")


def tensor_resolution(name: str) -> int | None:
    """The block resolution a generator tensor belongs to; None for the mapping network's."""
    match = _BLOCK.match(name)
    return int(match.group(1)) if match else None


def check_same_architecture(models: Sequence[Synthesizer], names: Sequence[str] | None = None) -> None:
    """Raise UsageError listing the first mismatching tensors unless all models have one layout."""
    names = list(names) if names else [m.info.source or f"model {i}" for i, m in enumerate(models)]
    families = [m.family for m in models]
    for family, name in zip(families[1:], names[1:], strict=True):
        if family != families[0]:
            raise UsageError(f"cannot blend {names[0]} with {name}: a {families[0]} model and a {family} model")
    if families[0] == "stylegan3":
        sg3_blend.check_same_architecture(sg3_blend.check_models(models), names)
        return
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
        models: the generators (StyleGAN2 or StyleGAN3); models[0] is the base (mapping, w_avg, config, device)
        weights: [M, R] weights per blend level (`blend_levels`: StyleGAN2's block resolutions
            4, 8, ..., img_resolution; StyleGAN3's layer sizes), or one spec per
            model (a number or a {resolution: weight} table); they must sum to 1 per resolution
        mapping_weights: [M] weights of the mapping networks and w_avg; default: all from the base
    """
    check_same_architecture(models)
    resolutions = list(models[0].blend_levels)
    table = _weights_table(weights, len(models), resolutions)
    mapping = _mapping_weights(mapping_weights, len(models))
    if models[0].family == "stylegan3":
        info = _blend_info(models, table, resolutions, mapping)
        return sg3_blend.blend_models(sg3_blend.check_models(models), table, mapping, info)  # type: ignore[return-value]
    column = {r: i for i, r in enumerate(resolutions)}
    states = [m.state_dict() for m in models]
    blended = {}
    for key in states[0]:
        res = tensor_resolution(key)
        coefs = mapping if res is None else table[:, column[res]]
        blended[key] = weighted_sum([s[key] for s in states], coefs)
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
        alphas = alpha_by_resolution(alpha, base.blend_levels)
    except ValueError as e:
        raise UsageError(f"blend: {e}") from None
    weights = np.stack([1.0 - alphas, alphas])
    return blend_models([base, transfer], weights, mapping_weights=[1.0 - mapping_alpha, mapping_alpha])


def blend_with_base(base: Generator, models: Sequence[Generator], specs: Sequence[BlendSpec]) -> Generator:
    """A static N-model blend: each of `models` at its spec's weight per resolution, the base at
    the rest (`1 - sum`), the mapping and w_avg the base's. UsageError for a bad spec."""
    if len(specs) != len(models):
        raise UsageError(f"{len(models)} models need {len(models)} weight specs, got {len(specs)}")
    resolutions = base.config.block_resolutions
    try:
        table = np.stack([alpha_by_resolution(spec, resolutions) for spec in specs])
    except ValueError as e:
        raise UsageError(f"blend: {e}") from None
    return blend_models([base, *models], np.concatenate([1.0 - table.sum(axis=0, keepdims=True), table]))


# -- per-frame blends: M models stacked, one batched pass ------------------------------------------
#
# A per-frame blend never builds N weights nor splits the batch. Ops that are linear in a tensor run
# on the M stacked tensors and blend their results: a convolution takes M copies of its input, each
# scaled by its model's weight, with the M weights side by side (one conv); a dense layer blends the
# M products. The other tensors (biases, noise, the const) are blended per frame, and demodulation
# of the blended weight is a quadratic form over the Gram tensor of the M weights. A block whose
# weights are the same in every frame of the batch (a constant blend) runs the plain StyleGAN2
# block holding the blended tensors, cached while the weights repeat (ConstantBlend).


def stacked_parameter(tensors: Sequence[torch.Tensor]) -> nn.Parameter:
    """The tensors of M models stacked on a new leading axis: [M, ...]."""
    return nn.Parameter(torch.stack([t.detach() for t in tensors]), requires_grad=False)


def per_frame(mix: torch.Tensor, stacked: torch.Tensor) -> torch.Tensor:
    """Each frame's blend of a stacked tensor: mix [N, M], stacked [M, ...] -> [N, ...]."""
    return torch.tensordot(mix.to(stacked.dtype), stacked, dims=1)


def combine(mix: torch.Tensor, x: torch.Tensor, dim: int) -> torch.Tensor:
    """Blend per-model results stacked along `dim` (size M) with each frame's weights mix [N, M]."""
    shape = [1] * x.ndim
    shape[0], shape[dim] = x.shape[0], mix.shape[1]
    return (x * mix.to(x.dtype).reshape(shape)).sum(dim)


def stack_scaled_inputs(x: torch.Tensor, scales: torch.Tensor) -> torch.Tensor:
    """[N, I, H, W] and per-frame scales [N, M, I] -> the M scaled copies side by side [N, M*I, H, W]."""
    return (x.unsqueeze(1) * scales.to(x.dtype)[..., None, None]).flatten(1, 2)


def side_by_side(weight: torch.Tensor) -> torch.Tensor:
    """Stacked conv weights [M, O, I, k, k] -> one weight over M input copies [O, M*I, k, k]."""
    return weight.transpose(0, 1).flatten(1, 2)


def stacked_modulated_conv2d(
    x: torch.Tensor,  # [N, I, H, W]
    weight: torch.Tensor,  # stacked [M, O, I, k, k]
    styles: torch.Tensor,  # [N, I]
    mix: torch.Tensor,  # [N, M]
    *,
    up: bool,
    f2: torch.Tensor | None,
) -> torch.Tensor:
    """`modulated_conv2d` with each frame's blend of M weights: the convolution is linear in its
    weight, so sum_m a_m conv(x, W_m) is one conv of the M copies a_m * x with the M weights side
    by side. Returns [N, O, H', W'] before demodulation."""
    # The M-fold input [N, M*I, H, W] is handed over, not kept: conv2d_resample frees it once used.
    return conv2d_resample(
        stack_scaled_inputs(x, mix[:, :, None] * styles.float()[:, None, :]),
        side_by_side(weight.to(x.dtype)), up=up, f2=f2,
    )


def stacked_demodulation(weight: torch.Tensor, styles: torch.Tensor, mix: torch.Tensor) -> torch.Tensor:
    """`demodulation` of each frame's blend of M weights [M, O, I, k, k]: float32 [N, O].

    The blended weight sum_m a_m W_m has the squared norm per (o, i) of the quadratic form
    sum_{m,m'} a_m a_m' G[m, m', o, i], G the Gram tensor of the M weights over the kernel taps: a
    few small matmuls, whatever the activations' size.
    """
    s2 = styles.float().square()  # [N, I]
    taps = weight.float().flatten(3)  # [M, O, I, k*k]
    m, o, i = taps.shape[:3]
    gram = torch.einsum("poik,qoik->pqoi", taps, taps).reshape(m * m * o, i)
    pairs = (mix[:, :, None] * mix[:, None, :]).reshape(-1, m * m, 1)  # [N, M*M, 1]
    norms = (s2 @ gram.t()).reshape(-1, m * m, o)
    return ((pairs * norms).sum(1) + 1e-8).rsqrt()


def _count_load(module: nn.Module, incompatible_keys: object) -> None:
    module.edits += 1  # type: ignore[operator]


class StackedModule(nn.Module):
    """Base of the blended modules: the tensors of M models, stacked on a leading axis [M, ...].

    It counts assignments of its tensor attributes (`layer.bias += d` assigns too) and state-dict
    loads in `edits`, which a cached constant blend compares (see ConstantBlend).
    """

    def __init__(self) -> None:
        super().__init__()
        self.edits = 0
        self.register_load_state_dict_post_hook(_count_load)

    def __setattr__(self, name: str, value: object) -> None:
        super().__setattr__(name, value)
        if isinstance(value, torch.Tensor):
            self.edits += 1


class BlendedFullyConnectedLayer(StackedModule):
    """M FullyConnectedLayers (weights [M, O, I]) blended per frame."""

    def __init__(self, layers: Sequence[FullyConnectedLayer]) -> None:
        super().__init__()
        self.lrelu = layers[0].lrelu
        self.weight_gain = layers[0].weight_gain
        self.bias_gain = layers[0].bias_gain
        self.weight = stacked_parameter([layer.weight for layer in layers])
        self.bias = stacked_parameter([layer.bias for layer in layers])

    def forward(self, x: torch.Tensor, mix: torch.Tensor) -> torch.Tensor:
        w = self.weight.to(x.dtype) * self.weight_gain
        b = per_frame(mix, self.bias).to(x.dtype) * self.bias_gain  # [N, O]
        x = combine(mix, torch.einsum("ni,moi->nmo", x, w), dim=1)  # x @ W is linear in W
        return bias_act(x, b, lrelu=self.lrelu, gain=LRELU_GAIN if self.lrelu else 1.0, clamp=None)


class BlendedSynthesisLayer(StackedModule):
    """M SynthesisLayers blended per frame: stacked conv, Gram demodulation, per-frame noise and bias."""

    def __init__(self, layers: Sequence[SynthesisLayer]) -> None:
        super().__init__()
        first = layers[0]
        self.resolution = first.resolution
        self.up = first.up
        self.use_noise = first.use_noise
        self.conv_clamp = first.conv_clamp
        self.affine = BlendedFullyConnectedLayer([layer.affine for layer in layers])
        self.weight = stacked_parameter([layer.weight for layer in layers])  # [M, O, I, k, k]
        self.bias = stacked_parameter([layer.bias for layer in layers])
        if self.use_noise:
            self.noise_strength = stacked_parameter([layer.noise_strength for layer in layers])
            self.register_buffer("noise_const", torch.stack([layer.noise_const for layer in layers]))

    def forward(
        self,
        x: torch.Tensor,
        w: torch.Tensor,
        f2: torch.Tensor,
        *,
        noise_mode: str,
        gain: float = 1.0,
        clamp_fallback: float | None = None,
        mix: torch.Tensor,  # [N, M]
        frame_noise: tuple[torch.Tensor | None, torch.Tensor | None] | None = None,
    ) -> torch.Tensor:
        styles = self.affine(w.float(), mix)
        weight = self.weight
        if x.dtype == torch.float16:
            # One scale per output channel, shared by the M models, keeps their blend exact.
            weight, styles = normalize_for_half(weight, styles, keep=1)
        x = stacked_modulated_conv2d(x, weight, styles, mix, up=self.up, f2=f2)
        dcoefs = stacked_demodulation(weight, styles, mix)
        noise = strength = None
        if self.use_noise and noise_mode != "none":
            def stored() -> torch.Tensor:
                return per_frame(mix, self.noise_const).to(x.dtype).unsqueeze(1)  # [N, 1, H, W]

            noise = layer_noise(x, noise_mode, self.resolution, stored)
            strength = per_frame(mix, self.noise_strength).to(x.dtype).reshape(-1, 1, 1, 1)
            noise, strength = per_frame_noise(noise, strength, frame_noise, x.dtype)
        return noise_bias_act(
            x, dcoefs, per_frame(mix, self.bias).to(x.dtype)[:, :, None, None], noise, strength,
            gain=gain, clamp=self.conv_clamp if self.conv_clamp is not None else clamp_fallback,
        )


class BlendedToRGBLayer(StackedModule):
    """M ToRGBLayers blended per frame."""

    def __init__(self, layers: Sequence[ToRGBLayer]) -> None:
        super().__init__()
        self.conv_clamp = layers[0].conv_clamp
        self.weight_gain = layers[0].weight_gain
        self.affine = BlendedFullyConnectedLayer([layer.affine for layer in layers])
        self.weight = stacked_parameter([layer.weight for layer in layers])
        self.bias = stacked_parameter([layer.bias for layer in layers])

    def forward(
        self, x: torch.Tensor, w: torch.Tensor, *, clamp_fallback: float | None = None, mix: torch.Tensor
    ) -> torch.Tensor:
        styles = self.affine(w.float(), mix) * self.weight_gain
        x = stacked_modulated_conv2d(x, self.weight, styles, mix, up=False, f2=None)
        clamp = self.conv_clamp if self.conv_clamp is not None else clamp_fallback
        return bias_act(x, per_frame(mix, self.bias), lrelu=False, gain=1.0, clamp=clamp)


class BlendedResnetSkip(StackedModule):
    """M ResnetSkips blended per frame."""

    def __init__(self, skips: Sequence[ResnetSkip]) -> None:
        super().__init__()
        self.weight_gain = skips[0].weight_gain
        self.weight = stacked_parameter([skip.weight for skip in skips])

    def forward(self, x: torch.Tensor, f2: torch.Tensor, *, gain: float, mix: torch.Tensor) -> torch.Tensor:
        x = upsample2d(x, f2)
        weight = self.weight.to(x.dtype) * (self.weight_gain * gain)
        scales = mix[:, :, None].expand(-1, -1, x.shape[1])
        return F.conv2d(stack_scaled_inputs(x, scales), side_by_side(weight))


@dataclasses.dataclass(frozen=True)
class BlockMix:
    """The frames' weights of the M models at one block."""

    weights: torch.Tensor  # float32 [N, M], on the model's device
    constant: tuple[float, ...] | None  # the weights when every frame has the same (a constant blend)


class ConstantBlend:
    """A plain SynthesisBlock holding a stacked block's blend at one set of weights, kept while the
    weights and the stacked tensors stay the same.

    A constant blend then costs what a single model costs, and runs the very code of a single
    model (`blend_models` is the same blend, made once). Whether the stacked tensors stayed the same
    is decided with public PyTorch only: the same storage (data pointer), device and dtype for every
    tensor, so moving, casting, replacing or deep-copying the model blends anew (the entry keeps the
    storages it compared alive, so no new tensor can reuse their addresses), and no tensor attribute
    assigned and no state dict loaded since (StackedModule.edits). PyTorch offers no public way to
    see any other in-place write (`layer.bias.add_(d)`, writes through state_dict() tensors), and
    comparing contents would cost as much as blending anew: after such an edit, call `forget()`
    (BlendedGenerator.forget_constant_blends()).
    """

    def __init__(self, config: GeneratorConfig, resolution: int) -> None:
        self.config, self.resolution = config, resolution
        self.block: SynthesisBlock | None = None  # made on first use: per-frame blends never need it
        self.compile_options: dict[str, object] | None = None  # set by compile(): the block runs compiled
        self.forget()

    def _plain_block(self) -> SynthesisBlock:
        if self.block is None:
            # Its initial weights are replaced at once; drawing them must not move the global RNG
            # that noise_mode="random" draws from. (Building it on the meta device instead costs
            # a second of torch imports on first use.)
            with torch.random.fork_rng(devices=[]):
                self.block = SynthesisBlock(self.config, self.resolution).requires_grad_(False)
            if self.compile_options is not None:
                # Its blended tensors are reassigned for new weights: graph inputs, not constants.
                self.block.compile(**self.compile_options)  # type: ignore[arg-type]
        return self.block

    def compile(self, **options: object) -> None:
        """Run the plain block through torch.compile with these options from now on."""
        self.compile_options = options
        if self.block is not None:
            self.block.compile(**options)  # type: ignore[arg-type]

    def __deepcopy__(self, memo: dict[int, object]) -> ConstantBlend:
        return ConstantBlend(self.config, self.resolution)  # a cache: a copied model blends anew

    def forget(self) -> None:
        self.signature: tuple[object, ...] | None = None
        self.sources: list[torch.Tensor] = []  # detached views that keep the compared storages alive

    def get(self, stacked: BlendedSynthesisBlock, mix: BlockMix) -> SynthesisBlock:
        """The plain block of `stacked` blended at mix.weights[0] (all frames have those)."""
        tensors = {**dict(stacked.named_parameters()), **dict(stacked.named_buffers())}
        signature = (
            mix.constant,
            tuple(m.edits for m in stacked.modules() if isinstance(m, StackedModule)),
            tuple((t.data_ptr(), t.device, t.dtype) for t in tensors.values()),
        )
        if signature != self.signature:
            weights = mix.weights[0]  # [M]
            blended = {name: torch.tensordot(weights.to(t.dtype), t, dims=1) for name, t in tensors.items()}
            block = self._plain_block()
            shapes = {**dict(block.named_parameters()), **dict(block.named_buffers())}
            if all(shapes[name].shape == t.shape for name, t in blended.items()):
                block.load_state_dict(blended, assign=True)
            else:  # an extended canvas: the constant and the noise maps are larger than the config's
                for name, t in blended.items():
                    owner, _, attr = name.rpartition(".")
                    module = block.get_submodule(owner)
                    setattr(module, attr, nn.Parameter(t, requires_grad=False) if attr in module._parameters else t)
            self.signature, self.sources = signature, [t.detach() for t in tensors.values()]
        return self._plain_block()


class BlendedSynthesisBlock(StackedModule):
    """M SynthesisBlocks: per-frame blends with the layers above, constant ones as a plain block."""

    def __init__(self, blocks: Sequence[SynthesisBlock], config: GeneratorConfig) -> None:
        super().__init__()
        first = blocks[0]
        self.resolution = first.resolution
        self.architecture = first.architecture
        self.is_first = first.is_first
        self.has_torgb = first.has_torgb
        self.num_conv = first.num_conv
        self.num_torgb = first.num_torgb
        if self.is_first:
            self.const = stacked_parameter([block.const for block in blocks])
        else:
            self.conv0 = BlendedSynthesisLayer([block.conv0 for block in blocks])
        self.conv1 = BlendedSynthesisLayer([block.conv1 for block in blocks])
        if self.has_torgb:
            self.torgb = BlendedToRGBLayer([block.torgb for block in blocks])
        if not self.is_first and self.architecture == "resnet":
            self.skip = BlendedResnetSkip([block.skip for block in blocks])
        self.constant_blend = ConstantBlend(config, self.resolution)  # not a submodule: no state, not moved

    def forward(
        self,
        x: torch.Tensor | None,
        img: torch.Tensor | None,
        ws: torch.Tensor,  # [N, num_conv + num_torgb, w_dim]
        f2: torch.Tensor,
        *,
        noise_mode: str,
        dtype: torch.dtype,
        mix: BlockMix,
        noise: Sequence[tuple[torch.Tensor | None, torch.Tensor | None]] | None = None,  # per conv
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        if mix.constant is not None:
            extra = {} if noise is None else {"noise": noise}
            return self.constant_blend.get(self, mix)(x, img, ws, f2, noise_mode=noise_mode, dtype=dtype, **extra)
        return self.per_frame_forward(x, img, ws, f2, noise_mode=noise_mode, dtype=dtype, weights=mix.weights, noise=noise)

    def compile(self, *args: Any, **kwargs: Any) -> None:
        """torch.compile the block's parts: the per-frame path (the weights a tensor input) and the
        plain block of constant blends. Choosing between them reads the weights on the host, batch
        by batch, and stays eager, so new weights never recompile."""
        self.per_frame_forward = torch.compile(self.per_frame_forward, *args, **kwargs)  # type: ignore[method-assign]
        self.constant_blend.compile(**kwargs)

    def per_frame_forward(
        self,
        x: torch.Tensor | None,
        img: torch.Tensor | None,
        ws: torch.Tensor,
        f2: torch.Tensor,
        *,
        noise_mode: str,
        dtype: torch.dtype,
        weights: torch.Tensor,  # [N, M]
        noise: Sequence[tuple[torch.Tensor | None, torch.Tensor | None]] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The block with each frame's own blend of the M models."""
        clamp = HALF_PRECISION_CLAMP if dtype != torch.float32 else None
        layer = {"noise_mode": noise_mode, "clamp_fallback": clamp, "mix": weights}
        conv_noise = [{"frame_noise": n} for n in noise] if noise is not None else [{}] * self.num_conv
        if self.is_first:
            x = per_frame(weights, self.const).to(dtype)  # [N, C, 4, 4]
            x = self.conv1(x, ws[:, 0], f2, **layer, **conv_noise[0])
        else:
            assert x is not None
            x = x.to(dtype)
            if self.architecture == "resnet":
                y = self.skip(x, f2, gain=math.sqrt(0.5), mix=weights)
                x = self.conv0(x, ws[:, 0], f2, **layer, **conv_noise[0])
                x = self.conv1(x, ws[:, 1], f2, gain=math.sqrt(0.5), **layer, **conv_noise[1])
                x = y + x
            else:
                x = self.conv0(x, ws[:, 0], f2, **layer, **conv_noise[0])
                x = self.conv1(x, ws[:, 1], f2, **layer, **conv_noise[1])
        if img is not None:
            img = upsample2d(img, f2)
        if self.has_torgb:
            y = self.torgb(x, ws[:, self.num_conv], clamp_fallback=clamp, mix=weights).float()
            img = img + y if img is not None else y
        return x, img


class BlendedSynthesisNetwork(SynthesisNetwork):
    """The synthesis networks of M models, blended per block with per-frame weights."""

    def __init__(self, networks: Sequence[SynthesisNetwork], config: GeneratorConfig) -> None:
        super().__init__(config)
        for res in self.block_resolutions:
            blocks = [network.get_submodule(f"b{res}") for network in networks]
            setattr(self, f"b{res}", BlendedSynthesisBlock(blocks, config))  # type: ignore[arg-type]
        self.num_models = len(networks)

    def forward(  # type: ignore[override]
        self,
        ws: torch.Tensor,
        noise_mode: NoiseMode = "const",
        max_resolution: int | None = None,
        noise: FrameNoise | None = None,
        model_weights: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Synthesize images, each frame with its own blend.

        Args:
            ws: [N, num_ws, w_dim]
            noise_mode, max_resolution: as SynthesisNetwork's
            model_weights: [N, M, num_blocks], each frame's weight of each model at each block resolution
        Returns:
            img: float32 [N, img_channels, R, R]
        """
        stop = self.check_inputs(ws, noise_mode, max_resolution)
        mixes = self.block_mixes(model_weights, ws.shape[0])
        ws = ws.to(torch.float32)
        x: torch.Tensor | None = None
        img: torch.Tensor | None = None
        blocks = self.split_noise(self.split_ws(ws, stop), noise)
        for (block, block_ws, block_noise), mix in zip(blocks, mixes, strict=False):  # may stop early
            dtype = self.block_dtype(block.resolution, ws.device)
            x, img = block(x, img, block_ws, self.f2, noise_mode=noise_mode, dtype=dtype, mix=mix, **block_noise)
        assert img is not None
        return img

    def block_mixes(self, model_weights: torch.Tensor | None, batch: int) -> list[BlockMix]:
        """Each block's per-frame weights, checked; constant when every frame has the same."""
        shape = (batch, self.num_models, len(self.block_resolutions))
        if model_weights is None or tuple(model_weights.shape) != shape:
            got = None if model_weights is None else list(model_weights.shape)
            raise ValueError(f"model_weights must be [N, M, blocks] = {list(shape)}, got {got}")
        host = model_weights.detach().to("cpu", torch.float32)  # small; one host sync per batch
        weights = host.to(self.f2.device)
        mixes = []
        for i in range(len(self.block_resolutions)):
            block = host[:, :, i]
            constant = tuple(block[0].tolist()) if bool((block == block[:1]).all()) else None
            mixes.append(BlockMix(weights[:, :, i], constant))
        return mixes

    def forget_constant_blends(self) -> None:
        """Drop the cached constant blends (needed only after in-place edits ConstantBlend cannot see)."""
        for res in self.block_resolutions:
            getattr(self, f"b{res}").constant_blend.forget()


class BlendedGenerator(Generator):
    """M generators of one architecture whose per-resolution blend may change every frame.

    `G.synthesis(ws, model_weights=...)` takes [N, M, R] weights (R block resolutions); frames of
    one batch may all differ. The output equals, per frame, the static `blend_models` at that
    frame's weights, while costing one batched pass with M-fold convolutions, and the same as a
    single model for blocks whose weights are constant over the batch.
    """

    can_blend = False  # its tensors are stacked; blend the models it was made of instead

    def __init__(self, models: Sequence[Generator], *, mapping_weights: Sequence[float] | None = None) -> None:
        if len(models) < 2:
            raise UsageError("blending needs at least two models")
        check_same_architecture(models)
        base = models[0]
        mapping = _mapping_weights(mapping_weights, len(models))
        super().__init__(base.config, info=_blend_info(models, None, base.config.block_resolutions, mapping))
        states = [m.state_dict() for m in models]
        self.mapping.load_state_dict(
            {k: weighted_sum([s[f"mapping.{k}"] for s in states], mapping) for k in self.mapping.state_dict()}
        )
        self.synthesis = BlendedSynthesisNetwork([m.synthesis for m in models], base.config)
        self.num_models = len(models)
        self.to(base.device)

    @property
    def resolutions(self) -> list[int]:
        """The block resolutions, in the order of model_weights' last axis."""
        return self.config.block_resolutions

    def forget_constant_blends(self) -> None:
        """See ConstantBlend: only needed after editing stacked tensors in place by other means
        than assigning them."""
        self.synthesis.forget_constant_blends()

    def _noise_layers(self) -> list[BlendedSynthesisLayer]:  # type: ignore[override]
        # Stacked maps, [M, H, W] each.
        return [m for m in self.synthesis.modules() if isinstance(m, BlendedSynthesisLayer) and m.use_noise]


def _stylegan3_per_frame(models: Sequence[Synthesizer], *, mapping_weights: Sequence[float] | None = None) -> Synthesizer:
    generators = sg3_blend.check_models(models)
    check_same_architecture(generators)
    mapping = _mapping_weights(mapping_weights, len(models))
    info = _blend_info(generators, None, generators[0].blend_levels, mapping)
    return sg3_blend.BlendedGenerator(generators, mapping, info)


# One line per model family whose generators blend per frame.
PER_FRAME_BLENDS: dict[str, Callable[..., Synthesizer]] = {
    "stylegan2": BlendedGenerator,
    "stylegan3": _stylegan3_per_frame,
}


def blend_per_frame(
    models: Sequence[Synthesizer], *, mapping_weights: Sequence[float] | None = None
) -> Synthesizer:
    """The synthesizer of M models of one family and architecture whose per-resolution blend may
    change every frame (num_models = M; synthesis takes model_weights [N, M, len(levels)]).

    Raises:
        UsageError: the models cannot be blended (different families, or a family without per-frame blends)
    """
    families = sorted({m.family for m in models})
    if len(families) != 1:
        raise UsageError(f"cannot blend models of different families ({', '.join(families)})")
    blended = PER_FRAME_BLENDS.get(families[0])
    if blended is None or not all(m.can_blend for m in models):
        raise UsageError(f"these {families[0]} models cannot be blended per frame")
    return blended(models, mapping_weights=mapping_weights)


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


def _blend_info(
    models: Sequence[Synthesizer],
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
