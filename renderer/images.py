"""Raw generator output -> uint8 pixels -> image files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image


def to_uint8(img: torch.Tensor) -> torch.Tensor:
    """NVIDIA's rule `x * 127.5 + 128`, clamped to [0, 255] and truncated, done on img's device.

    Args:
        img: float [N, C, H, W], raw synthesis output (about [-1, 1])
    Returns:
        uint8 [N, H, W, C]
    """
    return (img * 127.5 + 128).clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1)


def save_png(pixels: np.ndarray, path: str | Path) -> None:
    """Write one uint8 [H, W, C] image (C = 1 or 3) as PNG."""
    array = pixels[..., 0] if pixels.shape[-1] == 1 else pixels
    Image.fromarray(np.ascontiguousarray(array)).save(path)
