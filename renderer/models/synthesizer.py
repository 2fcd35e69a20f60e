"""The Synthesizer protocol: what frames, jobs and the CLI may ask of a generator of any family.

NVIDIA's API (`G.mapping(z) -> ws`, `G.synthesis(ws) -> img`) plus what rendering needs to know
without looking inside a network: the levels at which synthesis can stop, whether it stops early
faithfully, how many models it blends per frame, and the stored noise maps a projection fits.
A family (StyleGAN2, StyleGAN3) is one module whose generator satisfies this protocol, and one line in
`renderer.models.checkpoints.BUILDERS`; a family that blends adds one line in
`renderer.models.blending.PER_FRAME_BLENDS`.
A family that can synthesise wider canvases from its square model (fit "extend") adds a method
`extended(grid, padding) -> Synthesizer` (see renderer.models.canvas); without one,
`extend_canvas` refuses that fit for the family in one line.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
import torch
from numpy.typing import NDArray

NoiseMode = Literal["const", "random", "none"]
Precision = Literal["fp32", "fp16", "bf16"]

NOISE_MODES: tuple[str, ...] = ("const", "random", "none")
PRECISIONS: dict[str, torch.dtype] = {
    "fp32": torch.float32,
    "fp16": torch.float16,
    "bf16": torch.bfloat16,
}


@dataclasses.dataclass(frozen=True)
class FrameNoise:
    """Per-frame noise for synthesis, one entry per conv layer from 4x4 up (None: as noise_mode says).

    maps: [N, 1, H, W] maps that replace the layer's noise (animated noise)
    gains: [N] multipliers of the layer's trained noise strength
    """

    maps: tuple[torch.Tensor | None, ...]
    gains: tuple[torch.Tensor | None, ...]

    def layer(self, index: int) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        return self.maps[index], self.gains[index]


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """Where a generator came from; shown by `renderer inspect` and kept by `renderer convert`."""

    format: str = "in-memory"  # "nvidia-pickle", "tf-pickle", "rosinality", "native", "builtin"
    source: str = ""  # file path or built-in name
    w_avg_source: str = "initialisation"  # the checkpoint tensor it came from, or how it was estimated
    notes: tuple[str, ...] = ()


class LatentMapping(Protocol):
    """z (and label c) -> ws, with truncation towards w_avg."""

    def __call__(
        self,
        z: torch.Tensor,  # [N, z_dim]
        c: torch.Tensor | None = None,  # [N, c_dim] for conditional models
        truncation_psi: float | torch.Tensor = 1.0,  # a number, or per sample [N]
        truncation_cutoff: int | torch.Tensor | None = None,  # truncate layers below it; None: all
    ) -> torch.Tensor:  # ws: float32 [N, num_ws, w_dim]
        ...

    def truncate(
        self,
        ws: torch.Tensor,  # [N, num_ws, w_dim]
        truncation_psi: float | torch.Tensor = 1.0,
        truncation_cutoff: int | torch.Tensor | None = None,
    ) -> torch.Tensor:  # `w_avg + psi * (ws - w_avg)` below the cutoff
        ...


class Synthesis(Protocol):
    """ws -> images."""

    def __call__(
        self,
        ws: torch.Tensor,  # [N, num_ws, w_dim]
        noise_mode: NoiseMode = "const",  # "const" (the stored maps), "random" or "none"
        max_resolution: int | None = None,  # one of `levels`: stop there (see can_stop_early)
        noise: FrameNoise | None = None,  # per-frame maps and strengths; None: noise_mode's
        **blend: Any,  # model_weights [N, num_models, len(blend_levels)] when num_models > 1; transform [N, 3, 3] when can_move_camera
    ) -> torch.Tensor:  # img: float32 [N, img_channels, R, R], about [-1, 1]
        ...



def weighted_sum(tensors: Sequence[torch.Tensor], coefs: NDArray[np.float64]) -> torch.Tensor:
    """sum_m coefs[m] * tensors[m] in float32; a weight of exactly 1 copies its tensor bit for bit."""
    hit = np.flatnonzero(coefs == 1.0)
    if len(hit) == 1 and np.all(np.delete(coefs, hit) == 0.0):
        return tensors[int(hit[0])].clone()
    out = torch.zeros_like(tensors[0], dtype=torch.float32)
    for tensor, coef in zip(tensors, coefs, strict=True):
        if coef != 0.0:
            out += float(coef) * tensor.float()
    return out.to(tensors[0].dtype)


class ConfiguredGenerator(torch.nn.Module):
    """The facts a generator reads from its config and mapping network, shared by the families.

    Subclasses set `config` (z_dim, w_dim, c_dim, num_ws, img_resolution, img_channels,
    architecture), `mapping` (with its `w_avg` buffer) and `synthesis` (with `half_dtype`, the dtype
    of the layers the model marks for reduced precision, None in fp32) in their constructor.
    """

    config: Any
    mapping: torch.nn.Module
    synthesis: torch.nn.Module

    @property
    def z_dim(self) -> int:
        return self.config.z_dim

    @property
    def w_dim(self) -> int:
        return self.config.w_dim

    @property
    def c_dim(self) -> int:
        return self.config.c_dim

    @property
    def num_ws(self) -> int:
        return self.config.num_ws

    @property
    def img_resolution(self) -> int:
        return self.config.img_resolution

    @property
    def img_channels(self) -> int:
        return self.config.img_channels

    @property
    def w_avg(self) -> torch.Tensor:
        """The truncation centre: float32 [w_dim]."""
        return self.mapping.w_avg  # type: ignore[return-value]

    @property
    def device(self) -> torch.device:
        return self.w_avg.device

    @property
    def architecture(self) -> str:
        return self.config.architecture

    def forward(
        self,
        z: torch.Tensor,
        c: torch.Tensor | None = None,
        truncation_psi: float | torch.Tensor = 1.0,
        truncation_cutoff: int | None = None,
        noise_mode: NoiseMode = "const",
        **synthesis_kwargs: Any,
    ) -> torch.Tensor:
        """z -> image in one call (NVIDIA's `G(z, c)`): mapping with truncation, then synthesis."""
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)
        return self.synthesis(ws, noise_mode=noise_mode, **synthesis_kwargs)  # type: ignore[operator]

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.parameters())

    @property
    def precision(self) -> Precision:
        dtype = self.synthesis.half_dtype
        return next((k for k, v in PRECISIONS.items() if v == dtype), "fp32")  # type: ignore[return-value]

    def set_precision(self, precision: Precision) -> ConfiguredGenerator:
        """Run the layers the model marks for reduced precision (StyleGAN2: the top `num_fp16_res`
        resolutions; StyleGAN3: NVIDIA's `use_fp16` layers) in fp16/bf16 on CUDA; CPU stays fp32."""
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {tuple(PRECISIONS)}, got {precision!r}")
        self.synthesis.half_dtype = None if precision == "fp32" else PRECISIONS[precision]
        return self


@runtime_checkable
class Synthesizer(Protocol):
    """A generator as rendering sees it; `renderer.models.stylegan2.Generator` is one."""

    family: str  # the model family, "stylegan2" or "stylegan3"
    info: ModelInfo
    mapping: LatentMapping
    synthesis: Synthesis

    @property
    def z_dim(self) -> int: ...
    @property
    def w_dim(self) -> int: ...
    @property
    def c_dim(self) -> int: ...
    @property
    def num_ws(self) -> int: ...
    @property
    def img_resolution(self) -> int: ...
    @property
    def img_channels(self) -> int: ...

    @property
    def w_avg(self) -> torch.Tensor:
        """The truncation centre: float32 [w_dim]."""
        ...

    @property
    def device(self) -> torch.device: ...

    @property
    def architecture(self) -> str:
        """The family's name for its layout, as users know it (StyleGAN2: "skip", "resnet", "orig")."""
        ...

    @property
    def levels(self) -> tuple[int, ...]:
        """The resolutions at which synthesis can stop (`max_resolution`), ascending, ending at
        img_resolution."""
        ...

    @property
    def blend_levels(self) -> tuple[int, ...]:
        """The sizes a blend's model_weights columns follow, ascending: StyleGAN2's block
        resolutions (its levels), StyleGAN3's layer output sizes (36, 52, ..., margins included)."""
        ...

    @property
    def can_move_camera(self) -> bool:
        """Whether synthesis takes `transform`, a per-sample [N, 3, 3] input transform (StyleGAN3's
        translate and rotate tracks)."""
        ...

    @property
    def can_stop_early(self) -> bool:
        """Whether synthesis stopped at a lower level is a faithful image of that size (StyleGAN2's
        skip architecture). If not, a lower level raises ValueError: render in full and downscale."""
        ...

    @property
    def num_models(self) -> int:
        """How many models this synthesizer blends per frame (1: a single model, which takes no
        model_weights, or None)."""
        ...

    @property
    def can_blend(self) -> bool:
        """Whether `renderer.models.blending.blend_per_frame` takes this model as one of those it blends."""
        ...

    def to(self, device: torch.device) -> Synthesizer:
        """Move to a device; returns self (as torch.nn.Module.to does)."""
        ...

    def set_precision(self, precision: Precision) -> Synthesizer:
        """Half precision ("fp16", "bf16") where the family supports it on the device; returns self."""
        ...

    def noise_buffers(self) -> list[torch.Tensor]:
        """The stored noise maps that noise_mode "const" adds, in synthesis order ([H, W] each)."""
        ...

    def set_noise_buffers(self, maps: Sequence[torch.Tensor]) -> None:
        """Synthesise with these maps instead (as many as noise_buffers(), the same shapes)."""
        ...


BLEND_ARGUMENTS = ("model_weights",)  # what `**blend` of Synthesis may hold


def check_single_model(blend: Mapping[str, Any]) -> None:
    """The blend arguments a single model's synthesis accepts: none, or None (what a pipeline passes
    for a timeline without a blend). TypeError for unknown names, ValueError for model weights."""
    unknown = sorted(set(blend) - set(BLEND_ARGUMENTS))
    if unknown:
        raise TypeError(f"synthesis got unexpected keyword arguments {unknown}")
    given = [name for name in BLEND_ARGUMENTS if blend.get(name) is not None]
    if given:
        raise ValueError(f"{', '.join(given)} are for blended networks; this one holds a single model")


__all__ = [
    "weighted_sum",
    "ConfiguredGenerator",
    "BLEND_ARGUMENTS",
    "FrameNoise",
    "NOISE_MODES",
    "PRECISIONS",
    "LatentMapping",
    "ModelInfo",
    "NoiseMode",
    "Precision",
    "Synthesis",
    "Synthesizer",
    "check_single_model",
]
