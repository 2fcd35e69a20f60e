"""StyleGAN2 discriminator (NVIDIA's 'resnet' layout) in plain PyTorch, for fine-tuning and training.

Parameter names follow NVIDIA's stylegan2-ada-pytorch (`b32.fromrgb.weight`, `b32.conv0.weight`,
`b32.conv1.weight`, `b32.skip.weight`, `b4.conv.weight`, `b4.fc.weight`, `b4.out.weight`), so an
NVIDIA snapshot's `D` loads as it is and rosinality's `d` and the TF `D` are renamed into it
(renderer.models.checkpoints.discriminators). Rendering never needs it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from renderer.models.stylegan2 import (
    LRELU_GAIN,
    LRELU_SLOPE,
    FullyConnectedLayer,
    config_to_dict,
    resample_filter_2d,
)


@dataclasses.dataclass(frozen=True)
class DiscriminatorConfig:
    """Architecture of a StyleGAN2 'resnet' discriminator."""

    img_resolution: int
    channels: Mapping[int, int]  # feature channels at each resolution 4, 8, ..., img_resolution
    img_channels: int = 3
    mbstd_group_size: int = 4  # minibatch standard deviation over groups of this many images
    mbstd_num_channels: int = 1
    conv_clamp: float | None = None
    resample_filter: tuple[float, ...] = (1.0, 3.0, 3.0, 1.0)

    def __post_init__(self) -> None:
        res = self.img_resolution
        if res < 8 or res & (res - 1):
            raise ValueError(f"img_resolution must be a power of two >= 8, got {res}")
        channels = {int(r): int(c) for r, c in self.channels.items()}
        missing = [r for r in [4, *self.block_resolutions] if r not in channels]
        if missing:
            raise ValueError(f"channels missing for resolutions {missing}")
        object.__setattr__(self, "channels", channels)
        taps = [float(v) for v in self.resample_filter]
        object.__setattr__(self, "resample_filter", tuple(v / sum(taps) for v in taps))

    @property
    def block_resolutions(self) -> list[int]:
        """The downsampling blocks, from img_resolution down to 8."""
        return [2**i for i in range(int(math.log2(self.img_resolution)), 2, -1)]

    def to_dict(self) -> dict[str, Any]:
        return config_to_dict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DiscriminatorConfig:
        kwargs = dict(d)
        kwargs["channels"] = {int(r): int(c) for r, c in d["channels"].items()}
        kwargs["resample_filter"] = tuple(d.get("resample_filter", (1.0, 3.0, 3.0, 1.0)))
        return cls(**kwargs)


def downsample_fir(x: torch.Tensor, f2: torch.Tensor, *, pad: int) -> torch.Tensor:
    """Pad by `pad` each side and filter with the (symmetric) FIR kernel, depthwise."""
    c = x.shape[1]
    w = f2.to(x.dtype)[None, None].expand(c, 1, *f2.shape)
    return F.conv2d(F.pad(x, [pad] * 4), w, groups=c)


class Conv2dLayer(nn.Module):
    """Conv with equalized learning rate; optional 2x FIR-filtered downsampling, leaky ReLU, clamp."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        *,
        bias: bool = True,
        lrelu: bool = True,
        down: bool = False,
        conv_clamp: float | None = None,
    ) -> None:
        super().__init__()
        self.lrelu = lrelu
        self.down = down
        self.conv_clamp = conv_clamp
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size**2)

    def forward(self, x: torch.Tensor, f2: torch.Tensor, *, gain: float = 1.0) -> torch.Tensor:
        w = self.weight.to(x.dtype) * self.weight_gain
        k = w.shape[-1]
        if self.down and k == 1:  # filter, subsample, then the 1x1 conv
            x = downsample_fir(x, f2, pad=(f2.shape[0] - 2) // 2)[:, :, ::2, ::2]
            x = F.conv2d(x, w)
        elif self.down:  # filter with the padding of the conv, then a strided conv
            x = downsample_fir(x, f2, pad=(f2.shape[0] - 2) // 2 + k // 2)
            x = F.conv2d(x, w, stride=2)
        else:
            x = F.conv2d(x, w, padding=k // 2)
        if self.bias is not None:
            x = x + self.bias.to(x.dtype).reshape(1, -1, 1, 1)
        act_gain = (LRELU_GAIN if self.lrelu else 1.0) * gain
        if self.lrelu:
            x = F.leaky_relu(x, LRELU_SLOPE)
        if act_gain != 1:
            x = x * act_gain
        if self.conv_clamp is not None:
            clamp = self.conv_clamp * gain
            x = x.clamp(-clamp, clamp)
        return x


class DiscriminatorBlock(nn.Module):
    """One resolution: (fromrgb at the top) -> conv0 -> conv1 (down) plus a 1x1 skip (down)."""

    def __init__(self, config: DiscriminatorConfig, resolution: int) -> None:
        super().__init__()
        self.resolution = resolution
        self.is_top = resolution == config.img_resolution
        tmp = config.channels[resolution]
        out = config.channels[resolution // 2]
        clamp = config.conv_clamp
        if self.is_top:
            self.fromrgb = Conv2dLayer(config.img_channels, tmp, 1, conv_clamp=clamp)
        self.conv0 = Conv2dLayer(tmp, tmp, 3, conv_clamp=clamp)
        self.conv1 = Conv2dLayer(tmp, out, 3, down=True, conv_clamp=clamp)
        self.skip = Conv2dLayer(tmp, out, 1, bias=False, lrelu=False, down=True)

    def forward(self, x: torch.Tensor, f2: torch.Tensor) -> torch.Tensor:
        if self.is_top:
            x = self.fromrgb(x, f2)
        y = self.skip(x, f2, gain=math.sqrt(0.5))
        x = self.conv0(x, f2)
        x = self.conv1(x, f2, gain=math.sqrt(0.5))
        return y + x


def minibatch_stddev(x: torch.Tensor, group_size: int, num_channels: int) -> torch.Tensor:
    """Append the standard deviation over groups of the batch as extra feature maps."""
    n, c, h, w = x.shape
    g = min(group_size, n)
    if n % g:
        g = math.gcd(n, g)
    y = x.reshape(g, -1, num_channels, c // num_channels, h, w)
    y = (y - y.mean(dim=0)).square().mean(dim=0)
    y = (y + 1e-8).sqrt().mean(dim=(2, 3, 4))  # [n/g, F]
    y = y.reshape(-1, num_channels, 1, 1).repeat(g, 1, h, w)
    return torch.cat([x, y], dim=1)


class DiscriminatorEpilogue(nn.Module):
    """4x4: minibatch stddev, conv, fully connected, one logit per image."""

    def __init__(self, config: DiscriminatorConfig) -> None:
        super().__init__()
        c = config.channels[4]
        self.mbstd_group_size = config.mbstd_group_size
        self.mbstd_num_channels = config.mbstd_num_channels
        self.conv = Conv2dLayer(c + config.mbstd_num_channels, c, 3, conv_clamp=config.conv_clamp)
        self.fc = FullyConnectedLayer(c * 16, c, lrelu=True)
        self.out = FullyConnectedLayer(c, 1)

    def forward(self, x: torch.Tensor, f2: torch.Tensor) -> torch.Tensor:
        if self.mbstd_num_channels:
            x = minibatch_stddev(x, self.mbstd_group_size, self.mbstd_num_channels)
        x = self.conv(x, f2)
        x = self.fc(x.flatten(1).float())
        return self.out(x)


class Discriminator(nn.Module):
    """StyleGAN2 discriminator: images [N, C, R, R] (about [-1, 1]) -> logits [N, 1]."""

    def __init__(self, config: DiscriminatorConfig) -> None:
        super().__init__()
        self.config = config
        self.img_resolution = config.img_resolution
        for res in config.block_resolutions:
            setattr(self, f"b{res}", DiscriminatorBlock(config, res))
        self.b4 = DiscriminatorEpilogue(config)
        self.register_buffer("f2", resample_filter_2d(config.resample_filter), persistent=False)

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        r = self.img_resolution
        if img.ndim != 4 or img.shape[2:] != (r, r):
            raise ValueError(f"images must be [N, C, {r}, {r}], got {list(img.shape)}")
        x = img
        for res in self.config.block_resolutions:
            x = getattr(self, f"b{res}")(x, self.f2)
        return self.b4(x, self.f2)


def discriminator_for(img_resolution: int, channels: Mapping[int, int], **kwargs: Any) -> Discriminator:
    """A freshly initialised discriminator with the generator's channel counts (and 4x4's)."""
    return Discriminator(DiscriminatorConfig(img_resolution=img_resolution, channels=dict(channels), **kwargs))
