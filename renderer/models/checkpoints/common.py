"""What every checkpoint reader returns, and the helpers they share."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from renderer.errors import CheckpointError
from renderer.models.stylegan2 import GeneratorConfig
from renderer.models.stylegan3 import StyleGAN3Config


@dataclasses.dataclass
class LoadedCheckpoint:
    """A generator read from a file, converted to our layout, before any module is built."""

    config: GeneratorConfig | StyleGAN3Config  # the family's architecture
    state_dict: dict[str, torch.Tensor]  # our (NVIDIA) names and shapes, float32 on CPU
    format: str
    w_avg_source: str | None  # None: the file has no truncation centre; it must be estimated
    notes: tuple[str, ...] = ()
    family: str = "stylegan2"  # the model family: which of checkpoints.BUILDERS builds it


def filter_taps_from_2d(f2: torch.Tensor) -> tuple[float, ...]:
    """The 1-D taps of a separable 2-D FIR kernel (normalised to sum 1)."""
    f1 = f2.double().sum(dim=1)
    return tuple(float(v) for v in f1 / f1.sum())


def bad_file(path: Path, what: str) -> CheckpointError:
    return CheckpointError(f"{path}: {what}")


def require(mapping: dict[str, torch.Tensor], key: str, path: Path, fmt: str) -> torch.Tensor:
    """mapping[key], or one clear error naming the file, the format and the missing tensor."""
    try:
        return mapping[key]
    except KeyError:
        raise bad_file(path, f"not a complete {fmt} generator: tensor '{key}' is missing") from None
