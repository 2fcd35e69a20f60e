"""StyleGAN2 generator (mapping + synthesis) in plain PyTorch.

The module and parameter names follow NVIDIA's stylegan2-ada-pytorch (`mapping.fc0.weight`,
`synthesis.b64.conv1.affine.bias`, ...), so every checkpoint format is converted to one layout and
the tensors of a resolution r are exactly those under `synthesis.b{r}.`. No custom CUDA code: the
same operations run on CPU, CUDA and MPS. No I/O here; loaders live in `renderer.models.checkpoints`.

The modulated convolution uses the "modulate the input, demodulate the output" form, which is
mathematically the weight-modulation of the paper but keeps one convolution weight shared by the
whole batch (a single large conv instead of a grouped conv per sample).
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from renderer.models.canvas import grow_const, grow_noise, offsets
from renderer.models.derived import derived
from renderer.models.synthesizer import (
    NOISE_MODES,
    ConfiguredGenerator,
    FrameNoise,
    ModelInfo,
    NoiseMode,
    check_single_model,
)

Architecture = Literal["skip", "orig", "resnet"]

LRELU_SLOPE = 0.2
LRELU_GAIN = math.sqrt(2.0)
# Clamp used by half-precision layers of models that were trained without one (TF models):
# NVIDIA's training default, far above the activations of a healthy generator.
HALF_PRECISION_CLAMP = 256.0


def config_to_dict(config: Any) -> dict[str, Any]:
    """A network config (G's or D's) as JSON-ready values: channel keys as strings, the filter a list."""
    d = dataclasses.asdict(config)
    d["channels"] = {str(r): c for r, c in config.channels.items()}
    d["resample_filter"] = list(config.resample_filter)
    return d


@dataclasses.dataclass(frozen=True)
class GeneratorConfig:
    """Architecture of a StyleGAN2 generator: everything needed to build it, nothing learned."""

    z_dim: int  # input latent size
    w_dim: int  # intermediate latent size
    img_resolution: int  # output side in pixels, a power of two >= 4
    channels: Mapping[int, int]  # feature channels at each resolution 4, 8, ..., img_resolution
    img_channels: int = 3
    c_dim: int = 0  # conditioning label size; 0 = unconditional
    mapping_layers: int = 8
    mapping_hidden: int | None = None  # hidden width of the mapping MLP; None = w_dim
    embed_features: int | None = None  # label embedding width; None = w_dim
    mapping_lr_multiplier: float = 0.01  # stored mapping weights are scaled by this at run time
    architecture: Architecture = "skip"
    conv_clamp: float | None = None  # clamp of conv outputs; None = no clamp
    use_noise: bool = True
    resample_filter: tuple[float, ...] = (1.0, 3.0, 3.0, 1.0)  # separable FIR taps (normalised)
    num_fp16_res: int = 4  # how many top resolutions run in half precision when asked for

    def __post_init__(self) -> None:
        res = self.img_resolution
        if res < 4 or res & (res - 1):
            raise ValueError(f"img_resolution must be a power of two >= 4, got {res}")
        channels = {int(r): int(c) for r, c in self.channels.items()}
        missing = [r for r in self.block_resolutions if r not in channels]
        if missing:
            raise ValueError(f"channels missing for resolutions {missing}")
        object.__setattr__(self, "channels", channels)
        taps = [float(v) for v in self.resample_filter]
        if len(taps) < 2 or len(taps) % 2 or sum(taps) == 0:
            raise ValueError(f"resample_filter needs an even number (>= 2) of taps with a nonzero sum, got {taps}")
        object.__setattr__(self, "resample_filter", tuple(v / sum(taps) for v in taps))
        if self.architecture not in ("skip", "orig", "resnet"):
            raise ValueError(f"unknown architecture {self.architecture!r}")

    @property
    def block_resolutions(self) -> list[int]:
        return [2**i for i in range(2, int(math.log2(self.img_resolution)) + 1)]

    @property
    def num_ws(self) -> int:
        """One w per conv layer plus one for the final ToRGB."""
        return 2 * len(self.block_resolutions)

    def to_dict(self) -> dict[str, Any]:
        return config_to_dict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> GeneratorConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown generator config keys {sorted(unknown)}")
        kwargs = dict(d)
        kwargs["channels"] = {int(r): int(c) for r, c in d["channels"].items()}
        if "resample_filter" in kwargs:
            kwargs["resample_filter"] = tuple(kwargs["resample_filter"])
        return cls(**kwargs)


def normalize_2nd_moment(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()


def activation_layout(device: torch.device) -> torch.memory_format:
    """The memory layout of the activations: channels-last on a CPU, where oneDNN's convolutions
    work in NHWC natively (an NCHW activation is reordered in and out of every conv, a fifth of a
    frame's time); contiguous elsewhere."""
    return torch.channels_last if device.type == "cpu" else torch.contiguous_format


def resample_filter_2d(taps: tuple[float, ...]) -> torch.Tensor:
    """Separable FIR filter as a normalised 2-D kernel (sum 1): float32 [k, k]."""
    f = torch.tensor(taps, dtype=torch.float32)
    f2 = torch.outer(f, f)
    return f2 / f2.sum()


def _depthwise(f2: torch.Tensor, channels: int, dtype: torch.dtype) -> torch.Tensor:
    return f2.to(dtype)[None, None].expand(channels, 1, *f2.shape)


def upsample2d(x: torch.Tensor, f2: torch.Tensor) -> torch.Tensor:
    """2x upsampling with a FIR filter (zero insertion, then filtering with gain 4).

    A strided transposed depthwise convolution (which scatters, i.e. convolves, with its kernel)
    with padding (k - 2) / 2 computes exactly the zero-insert / pad / convolve sequence of NVIDIA's
    `upsample2d` for an even k-tap filter.
    """
    c = x.shape[1]
    k = f2.shape[0]
    w = _depthwise(f2 * 4, c, x.dtype)
    return F.conv_transpose2d(x, w, stride=2, padding=(k - 2) // 2, groups=c)


def blur_after_transposed_conv(x: torch.Tensor, f2: torch.Tensor) -> torch.Tensor:
    """The FIR filter that follows a stride-2 transposed 3x3 conv: pad 1 each side, gain 4."""
    c = x.shape[1]
    k = f2.shape[0]
    pad = (k - 2) // 2
    w = _depthwise(f2.flip([0, 1]) * 4, c, x.dtype)  # conv2d correlates: flip to convolve
    return F.conv2d(x, w, padding=pad, groups=c)


def bias_act(
    x: torch.Tensor,
    bias: torch.Tensor,
    *,
    lrelu: bool,
    gain: float,
    clamp: float | None,
) -> torch.Tensor:
    """Add a per-channel bias (on axis 1: [C], or one per frame [N, C] for a per-frame blend), apply
    leaky ReLU (or nothing), scale, clamp."""
    if bias.ndim == 2:
        x = x + bias.to(x.dtype).reshape(*bias.shape, *[1] * (x.ndim - 2))
    else:
        x = x + bias.to(x.dtype).reshape([-1 if i == 1 else 1 for i in range(x.ndim)])
    if lrelu:
        x = F.leaky_relu(x, LRELU_SLOPE)
    if gain != 1:
        x = x * gain
    if clamp is not None:
        x = x.clamp(-clamp, clamp)
    return x


class FullyConnectedLayer(nn.Module):
    """Dense layer with equalized learning rate: stored weights are scaled at run time."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        lrelu: bool = False,  # leaky ReLU with gain sqrt(2), else linear
        lr_multiplier: float = 1.0,  # run-time scale of weight (with 1/sqrt(in)) and bias
        bias_init: float = 0.0,
    ) -> None:
        super().__init__()
        self.lrelu = lrelu
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_multiplier)
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init)))
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight.to(x.dtype) * self.weight_gain
        b = self.bias.to(x.dtype) * self.bias_gain
        x = F.linear(x, w)
        return bias_act(x, b, lrelu=self.lrelu, gain=LRELU_GAIN if self.lrelu else 1.0, clamp=None)


class MappingNetwork(nn.Module):
    """z (and optional label c) -> w, broadcast to num_ws layers, with truncation."""

    def __init__(self, config: GeneratorConfig) -> None:
        super().__init__()
        self.z_dim = config.z_dim
        self.c_dim = config.c_dim
        self.w_dim = config.w_dim
        self.num_ws = config.num_ws
        self.num_layers = config.mapping_layers
        hidden = config.mapping_hidden or config.w_dim
        embed = (config.embed_features or config.w_dim) if config.c_dim else 0
        if config.c_dim:
            self.embed = FullyConnectedLayer(config.c_dim, embed)
        features = [config.z_dim + embed] + [hidden] * (config.mapping_layers - 1) + [config.w_dim]
        for i in range(config.mapping_layers):
            layer = FullyConnectedLayer(
                features[i],
                features[i + 1],
                lrelu=True,
                lr_multiplier=config.mapping_lr_multiplier,
            )
            setattr(self, f"fc{i}", layer)
        self.register_buffer("w_avg", torch.zeros(config.w_dim))

    def forward(
        self,
        z: torch.Tensor,
        c: torch.Tensor | None = None,
        truncation_psi: float | torch.Tensor = 1.0,
        truncation_cutoff: int | torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Map latents to per-layer ws.

        Args:
            z: [N, z_dim] (any float dtype; computed in float32)
            c: [N, c_dim] labels for conditional models, else None
            truncation_psi: a number, or a per-sample tensor [N] (or [N, num_ws])
            truncation_cutoff: truncate only layers below this index (or per-sample [N]); None = all
        Returns:
            ws: float32 [N, num_ws, w_dim]
        """
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z must be [N, {self.z_dim}], got {list(z.shape)}")
        x = normalize_2nd_moment(z.to(torch.float32)) if self.z_dim else None
        if self.c_dim:
            if c is None or c.shape != (z.shape[0], self.c_dim):
                raise ValueError(f"this model is conditional: c must be [N, {self.c_dim}]")
            y = normalize_2nd_moment(self.embed(c.to(torch.float32)))
            x = torch.cat([x, y], dim=1) if x is not None else y
        assert x is not None
        for i in range(self.num_layers):
            x = getattr(self, f"fc{i}")(x)
        ws = x.unsqueeze(1).repeat(1, self.num_ws, 1)
        return self.truncate(ws, truncation_psi, truncation_cutoff)

    def truncate(
        self,
        ws: torch.Tensor,
        truncation_psi: float | torch.Tensor = 1.0,
        truncation_cutoff: int | torch.Tensor | None = None,
    ) -> torch.Tensor:
        """`w_avg + psi * (ws - w_avg)` on layers below the cutoff (all when None).

        psi and the cutoff are numbers, or per-sample tensors [N] (an animated track); psi may
        also be per sample and layer, [N, num_ws] (an audio reaction on some layers).
        """
        if not torch.is_tensor(truncation_psi) and truncation_psi == 1:
            return ws
        psi = torch.as_tensor(truncation_psi, dtype=ws.dtype, device=ws.device)
        psi = psi.reshape(psi.shape[0], -1, 1) if psi.ndim else psi  # [N, 1 or num_ws, 1]
        truncated = self.w_avg.to(ws.dtype) + psi * (ws - self.w_avg.to(ws.dtype))
        if truncation_cutoff is None:
            return truncated
        if torch.is_tensor(truncation_cutoff):
            layers = torch.arange(ws.shape[1], device=ws.device)
            below = layers[None, :] < truncation_cutoff.to(ws.device).reshape(-1, 1)  # [N, num_ws]
            return torch.where(below[:, :, None], truncated, ws)
        if truncation_cutoff >= ws.shape[1]:
            return truncated
        return torch.cat([truncated[:, :truncation_cutoff], ws[:, truncation_cutoff:]], dim=1)


def modulated_conv2d(
    x: torch.Tensor,  # [N, I, H, W]
    weight: torch.Tensor,  # [O, I, k, k]
    styles: torch.Tensor,  # [N, I]
    *,
    up: bool,
    f2: torch.Tensor | None,
) -> torch.Tensor:
    """StyleGAN2 weight modulation, computed as input scaling + one conv shared by the batch.

    Returns the convolution output [N, O, H', W'] before demodulation (see `demodulation`).
    """
    if x.shape[0] == 1 and x[0].numel() > weight.numel():
        # One image whose activations outnumber the weights (every layer from about 32 px up):
        # scaling the weight's input channels instead is the same product, costs a fraction of
        # the multiplies and allocates no activation-sized temporary.
        return conv2d_resample(x, weight.to(x.dtype) * styles.to(x.dtype)[0, None, :, None, None], up=up, f2=f2)
    # The scaled input is handed over, not kept: conv2d_resample frees it as soon as it is used.
    return conv2d_resample(x * styles.to(x.dtype)[:, :, None, None], weight.to(x.dtype), up=up, f2=f2)


def conv2d_resample(x: torch.Tensor, weight: torch.Tensor, *, up: bool, f2: torch.Tensor | None) -> torch.Tensor:
    """A same-size conv, or a 2x upsampling one (stride-2 transposed conv, then the FIR filter),
    in the activations' layout (activation_layout); its output keeps it."""
    x = x.contiguous(memory_format=activation_layout(x.device))
    if up:
        assert f2 is not None
        x = F.conv_transpose2d(x, weight.transpose(0, 1), stride=2)
        return blur_after_transposed_conv(x, f2)
    return F.conv2d(x, weight, padding=weight.shape[-1] // 2)


def squared_kernel_norms(weight: torch.Tensor) -> torch.Tensor:
    """sum over the kernel taps of weight^2: float32 [O, I]. A norm reduces in one pass, without
    a weight-sized temporary (which loading a model would allocate once per layer)."""
    return torch.linalg.vector_norm(weight.float(), dim=(2, 3)).square()


def demodulation(weight: torch.Tensor, styles: torch.Tensor) -> torch.Tensor:
    """Per-sample output scales that give the modulated weight unit norm: float32 [N, O]."""
    s2 = styles.float().square()  # [N, I]
    w2 = derived(weight, "w2", squared_kernel_norms)  # once per weight
    return (s2 @ w2.t() + 1e-8).rsqrt()


def normalize_for_half(weight: torch.Tensor, styles: torch.Tensor, *, keep: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Scale weight and styles into fp16 range before a demodulated conv.

    Demodulation makes the result invariant to the scale of weight and styles, so normalising both
    first keeps fp16 products in range (as NVIDIA's fp16 layers do). One scale per output channel
    (axis `keep` of the weight).
    """
    fan_in = weight.shape[-3] * weight.shape[-2] * weight.shape[-1]
    dims = tuple(d for d in range(weight.ndim) if d != keep)
    weight = weight / (math.sqrt(fan_in) * weight.abs().amax(dims, True))
    styles = styles / styles.abs().amax(1, True)
    return weight, styles


def noise_bias_act(
    x: torch.Tensor,  # conv output before demodulation [N, O, H, W]
    dcoefs: torch.Tensor,  # demodulation [N, O]
    bias: torch.Tensor,  # broadcast against x, in x's dtype
    noise: torch.Tensor | None,  # broadcast against x, in x's dtype; None: no noise
    noise_strength: torch.Tensor | None,  # broadcast against x, in x's dtype
    *,
    gain: float,
    clamp: float | None,
) -> torch.Tensor:
    """NVIDIA's demodulate, add noise, add bias, leaky ReLU, scale by gain, clamp.

    Leaky ReLU commutes with a positive gain, so the gain moves inside and demodulation, noise and
    bias become one fused multiply-add over the activations.
    """
    act_gain = LRELU_GAIN * gain
    # x is the one full-size operand: the result takes its memory layout (channels-last on a CPU)
    # and the noise map is added in place, broadcast over channels, never expanded to [N, C, H, W].
    x = torch.addcmul(bias * act_gain, x, (dcoefs * act_gain).to(x.dtype)[:, :, None, None])
    if noise is not None:
        assert noise_strength is not None
        x = x.add_(noise * (noise_strength * act_gain)) if not torch.is_grad_enabled() else x + noise * (noise_strength * act_gain)
    inplace = not torch.is_grad_enabled()  # x is our own intermediate; autograd needs copies
    x = F.leaky_relu(x, LRELU_SLOPE, inplace=inplace)
    if clamp is not None:
        x = x.clamp_(-clamp * gain, clamp * gain) if inplace else x.clamp(-clamp * gain, clamp * gain)
    return x


def layer_noise(
    x: torch.Tensor, noise_mode: str, resolution: int, stored: Callable[[], torch.Tensor]
) -> torch.Tensor:
    """A layer's noise input: its stored constant (`stored()`, made only when used) or fresh N(0, 1) maps."""
    if noise_mode == "const":
        return stored()
    # The activations' own size: a square resolution x resolution, or an extended canvas.
    return torch.randn((x.shape[0], 1, *x.shape[-2:]), device=x.device, dtype=x.dtype)


def per_frame_noise(
    noise: torch.Tensor,
    strength: torch.Tensor,
    frame_noise: tuple[torch.Tensor | None, torch.Tensor | None] | None,
    dtype: torch.dtype,
) -> tuple[torch.Tensor, torch.Tensor]:
    """A layer's noise and strength with the frames' own maps [N, 1, H, W] and strength gains [N], if given."""
    if frame_noise is None:
        return noise, strength
    maps, gains = frame_noise
    if maps is not None:
        noise = maps.to(dtype)
    if gains is not None:
        strength = strength * gains.to(dtype).reshape(-1, 1, 1, 1)
    return noise, strength


class SynthesisLayer(nn.Module):
    """Modulated 3x3 conv (optionally 2x upsampling), noise, bias, leaky ReLU, clamp."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        w_dim: int,
        resolution: int,  # output resolution
        *,
        up: bool,
        use_noise: bool,
        conv_clamp: float | None,
        kernel_size: int = 3,
    ) -> None:
        super().__init__()
        self.resolution = resolution
        self.up = up
        self.use_noise = use_noise
        self.conv_clamp = conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        if use_noise:
            self.noise_strength = nn.Parameter(torch.zeros(()))
            self.register_buffer("noise_const", torch.randn(resolution, resolution))

    def forward(
        self,
        x: torch.Tensor,
        w: torch.Tensor,
        f2: torch.Tensor,
        *,
        noise_mode: str,
        gain: float = 1.0,
        clamp_fallback: float | None = None,
        frame_noise: tuple[torch.Tensor | None, torch.Tensor | None] | None = None,
    ) -> torch.Tensor:
        styles = self.affine(w.float())
        weight = self.weight
        if x.dtype == torch.float16:
            weight, styles = normalize_for_half(weight, styles)
        x = modulated_conv2d(x, weight, styles, up=self.up, f2=f2)
        dcoefs = demodulation(weight, styles)
        noise = strength = None
        if self.use_noise and noise_mode != "none":
            noise = layer_noise(x, noise_mode, self.resolution, lambda: self.noise_const.to(x.dtype))
            strength = self.noise_strength.to(x.dtype).reshape(1, 1, 1, 1)
            noise, strength = per_frame_noise(noise, strength, frame_noise, x.dtype)
        return noise_bias_act(
            x, dcoefs, self.bias.to(x.dtype).reshape(1, -1, 1, 1), noise, strength,
            gain=gain, clamp=self.conv_clamp if self.conv_clamp is not None else clamp_fallback,
        )


class ToRGBLayer(nn.Module):
    """Modulated 1x1 conv to image channels, without demodulation."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        w_dim: int,
        *,
        conv_clamp: float | None,
    ) -> None:
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.weight_gain = 1 / math.sqrt(in_channels)

    def forward(
        self,
        x: torch.Tensor,
        w: torch.Tensor,
        *,
        clamp_fallback: float | None = None,
    ) -> torch.Tensor:
        styles = self.affine(w.float()) * self.weight_gain
        x = modulated_conv2d(x, self.weight, styles, up=False, f2=None)
        clamp = self.conv_clamp if self.conv_clamp is not None else clamp_fallback
        return bias_act(x, self.bias, lrelu=False, gain=1.0, clamp=clamp)


class ResnetSkip(nn.Module):
    """The residual branch of a 'resnet' block: 2x FIR upsampling then a 1x1 conv, no bias."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 1, 1))
        self.weight_gain = 1 / math.sqrt(in_channels)

    def forward(self, x: torch.Tensor, f2: torch.Tensor, *, gain: float) -> torch.Tensor:
        x = upsample2d(x, f2)
        return F.conv2d(x, self.weight.to(x.dtype) * (self.weight_gain * gain))


class SynthesisBlock(nn.Module):
    """One resolution: (const | upsampling conv0) -> conv1 -> ToRGB, and the image skip path."""

    def __init__(self, config: GeneratorConfig, resolution: int) -> None:
        super().__init__()
        self.resolution = resolution
        self.architecture = config.architecture
        self.is_first = resolution == 4
        self.is_last = resolution == config.img_resolution
        out_channels = config.channels[resolution]
        common = {"use_noise": config.use_noise, "conv_clamp": config.conv_clamp}
        if self.is_first:
            self.const = nn.Parameter(torch.randn(out_channels, 4, 4))
        else:
            in_channels = config.channels[resolution // 2]
            self.conv0 = SynthesisLayer(
                in_channels, out_channels, config.w_dim, resolution, up=True, **common
            )
        self.conv1 = SynthesisLayer(
            out_channels, out_channels, config.w_dim, resolution, up=False, **common
        )
        self.has_torgb = self.is_last or config.architecture == "skip"
        if self.has_torgb:
            self.torgb = ToRGBLayer(
                out_channels, config.img_channels, config.w_dim, conv_clamp=config.conv_clamp
            )
        if not self.is_first and config.architecture == "resnet":
            self.skip = ResnetSkip(config.channels[resolution // 2], out_channels)
        self.num_conv = 1 if self.is_first else 2
        self.num_torgb = 1 if self.has_torgb else 0

    def forward(
        self,
        x: torch.Tensor | None,
        img: torch.Tensor | None,
        ws: torch.Tensor,  # [N, num_conv + num_torgb, w_dim]
        f2: torch.Tensor,
        *,
        noise_mode: str,
        dtype: torch.dtype,
        noise: Sequence[tuple[torch.Tensor | None, torch.Tensor | None]] | None = None,  # per conv
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        clamp = HALF_PRECISION_CLAMP if dtype != torch.float32 else None
        layer = {"noise_mode": noise_mode, "clamp_fallback": clamp}
        conv_noise = [{"frame_noise": n} for n in noise] if noise is not None else [{}] * self.num_conv
        if self.is_first:
            x = self.const.to(dtype).unsqueeze(0).repeat(ws.shape[0], 1, 1, 1)
            x = self.conv1(x, ws[:, 0], f2, **layer, **conv_noise[0])
        else:
            assert x is not None
            x = x.to(dtype)
            if self.architecture == "resnet":
                y = self.skip(x, f2, gain=math.sqrt(0.5))
                x = self.conv0(x, ws[:, 0], f2, **layer, **conv_noise[0])
                x = self.conv1(x, ws[:, 1], f2, gain=math.sqrt(0.5), **layer, **conv_noise[1])
                x = y + x
            else:
                x = self.conv0(x, ws[:, 0], f2, **layer, **conv_noise[0])
                x = self.conv1(x, ws[:, 1], f2, **layer, **conv_noise[1])
        if img is not None:
            img = upsample2d(img, f2)
        if self.has_torgb:
            y = self.torgb(x, ws[:, self.num_conv], clamp_fallback=clamp).float()
            img = img + y if img is not None else y
        return x, img


class SynthesisNetwork(nn.Module):
    """ws -> image, block by block from 4x4 to img_resolution."""

    def __init__(self, config: GeneratorConfig) -> None:
        super().__init__()
        self.w_dim = config.w_dim
        self.img_resolution = config.img_resolution
        self.img_channels = config.img_channels
        self.block_resolutions = config.block_resolutions
        self.architecture = config.architecture
        self.num_fp16_res = config.num_fp16_res
        self.num_ws = config.num_ws
        for res in self.block_resolutions:
            setattr(self, f"b{res}", SynthesisBlock(config, res))
        self.register_buffer("f2", resample_filter_2d(config.resample_filter), persistent=False)
        # Half precision is opt-in (see Generator.set_precision) and only ever used on CUDA.
        self.half_dtype: torch.dtype | None = None

    def block_dtype(self, res: int, device: torch.device) -> torch.dtype:
        fp16_min_res = 2 ** max(int(math.log2(self.img_resolution)) + 1 - self.num_fp16_res, 3)
        if self.half_dtype is not None and device.type == "cuda" and res >= fp16_min_res:
            return self.half_dtype
        return torch.float32

    def forward(
        self,
        ws: torch.Tensor,
        noise_mode: NoiseMode = "const",
        max_resolution: int | None = None,
        noise: FrameNoise | None = None,
        **blend: Any,
    ) -> torch.Tensor:
        """Synthesize images.

        Args:
            ws: [N, num_ws, w_dim]
            noise_mode: "const" (stored noise buffers), "random" or "none"
            max_resolution: stop after this block and return the RGB accumulated so far, a
                faithful low-resolution image (skip architecture only; the blocks above are never
                computed). None: the full image.
            noise: per-frame noise maps and strength gains, one entry per conv layer (animated noise)
            blend: the Synthesizer protocol's blend arguments; a single model takes none (or None)
        Returns:
            img: float32 [N, img_channels, R, R], raw (about [-1, 1]); R = max_resolution or img_resolution
        """
        stop = self.check_inputs(ws, noise_mode, max_resolution)
        check_single_model(blend)
        ws = ws.to(torch.float32)
        x: torch.Tensor | None = None
        img: torch.Tensor | None = None
        for block, block_ws, block_noise in self.split_noise(self.split_ws(ws, stop), noise):
            dtype = self.block_dtype(block.resolution, ws.device)
            x, img = block(x, img, block_ws, self.f2, noise_mode=noise_mode, dtype=dtype, **block_noise)
        assert img is not None
        return img

    @property
    def has_intermediate_rgb(self) -> bool:
        """Whether every block adds its own RGB (skip architecture), so synthesis can stop early."""
        return self.architecture == "skip"

    def check_inputs(self, ws: torch.Tensor, noise_mode: str, max_resolution: int | None) -> int:
        """ValueError for a wrong ws shape, noise mode or max_resolution; returns the last block's resolution."""
        if ws.ndim != 3 or ws.shape[1:] != (self.num_ws, self.w_dim):
            raise ValueError(f"ws must be [N, {self.num_ws}, {self.w_dim}], got {list(ws.shape)}")
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
        if max_resolution is None or max_resolution == self.img_resolution:
            return self.img_resolution
        if max_resolution not in self.block_resolutions:
            raise ValueError(f"max_resolution must be one of {self.block_resolutions}, got {max_resolution}")
        if not self.has_intermediate_rgb:
            raise ValueError(f"a {self.architecture} network has no RGB below {self.img_resolution} px; render in full and downscale")
        return max_resolution

    @property
    def num_conv_layers(self) -> int:
        return self.num_ws - 1

    def split_noise(self, blocks: list[tuple[Any, torch.Tensor]], noise: FrameNoise | None) -> list[tuple[Any, torch.Tensor, dict[str, Any]]]:
        """Each block with its ws and its convs' share of `noise` (as the keyword block forward takes)."""
        if noise is None:
            return [(block, block_ws, {}) for block, block_ws in blocks]
        if len(noise.maps) != self.num_conv_layers or len(noise.gains) != self.num_conv_layers:
            raise ValueError(f"noise needs one entry per conv layer ({self.num_conv_layers})")
        out, at = [], 0
        for block, block_ws in blocks:
            out.append((block, block_ws, {"noise": [noise.layer(at + j) for j in range(block.num_conv)]}))
            at += block.num_conv
        return out

    def split_ws(self, ws: torch.Tensor, stop: int) -> list[tuple[SynthesisBlock, torch.Tensor]]:
        """The blocks up to resolution `stop`, each with its ws [N, num_conv + num_torgb, w_dim]
        (a block's ToRGB shares its w with the next block's first conv)."""
        blocks = []
        w_idx = 0
        for res in self.block_resolutions:
            block: SynthesisBlock = getattr(self, f"b{res}")
            blocks.append((block, ws[:, w_idx : w_idx + block.num_conv + block.num_torgb]))
            w_idx += block.num_conv
            if res == stop:
                break
        return blocks


class Generator(ConfiguredGenerator):
    """StyleGAN2 generator with NVIDIA's API: `G.mapping(z) -> ws`, `G.synthesis(ws) -> img`.

    It satisfies the Synthesizer protocol (renderer.models.synthesizer).
    """

    family = "stylegan2"
    num_models = 1  # a single model (see renderer.models.blending for blends)
    can_blend = True
    can_move_camera = False  # no input transform: translate / rotate are StyleGAN3's

    def __init__(self, config: GeneratorConfig, info: ModelInfo | None = None) -> None:
        super().__init__()
        self.config = config
        self.info = info or ModelInfo()
        self.mapping = MappingNetwork(config)
        self.synthesis = SynthesisNetwork(config)
        self.eval().requires_grad_(False)

    @property
    def levels(self) -> tuple[int, ...]:
        """The block resolutions 4, 8, ..., img_resolution."""
        return tuple(self.config.block_resolutions)

    @property
    def blend_levels(self) -> tuple[int, ...]:
        """A blend's columns: the block resolutions (the levels)."""
        return self.levels

    @property
    def can_stop_early(self) -> bool:
        """Skip networks add RGB at every block, so stopping at a level is a faithful image."""
        return self.synthesis.has_intermediate_rgb


    def noise_buffers(self) -> list[torch.Tensor]:
        """The stored noise map of every layer with noise, from 4x4 up: [H, W] each."""
        return [layer.noise_const for layer in self._noise_layers()]

    def set_noise_buffers(self, maps: Sequence[torch.Tensor]) -> None:
        """Synthesise with these maps (as many as noise_buffers(), the same shapes) instead."""
        layers = self._noise_layers()
        if len(maps) != len(layers) or any(m.shape != layer.noise_const.shape for m, layer in zip(maps, layers, strict=False)):  # lengths checked first
            raise ValueError(f"expected {len(layers)} noise maps shaped like noise_buffers()")
        for layer, noise in zip(layers, maps, strict=True):
            layer.noise_const = noise

    def _noise_layers(self) -> list[SynthesisLayer]:
        return [m for m in self.synthesis.modules() if isinstance(m, SynthesisLayer) and m.use_noise]

    @property
    def grid(self) -> tuple[int, int]:
        """(rows, cols) of constant cells synthesis starts from: (4, 4), or an extended canvas's."""
        return tuple(self.synthesis.b4.const.shape[-2:])  # type: ignore[return-value]

    def extended(self, grid: tuple[int, int], padding: str = "reflect") -> Generator:
        """This generator on a canvas of grid = (rows, cols) constant cells (see renderer.models.canvas):
        images come out [N, C, rows * R / 4, cols * R / 4] at level R. Weights are shared with self;
        only the constant and the noise maps are new. Works for blends too (their stacked tensors
        grow alike)."""
        if self.grid != (4, 4):
            raise ValueError(f"this generator is already extended to {self.grid}; extend the square one")
        rows, cols = grid
        if rows < 4 or cols < 4:
            raise ValueError(f"a canvas grid has at least 4 x 4 cells, got {rows} x {cols}")
        # A copy of the modules that shares every tensor (a deep copy with each tensor memoised as itself).
        memo: dict[int, Any] = {id(t): t for t in itertools.chain(self.parameters(), self.buffers())}
        G = copy.deepcopy(self, memo)
        top, left = offsets((4, 4), grid)
        b4 = G.synthesis.b4
        b4.const = nn.Parameter(grow_const(b4.const, grid, padding), requires_grad=False)
        for i, layer in enumerate(G._noise_layers()):
            scale = layer.resolution // 4
            layer.noise_const = grow_noise(
                layer.noise_const, (rows * scale, cols * scale), (top * scale, left * scale), layer=i
            )
        return G

W_AVG_SAMPLES = 10_000
W_AVG_SEED = 0

@torch.no_grad()
def estimate_w_avg(
    mapping: MappingNetwork,
    *,
    num_samples: int = W_AVG_SAMPLES,
    seed: int = W_AVG_SEED,
    batch: int = 2_000,
) -> torch.Tensor:
    """Mean of the mapping output over seeded z ~ N(0, I): deterministic for a given seed.

    Returns:
        w_avg: float32 [w_dim]
    """
    rng = np.random.RandomState(seed)
    device = mapping.w_avg.device
    total = torch.zeros(mapping.w_dim, dtype=torch.float64, device=device)
    c = None
    done = 0
    while done < num_samples:
        n = min(batch, num_samples - done)
        z = torch.from_numpy(rng.randn(n, mapping.z_dim)).float().to(device)
        if mapping.c_dim:
            # Conditional models: average over classes drawn uniformly (one-hot labels).
            labels = rng.randint(mapping.c_dim, size=n)
            c = F.one_hot(torch.from_numpy(labels), mapping.c_dim).float().to(device)
        ws = mapping(z, c)
        total += ws[:, 0].double().sum(dim=0)
        done += n
    return (total / num_samples).float()

def use_estimated_w_avg(G: Generator) -> str:
    """Set G's truncation centre to the default estimate; returns how it was obtained."""
    G.mapping.w_avg.copy_(estimate_w_avg(G.mapping))
    return f"estimated: mean of the mapping over {W_AVG_SAMPLES:,} z from seed {W_AVG_SEED}"
