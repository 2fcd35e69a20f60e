"""StyleGAN3 generator (alias-free, configs T and R) in plain PyTorch.

The layout and names follow NVIDIA's stylegan3 snapshots (`synthesis.input.freqs`,
`synthesis.L4_52_48.down_filter`, `mapping.w_avg`, ...), so a snapshot's `G_ema` loads tensor for
tensor. The architecture is data: a `StyleGAN3Config` holds every layer's sizes, sampling rates,
cutoffs, factors and paddings (as a snapshot stores them, or derived from the hyper-parameters by
`StyleGAN3Config.from_hyperparameters`); the FIR filters are the stored buffers.

Synthesis: Fourier features at stored frequencies and phases, rotated and translated by the
input affine (driven by ws[:, 0]) and by an optional image transform per sample; then the layers,
each a modulated convolution (its weight scaled by `magnitude_ema ** -0.5`) followed by the filtered
leaky ReLU: bias, upsampling by zero insertion and the up filter, leaky ReLU and clamp, then the
down filter and decimation. No custom CUDA code; CPU, CUDA and MPS run the same operations.

Every layer is computed by functions that take its tensors with or without a leading batch axis,
so a per-frame blend of several models (renderer.models.stylegan3_blend) runs this very code with
each frame's blended tensors.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray
from torch import nn

from renderer.models.stylegan2 import FullyConnectedLayer, MappingNetwork
from renderer.models.synthesizer import (
    NOISE_MODES,
    ConfiguredGenerator,
    ModelInfo,
    NoiseMode,
    check_single_model,
)

LRELU_SLOPE = 0.2
LRELU_GAIN = math.sqrt(2.0)

# -- architecture ----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class InputSpec:
    """The Fourier-feature input: `channels` sinusoids sampled on a size x size grid."""

    channels: int
    size: int  # samples per side, margin included
    sampling_rate: float  # samples per image unit
    bandwidth: float  # the largest frequency of the features


@dataclasses.dataclass(frozen=True)
class LayerSpec:
    """One synthesis layer, with the numbers NVIDIA's SynthesisLayer stores as attributes."""

    name: str  # "L{i}_{out_size}_{out_channels}"
    in_channels: int
    out_channels: int
    in_size: int
    out_size: int
    in_sampling_rate: int
    out_sampling_rate: int
    tmp_sampling_rate: int  # rate of the upsampled signal the nonlinearity runs at
    in_cutoff: float
    out_cutoff: float
    in_half_width: float
    out_half_width: float
    conv_kernel: int  # 3 (config T) or 1 (config R, and every ToRGB)
    up_factor: int
    up_taps: int  # 1: no up filter
    down_factor: int
    down_taps: int  # 1: no down filter
    down_radial: bool  # a 2-D radial (jinc) down filter [taps, taps] instead of a separable one
    padding: tuple[int, int, int, int]  # x_lo, x_hi, y_lo, y_hi after upsampling; negative crops
    is_torgb: bool = False
    is_critically_sampled: bool = False
    use_fp16: bool = False  # runs in half precision when asked for, on CUDA
    conv_clamp: float | None = 256.0

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["padding"] = list(self.padding)
        return d


@dataclasses.dataclass(frozen=True)
class StyleGAN3Config:
    """Architecture of a StyleGAN3 generator: everything needed to build it, nothing learned."""

    z_dim: int
    w_dim: int
    img_resolution: int
    img_channels: int
    input: InputSpec
    layers: tuple[LayerSpec, ...]  # in execution order, ending with the ToRGB layer
    c_dim: int = 0
    mapping_layers: int = 2
    mapping_lr_multiplier: float = 0.01
    output_scale: float = 0.25

    def __post_init__(self) -> None:
        if not self.layers or not self.layers[-1].is_torgb or any(layer.is_torgb for layer in self.layers[:-1]):
            raise ValueError("a StyleGAN3 synthesis network ends with exactly one ToRGB layer")
        if self.layers[-1].out_channels != self.img_channels or self.layers[-1].out_size != self.img_resolution:
            raise ValueError("the ToRGB layer must output img_channels at img_resolution")
        previous_channels, previous_size = self.input.channels, self.input.size
        for layer in self.layers:
            if (layer.in_channels, layer.in_size) != (previous_channels, previous_size):
                raise ValueError(f"layer {layer.name} does not take what the layer before it gives")
            previous_channels, previous_size = layer.out_channels, layer.out_size
        names = [layer.name for layer in self.layers]
        if len(set(names)) != len(names) or "input" in names:
            raise ValueError("layer names must be unique")

    # The fields of the generator-wide mapping network (renderer.models.stylegan2.MappingNetwork).
    @property
    def num_ws(self) -> int:
        """One w for the input, one per layer (ToRGB included)."""
        return len(self.layers) + 1

    @property
    def mapping_hidden(self) -> int:
        return self.w_dim

    @property
    def embed_features(self) -> int:
        return self.w_dim

    @property
    def architecture(self) -> str:
        """"stylegan3-r" for radial down filters (config R), else "stylegan3-t"."""
        return "stylegan3-r" if any(layer.down_radial for layer in self.layers) else "stylegan3-t"

    @property
    def level_sizes(self) -> tuple[int, ...]:
        """The size of each blend level: the input (the first layer's input size), then each layer's output."""
        return (self.layers[0].in_size, *(layer.out_size for layer in self.layers))

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["layers"] = [layer.to_dict() for layer in self.layers]
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> StyleGAN3Config:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown StyleGAN3 config keys {sorted(unknown)}")
        kwargs = dict(d)
        kwargs["input"] = InputSpec(**d["input"])
        kwargs["layers"] = tuple(
            LayerSpec(**{**layer, "padding": tuple(int(p) for p in layer["padding"])}) for layer in d["layers"]
        )
        return cls(**kwargs)

    @classmethod
    def from_hyperparameters(
        cls,
        *,
        z_dim: int,
        w_dim: int,
        img_resolution: int,
        img_channels: int = 3,
        c_dim: int = 0,
        mapping_layers: int = 2,
        mapping_lr_multiplier: float = 0.01,
        channel_base: int = 32768,  # channels of a layer = channel_base / 2 / cutoff, at most channel_max
        channel_max: int = 512,
        num_layers: int = 14,  # synthesis layers, ToRGB excluded
        num_critical: int = 2,  # critically sampled layers at the end
        first_cutoff: float = 2.0,
        first_stopband: float = 2**2.1,
        last_stopband_rel: float = 2**0.3,
        margin_size: int = 10,
        output_scale: float = 0.25,
        num_fp16_res: int = 4,
        conv_kernel: int = 3,  # 1 for config R
        filter_size: int = 6,  # taps per unit of resampling factor
        lrelu_upsampling: int = 2,
        use_radial_filters: bool = False,  # True for config R
        conv_clamp: float | None = 256.0,
    ) -> StyleGAN3Config:
        """The architecture NVIDIA's constructors derive from the training hyper-parameters (their defaults here)."""
        last_cutoff = img_resolution / 2
        last_stopband = last_cutoff * last_stopband_rel
        exponents = np.minimum(np.arange(num_layers + 1) / (num_layers - num_critical), 1)
        cutoffs = first_cutoff * (last_cutoff / first_cutoff) ** exponents
        stopbands = first_stopband * (last_stopband / first_stopband) ** exponents
        rates = np.exp2(np.ceil(np.log2(np.minimum(stopbands * 2, img_resolution))))
        half_widths = np.maximum(stopbands, rates / 2) - cutoffs
        sizes = rates + margin_size * 2
        sizes[-2:] = img_resolution
        channels = np.rint(np.minimum((channel_base / 2) / cutoffs, channel_max))
        channels[-1] = img_channels
        layers = []
        for i in range(num_layers + 1):
            p = max(i - 1, 0)
            torgb = i == num_layers
            tmp = max(rates[p], rates[i]) * (1 if torgb else lrelu_upsampling)
            up = int(np.rint(tmp / rates[p]))
            down = int(np.rint(tmp / rates[i]))
            up_taps = filter_size * up if up > 1 and not torgb else 1
            down_taps = filter_size * down if down > 1 and not torgb else 1
            critical = i >= num_layers - num_critical
            kernel = 1 if torgb else conv_kernel
            pad_total = (int(sizes[i]) - 1) * down + 1 - (int(sizes[p]) + kernel - 1) * up + up_taps + down_taps - 2
            pad_lo = (pad_total + up) // 2
            pad_hi = pad_total - pad_lo
            layers.append(LayerSpec(
                name=f"L{i}_{int(sizes[i])}_{int(channels[i])}",
                in_channels=int(channels[p]), out_channels=int(channels[i]),
                in_size=int(sizes[p]), out_size=int(sizes[i]),
                in_sampling_rate=int(rates[p]), out_sampling_rate=int(rates[i]), tmp_sampling_rate=int(tmp),
                in_cutoff=float(cutoffs[p]), out_cutoff=float(cutoffs[i]),
                in_half_width=float(half_widths[p]), out_half_width=float(half_widths[i]),
                conv_kernel=kernel, up_factor=up, up_taps=up_taps, down_factor=down, down_taps=down_taps,
                down_radial=use_radial_filters and not critical and down_taps > 1,
                padding=(pad_lo, pad_hi, pad_lo, pad_hi),
                is_torgb=torgb, is_critically_sampled=critical,
                use_fp16=bool(rates[i] * 2**num_fp16_res > img_resolution), conv_clamp=conv_clamp,
            ))
        return cls(
            z_dim=z_dim, w_dim=w_dim, img_resolution=img_resolution, img_channels=img_channels, c_dim=c_dim,
            mapping_layers=mapping_layers, mapping_lr_multiplier=mapping_lr_multiplier, output_scale=output_scale,
            input=InputSpec(channels=int(channels[0]), size=int(sizes[0]), sampling_rate=float(rates[0]),
                            bandwidth=float(cutoffs[0])),
            layers=tuple(layers),
        )


def tensor_shapes(config: StyleGAN3Config) -> dict[str, tuple[int, ...]]:
    """Every tensor of the generator's state dict with its shape, computed without building it."""
    c = config
    shapes: dict[str, tuple[int, ...]] = {}
    channels = c.input.channels
    shapes["synthesis.input.weight"] = (channels, channels)
    shapes["synthesis.input.transform"] = (3, 3)
    shapes["synthesis.input.freqs"] = (channels, 2)
    shapes["synthesis.input.phases"] = (channels,)
    shapes["synthesis.input.affine.weight"] = (4, c.w_dim)
    shapes["synthesis.input.affine.bias"] = (4,)
    for layer in c.layers:
        prefix = f"synthesis.{layer.name}."
        k = layer.conv_kernel
        shapes[prefix + "weight"] = (layer.out_channels, layer.in_channels, k, k)
        shapes[prefix + "bias"] = (layer.out_channels,)
        shapes[prefix + "magnitude_ema"] = ()
        if layer.up_taps > 1:
            shapes[prefix + "up_filter"] = (layer.up_taps,)
        if layer.down_taps > 1:
            shapes[prefix + "down_filter"] = (layer.down_taps,) * (2 if layer.down_radial else 1)
        shapes[prefix + "affine.weight"] = (layer.in_channels, c.w_dim)
        shapes[prefix + "affine.bias"] = (layer.in_channels,)
    embed = c.w_dim if c.c_dim else 0
    if c.c_dim:
        shapes["mapping.embed.weight"] = (embed, c.c_dim)
        shapes["mapping.embed.bias"] = (embed,)
    widths = [c.z_dim + embed] + [c.w_dim] * c.mapping_layers
    for i in range(c.mapping_layers):
        shapes[f"mapping.fc{i}.weight"] = (widths[i + 1], widths[i])
        shapes[f"mapping.fc{i}.bias"] = (widths[i + 1],)
    shapes["mapping.w_avg"] = (c.w_dim,)
    return shapes


def design_filters(config: StyleGAN3Config) -> dict[str, torch.Tensor]:
    """The up and down filters NVIDIA designs for each layer (Kaiser-windowed low-pass FIRs; radial
    jinc filters for config R's non-critical down filters): the `*_filter` buffers, float32."""
    from scipy import signal, special

    def lowpass(taps: int, cutoff: float, width: float, fs: float, radial: bool) -> NDArray[np.float64]:
        if not radial:
            return np.asarray(signal.firwin(numtaps=taps, cutoff=cutoff, width=width, fs=fs), dtype=np.float64)
        x = (np.arange(taps) - (taps - 1) / 2) / fs
        r = np.hypot(*np.meshgrid(x, x))
        with np.errstate(invalid="ignore", divide="ignore"):
            f = special.j1(2 * cutoff * (np.pi * r)) / (np.pi * r)
        f[r == 0] = cutoff  # the limit of J1(2 pi c r) / (pi r) at r = 0
        beta = signal.kaiser_beta(signal.kaiser_atten(taps, width / (fs / 2)))
        window = np.kaiser(taps, beta)
        f = f * np.outer(window, window)
        return f / f.sum()

    filters = {}
    for layer in config.layers:
        prefix = f"synthesis.{layer.name}."
        tmp = layer.tmp_sampling_rate
        if layer.up_taps > 1:
            f = lowpass(layer.up_taps, layer.in_cutoff, layer.in_half_width * 2, tmp, False)
            filters[prefix + "up_filter"] = torch.from_numpy(f).float()
        if layer.down_taps > 1:
            f = lowpass(layer.down_taps, layer.out_cutoff, layer.out_half_width * 2, tmp, layer.down_radial)
            filters[prefix + "down_filter"] = torch.from_numpy(f).float()
    return filters


# -- operations ------------------------------------------------------------------------------------


def _per_sample(t: torch.Tensor, ndim: int) -> torch.Tensor:
    """A layer tensor with a leading batch axis: [N, ...] kept, a shared one given a batch axis of 1."""
    return t if t.ndim == ndim + 1 else t.unsqueeze(0)


def affine(w: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, weight_gain: float) -> torch.Tensor:
    """`w @ (weight * gain).T + bias`, with weight [O, I] or per sample [N, O, I] and bias [O] or [N, O]."""
    if weight.ndim == 3:
        y = torch.einsum("ni,noi->no", w, weight.float()) * weight_gain
    else:
        y = F.linear(w, weight.float() * weight_gain)
    return y + bias.float()


def modulated_conv2d(
    x: torch.Tensor,  # [N, I, H, W]
    weight: torch.Tensor,  # [O, I, k, k] or per sample [N, O, I, k, k]
    styles: torch.Tensor,  # [N, I]
    *,
    demodulate: bool,
    input_gain: torch.Tensor,  # [] or per sample [N]
) -> torch.Tensor:
    """StyleGAN3's modulated convolution, one weight per sample (a grouped conv), padded by k - 1
    (a "full" convolution: the filtered nonlinearity crops). Returns [N, O, H + k - 1, W + k - 1]."""
    n, i = x.shape[:2]
    w = _per_sample(weight.float(), 4)  # [N or 1, O, I, k, k]
    s = styles.float()
    if demodulate:
        # Both normalisations cancel under demodulation but for its epsilon; per sample, so a frame
        # does not depend on the others in its batch.
        w = w * w.square().mean(dim=(2, 3, 4), keepdim=True).rsqrt()
        s = s * s.square().mean(dim=1, keepdim=True).rsqrt()
    w = w * s[:, None, :, None, None]  # [N, O, I, k, k]
    if demodulate:
        w = w * (w.square().sum(dim=(2, 3, 4), keepdim=True) + 1e-8).rsqrt()
    w = w * input_gain.float().reshape(-1, 1, 1, 1, 1)
    k = w.shape[-1]
    y = F.conv2d(x.reshape(1, n * i, *x.shape[2:]), w.reshape(-1, i, k, k).to(x.dtype), padding=k - 1, groups=n)
    return y.reshape(n, -1, *y.shape[2:])


def _fir_axis(x: torch.Tensor, f: torch.Tensor, dim: int, *, stride: int = 1) -> torch.Tensor:
    """Valid convolution of every channel with the 1-D filter f along `dim` (-1: x, -2: y), keeping
    every `stride`-th output."""
    c = x.shape[1]
    taps = f.flip(0).to(x.dtype)
    kernel = taps.reshape(1, 1, 1, -1) if dim == -1 else taps.reshape(1, 1, -1, 1)
    strides = (1, stride) if dim == -1 else (stride, 1)
    return F.conv2d(x, kernel.expand(c, 1, *kernel.shape[2:]).contiguous(), stride=strides, groups=c)


def _up_axis(x: torch.Tensor, f: torch.Tensor, dim: int, *, up: int, pad_lo: int, pad_hi: int) -> torch.Tensor:
    """Zero insertion by `up` along `dim` (-1: x, -2: y), padding [pad_lo, pad_hi] (negative
    crops), then a valid convolution with the 1-D filter f (gain included), computed polyphase:
    output phase r only meets the taps f[r::up], so `up` short filters run on the input as it is,
    without the inserted zeros, and their outputs interleave."""
    n, c = x.shape[:2]
    length = x.shape[dim]
    taps = f.flip(0).to(x.dtype)  # correlation taps
    k = taps.shape[0]
    if k % up:
        taps = F.pad(taps, [0, up - k % up])
        k = taps.shape[0]
    m = k // up
    out_len = up * length + pad_lo + pad_hi - f.shape[0] + 1
    # Output o reads x[q + i] * taps[r + up * i] with q = ceil((o - pad_lo) / up), r = up * q - (o - pad_lo).
    q_lo, q_hi = -((pad_lo) // up), -((pad_lo - out_len + 1) // up)
    phases = taps.reshape(m, up).t()  # [up, m]: row r holds taps[r::up]
    kernel = phases.reshape(up, 1, 1, m) if dim == -1 else phases.reshape(up, 1, m, 1)
    pad = [-q_lo, q_hi + m - 1 - (length - 1)]
    x = F.pad(x, pad if dim == -1 else [0, 0, *pad])
    y = F.conv2d(x, kernel.repeat(c, 1, 1, 1), groups=c)  # [N, C * up, ...]: phase r of channel c at c * up + r
    q = q_hi - q_lo + 1
    if dim == -1:
        y = y.reshape(n, c, up, y.shape[2], q).flip(2).permute(0, 1, 3, 4, 2).reshape(n, c, -1, q * up)
    else:
        y = y.reshape(n, c, up, q, y.shape[3]).flip(2).permute(0, 1, 3, 2, 4).reshape(n, c, q * up, -1)
    first = up * q_lo + pad_lo - (up - 1)  # the output position of the first interleaved sample
    return y.narrow(dim, -first, out_len)


def upsample(
    x: torch.Tensor, f: torch.Tensor | None, *, up: int, padding: Sequence[int]
) -> torch.Tensor:
    """Zero insertion by `up` (sample j to position up * j), padding [x_lo, x_hi, y_lo, y_hi]
    (negative crops), then the up filter with gain `up` per axis (a 2-D filter: up ** 2)."""
    if f is not None and f.ndim == 1:
        x = _up_axis(x, f * up, -1, up=up, pad_lo=padding[0], pad_hi=padding[1])
        return _up_axis(x, f * up, -2, up=up, pad_lo=padding[2], pad_hi=padding[3])
    n, c, h, w = x.shape
    if up > 1:
        x = F.pad(x.reshape(n, c, h, 1, w, 1), [0, up - 1, 0, 0, 0, up - 1]).reshape(n, c, h * up, w * up)
    x = F.pad(x, [padding[0], padding[1], padding[2], padding[3]])
    if f is None:
        return x
    kernel = (f * up**2).flip(0, 1).to(x.dtype)
    return F.conv2d(x, kernel[None, None].expand(c, 1, *f.shape).contiguous(), groups=c)


def downsample(x: torch.Tensor, f: torch.Tensor | None, *, down: int) -> torch.Tensor:
    """The down filter (1-D separable or 2-D radial, gain 1), then every `down`-th sample."""
    if f is None:
        return x[:, :, ::down, ::down] if down > 1 else x
    if f.ndim == 1:
        return _fir_axis(_fir_axis(x, f, -1, stride=down), f, -2, stride=down)
    c = x.shape[1]
    kernel = f.flip(0, 1).to(x.dtype)
    return F.conv2d(x, kernel[None, None].expand(c, 1, *f.shape).contiguous(), stride=down, groups=c)


def filtered_lrelu(
    x: torch.Tensor,  # [N, C, H, W]
    bias: torch.Tensor,  # [C] or per sample [N, C]
    up_filter: torch.Tensor | None,
    down_filter: torch.Tensor | None,
    *,
    up: int,
    down: int,
    padding: Sequence[int],
    gain: float,
    slope: float,
    clamp: float | None,
) -> torch.Tensor:
    """Bias, upsampling, leaky ReLU (times gain) and clamp at the upsampled rate, downsampling."""
    x = x + _per_sample(bias, 1).to(x.dtype)[:, :, None, None]
    x = upsample(x, up_filter, up=up, padding=padding)
    if not torch.is_grad_enabled() and x.is_contiguous():  # x is our own intermediate: work in place
        if slope != 1:
            x = F.leaky_relu_(x, slope)
        if gain != 1:
            x = x.mul_(gain)
        if clamp is not None:
            x = x.clamp_(-clamp, clamp)
    else:
        if slope != 1:
            x = F.leaky_relu(x, slope)
        if gain != 1:
            x = x * gain
        if clamp is not None:
            x = x.clamp(-clamp, clamp)
    return downsample(x, down_filter, down=down)


@dataclasses.dataclass(frozen=True)
class LayerTensors:
    """A layer's tensors, each shared by the batch or one per sample (a leading axis N)."""

    affine_weight: torch.Tensor  # [I, w_dim] or [N, I, w_dim]
    affine_bias: torch.Tensor  # [I] or [N, I]
    weight: torch.Tensor  # [O, I, k, k] or [N, O, I, k, k]
    bias: torch.Tensor  # [O] or [N, O]
    magnitude_ema: torch.Tensor  # [] or [N]
    up_filter: torch.Tensor | None
    down_filter: torch.Tensor | None


def layer_forward(
    x: torch.Tensor, w: torch.Tensor, t: LayerTensors, spec: LayerSpec, *, w_dim: int, dtype: torch.dtype
) -> torch.Tensor:
    """One synthesis layer: styles from w [N, w_dim], the modulated conv with the input gain, the
    filtered leaky ReLU. x [N, in_channels, in_size, in_size] -> [N, out_channels, out_size, out_size]."""
    styles = affine(w.float(), t.affine_weight, t.affine_bias, 1 / math.sqrt(w_dim))
    if spec.is_torgb:
        styles = styles * (1 / math.sqrt(spec.in_channels * spec.conv_kernel**2))
    input_gain = t.magnitude_ema.float().rsqrt()
    x = modulated_conv2d(x.to(dtype), t.weight, styles, demodulate=not spec.is_torgb, input_gain=input_gain)
    return filtered_lrelu(
        x, t.bias, t.up_filter, t.down_filter, up=spec.up_factor, down=spec.down_factor, padding=spec.padding,
        gain=1.0 if spec.is_torgb else LRELU_GAIN, slope=1.0 if spec.is_torgb else LRELU_SLOPE,
        clamp=spec.conv_clamp,
    )


@dataclasses.dataclass(frozen=True)
class InputTensors:
    """The input's tensors (affine and channel mixing shared or per sample; the features' buffers shared)."""

    affine_weight: torch.Tensor  # [4, w_dim] or [N, 4, w_dim]
    affine_bias: torch.Tensor  # [4] or [N, 4]
    weight: torch.Tensor  # [C, C] or [N, C, C]
    freqs: torch.Tensor  # [C, 2]
    phases: torch.Tensor  # [C]


def input_forward(
    w: torch.Tensor, t: InputTensors, spec: InputSpec, transform: torch.Tensor, *, w_dim: int
) -> torch.Tensor:
    """Fourier features [N, C, size, size] for w [N, w_dim], under the input-space `transform`
    ([3, 3] or per sample [N, 3, 3]: the inverse of the image transform)."""
    n = w.shape[0]
    device = w.device
    r = affine(w.float(), t.affine_weight, t.affine_bias, 1 / math.sqrt(w_dim))  # [N, 4]
    r = r / r[:, :2].norm(dim=1, keepdim=True)
    rotation = torch.eye(3, device=device).repeat(n, 1, 1)
    rotation[:, 0, 0], rotation[:, 0, 1] = r[:, 0], -r[:, 1]
    rotation[:, 1, 0], rotation[:, 1, 1] = r[:, 1], r[:, 0]
    translation = torch.eye(3, device=device).repeat(n, 1, 1)
    translation[:, 0, 2], translation[:, 1, 2] = -r[:, 2], -r[:, 3]
    m = rotation @ translation @ transform.float().to(device)  # [N, 3, 3]
    freqs = t.freqs.float()
    phases = t.phases.float() + (freqs @ m[:, :2, 2:]).squeeze(2)  # [N, C]
    freqs = freqs @ m[:, :2, :2]  # [N, C, 2]
    amplitudes = (1 - (freqs.norm(dim=2) - spec.bandwidth) / (spec.sampling_rate / 2 - spec.bandwidth)).clamp(0, 1)
    p = (torch.arange(spec.size, device=device, dtype=torch.float32) + 0.5 - spec.size / 2) / spec.sampling_rate
    arg = (p[None, None, :, None] * freqs[:, None, None, :, 0] + p[None, :, None, None] * freqs[:, None, None, :, 1]
           + phases[:, None, None, :])  # [N, y, x, C]
    features = torch.sin(arg * (2 * math.pi)) * amplitudes[:, None, None, :]
    mix = (t.weight.float() / math.sqrt(spec.channels)).transpose(-1, -2)  # [C, C] or per sample [N, C, C]
    x = features @ (mix if mix.ndim == 2 else mix[:, None])
    return x.permute(0, 3, 1, 2).contiguous()


def make_transform(translate: NDArray[np.floating], rotate: NDArray[np.floating]) -> NDArray[np.float64]:
    """NVIDIA's image transform (gen_images.make_transform) per frame: translate [n, 2] in image
    widths, rotate [n] in degrees -> float64 [n, 3, 3] `[[cos, sin, tx], [-sin, cos, ty], [0, 0, 1]]`."""
    translate = np.asarray(translate, dtype=np.float64).reshape(-1, 2)
    angle = np.asarray(rotate, dtype=np.float64).reshape(-1) / 360.0 * 2 * np.pi
    m = np.zeros((len(angle), 3, 3))
    m[:, 0, 0], m[:, 0, 1], m[:, 0, 2] = np.cos(angle), np.sin(angle), translate[:, 0]
    m[:, 1, 0], m[:, 1, 1], m[:, 1, 2] = -np.sin(angle), np.cos(angle), translate[:, 1]
    m[:, 2, 2] = 1
    return m


def camera_transform(translate: NDArray[np.floating], rotate: NDArray[np.floating]) -> torch.Tensor:
    """The input transforms that move the camera: the inverse of make_transform (as gen_images.py
    writes into `synthesis.input.transform`), computed in float64: float32 [n, 3, 3]."""
    return torch.from_numpy(np.linalg.inv(make_transform(translate, rotate))).float()


# -- modules -----------------------------------------------------------------------------------------


class SynthesisInput(nn.Module):
    """Fourier features with a learned rotation and translation (from w) and a stored transform."""

    def __init__(self, spec: InputSpec, w_dim: int) -> None:
        super().__init__()
        self.spec, self.w_dim = spec, w_dim
        channels = spec.channels
        self.affine = FullyConnectedLayer(w_dim, 4)
        self.weight = nn.Parameter(torch.zeros(channels, channels))
        self.register_buffer("transform", torch.eye(3))
        self.register_buffer("freqs", torch.zeros(channels, 2))
        self.register_buffer("phases", torch.zeros(channels))

    def tensors(self) -> InputTensors:
        return InputTensors(self.affine.weight, self.affine.bias, self.weight, self.freqs, self.phases)

    def forward(self, w: torch.Tensor, transform: torch.Tensor | None = None) -> torch.Tensor:
        m = self.transform if transform is None else transform
        return input_forward(w, self.tensors(), self.spec, m, w_dim=self.w_dim)


class SynthesisLayer(nn.Module):
    """Modulated conv with input gain, then the filtered leaky ReLU (or the ToRGB layer)."""

    def __init__(self, spec: LayerSpec, w_dim: int) -> None:
        super().__init__()
        self.spec, self.w_dim = spec, w_dim
        k = spec.conv_kernel
        self.affine = FullyConnectedLayer(w_dim, spec.in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.zeros(spec.out_channels, spec.in_channels, k, k))
        self.bias = nn.Parameter(torch.zeros(spec.out_channels))
        self.register_buffer("magnitude_ema", torch.ones([]))
        self.register_buffer("up_filter", torch.zeros(spec.up_taps) if spec.up_taps > 1 else None)
        down_shape = (spec.down_taps,) * (2 if spec.down_radial else 1)
        self.register_buffer("down_filter", torch.zeros(down_shape) if spec.down_taps > 1 else None)

    def tensors(self) -> LayerTensors:
        return LayerTensors(
            self.affine.weight, self.affine.bias, self.weight, self.bias, self.magnitude_ema,
            self.up_filter, self.down_filter,
        )

    def forward(self, x: torch.Tensor, w: torch.Tensor, *, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        return layer_forward(x, w, self.tensors(), self.spec, w_dim=self.w_dim, dtype=dtype)


class SynthesisNetwork(nn.Module):
    """ws [N, num_ws, w_dim] -> image: the input, then every layer in order, then output_scale."""

    def __init__(self, config: StyleGAN3Config) -> None:
        super().__init__()
        self.config = config
        self.w_dim = config.w_dim
        self.num_ws = config.num_ws
        self.img_resolution = config.img_resolution
        self.img_channels = config.img_channels
        self.layer_names = [layer.name for layer in config.layers]
        self.input = SynthesisInput(config.input, config.w_dim)
        for spec in config.layers:
            setattr(self, spec.name, SynthesisLayer(spec, config.w_dim))
        # Half precision is opt-in (Generator.set_precision) and only ever used on CUDA.
        self.half_dtype: torch.dtype | None = None

    def layer_dtype(self, spec: LayerSpec, device: torch.device) -> torch.dtype:
        if self.half_dtype is not None and device.type == "cuda" and spec.use_fp16:
            return self.half_dtype
        return torch.float32

    def check_inputs(self, ws: torch.Tensor, noise_mode: str, max_resolution: int | None,
                     transform: torch.Tensor | None) -> None:
        """ValueError for a wrong ws shape, noise mode, max_resolution or transform shape."""
        if ws.ndim != 3 or ws.shape[1:] != (self.num_ws, self.w_dim):
            raise ValueError(f"ws must be [N, {self.num_ws}, {self.w_dim}], got {list(ws.shape)}")
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
        if max_resolution is not None and max_resolution != self.img_resolution:
            raise ValueError(f"a StyleGAN3 network has no image below {self.img_resolution} px; render in full and downscale")
        if transform is not None and tuple(transform.shape) not in ((3, 3), (ws.shape[0], 3, 3)):
            raise ValueError(f"transform must be [3, 3] or [N, 3, 3] = [{ws.shape[0]}, 3, 3], got {list(transform.shape)}")

    def run(
        self,
        ws: torch.Tensor,
        transform: torch.Tensor | None,
        input_tensors: InputTensors,
        layer_tensors: Sequence[LayerTensors],
    ) -> torch.Tensor:
        """Synthesis with the given tensors (this network's, or a per-frame blend's)."""
        ws = ws.to(torch.float32)
        m = self.input.transform if transform is None else transform.to(ws.device)
        x = input_forward(ws[:, 0], input_tensors, self.config.input, m, w_dim=self.w_dim)
        for i, (spec, tensors) in enumerate(zip(self.config.layers, layer_tensors, strict=True)):
            dtype = self.layer_dtype(spec, ws.device)
            x = layer_forward(x, ws[:, i + 1], tensors, spec, w_dim=self.w_dim, dtype=dtype)
        return (x * self.config.output_scale).to(torch.float32)

    def forward(
        self,
        ws: torch.Tensor,
        noise_mode: NoiseMode = "const",
        max_resolution: int | None = None,
        transform: torch.Tensor | None = None,
        noise: Any = None,
        **blend: Any,
    ) -> torch.Tensor:
        """Synthesize images.

        Args:
            ws: [N, num_ws, w_dim]; ws[:, 0] drives the input, ws[:, 1 + i] layer i
            noise_mode: accepted for the protocol; StyleGAN3 has no noise
            max_resolution: None or img_resolution (StyleGAN3 has no early exit)
            transform: the input-space transform, [3, 3] or one per sample [N, 3, 3]
                (camera_transform(translate, rotate)); None: the stored buffer
            blend: the Synthesizer protocol's blend arguments; a single model takes none (or None)
        Returns:
            img: float32 [N, img_channels, img_resolution, img_resolution]
        """
        self.check_inputs(ws, noise_mode, max_resolution, transform)
        if noise is not None:
            raise ValueError("a StyleGAN3 network has no noise inputs to animate")
        check_single_model(blend)
        layers = [getattr(self, name).tensors() for name in self.layer_names]
        return self.run(ws, transform, self.input.tensors(), layers)


class Generator(ConfiguredGenerator):
    """StyleGAN3 generator with NVIDIA's API: `G.mapping(z) -> ws`, `G.synthesis(ws) -> img`.

    It satisfies the Synthesizer protocol (renderer.models.synthesizer).
    """

    family = "stylegan3"
    num_models = 1
    can_blend = True
    can_move_camera = True  # synthesis takes a per-sample input transform

    def __init__(self, config: StyleGAN3Config, info: ModelInfo | None = None) -> None:
        super().__init__()
        self.config = config
        self.info = info or ModelInfo()
        self.mapping = MappingNetwork(config)  # type: ignore[arg-type]  # reads the same fields as StyleGAN2's
        self.synthesis = SynthesisNetwork(config)
        self.eval().requires_grad_(False)

    @property
    def levels(self) -> tuple[int, ...]:
        """Powers of two up to img_resolution: the sizes a draft may be downscaled to (synthesis
        itself always renders the full image)."""
        r = self.config.img_resolution
        return (*(2**i for i in range(2, r.bit_length()) if 2**i < r), r)

    @property
    def blend_levels(self) -> tuple[int, ...]:
        """The layers' output sizes, ascending (the input counts as its first layer's input size):
        the columns of a blend's model weights."""
        return tuple(sorted(set(self.config.level_sizes)))

    @property
    def can_stop_early(self) -> bool:
        return False


    def noise_buffers(self) -> list[torch.Tensor]:
        """StyleGAN3 has no noise inputs."""
        return []

    def set_noise_buffers(self, maps: Sequence[torch.Tensor]) -> None:
        if len(maps):
            raise ValueError("a StyleGAN3 generator has no noise maps")

def level_of(name: str, config: StyleGAN3Config) -> int | None:
    """The blend level (size) a state-dict tensor belongs to; None for the mapping network's."""
    if name.startswith("synthesis.input."):
        return config.layers[0].in_size
    if name.startswith("synthesis."):
        layer = name.split(".")[1]
        for spec in config.layers:
            if spec.name == layer:
                return spec.out_size
        raise KeyError(name)
    return None

__all__ = [
    "Generator",
    "InputSpec",
    "LayerSpec",
    "StyleGAN3Config",
    "camera_transform",
    "design_filters",
    "make_transform",
    "tensor_shapes",
]
