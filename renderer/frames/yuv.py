"""uint8 RGB frames -> planar YUV 4:2:0 (yuv420p), converted with torch on the frames' device.

ffmpeg converts the RGB frames a render pipes to it with libswscale before a yuv420p encoder sees
them, on the CPU. Converting here instead, where the frames already are (the GPU), halves the bytes
that cross to the host and to ffmpeg, and takes swscale off the CPU that encodes. The conversion
reproduces what the bundled ffmpeg does by default for rgb24 -> yuv420p (its auto-inserted scaler,
flags "bicubic", no colour tags on either side; tests/test_yuv.py compares both on random and
rendered frames, every plane within one level):

- the BT.601 matrix (Kr 0.299, Kb 0.114) in limited ("tv") range: Y in 16..235, U and V in 16..240;
- chroma from the pair of pixels in a row (swscale reads RGB into chroma at half width, averaging
  each pair), then halved vertically by swscale's bicubic filter (B = 0, C = 0.6) centred between
  the two rows: eight taps, edge rows repeated where the taps run off the frame;
- rounding to nearest, half up.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

# Rows of Y, U, V from R, G, B in 0..255: BT.601 scaled to the limited range (219 and 224 levels).
_KR, _KB = 0.299, 0.114
_KG = 1.0 - _KR - _KB
RGB_TO_YUV = (
    (219 / 255 * _KR, 219 / 255 * _KG, 219 / 255 * _KB),
    (224 / 255 * -_KR / (2 - 2 * _KB), 224 / 255 * -_KG / (2 - 2 * _KB), 224 / 255 * 0.5),
    (224 / 255 * 0.5, 224 / 255 * -_KG / (2 - 2 * _KR), 224 / 255 * -_KB / (2 - 2 * _KR)),
)
YUV_OFFSET = (16.0, 128.0, 128.0)


def _cubic(x: float, b: float = 0.0, c: float = 0.6) -> float:
    """The Mitchell-Netravali cubic with swscale's default "bicubic" parameters (B = 0, C = 0.6)."""
    x = abs(x)
    if x < 1:
        return ((12 - 9 * b - 6 * c) * x**3 + (-18 + 12 * b + 6 * c) * x**2 + (6 - 2 * b)) / 6
    if x < 2:
        return ((-b - 6 * c) * x**3 + (6 * b + 30 * c) * x**2 + (-12 * b - 48 * c) * x + (8 * b + 24 * c)) / 6
    return 0.0


def _half_taps() -> tuple[float, ...]:
    """Weights of rows 2i-3 .. 2i+4 for chroma row i: the cubic stretched by 2, centred at 2i + 0.5."""
    weights = [_cubic((offset - 0.5) / 2) for offset in range(-3, 5)]
    total = sum(weights)
    return tuple(w / total for w in weights)


VERTICAL_TAPS = _half_taps()  # -0.014, -0.042, 0.120, 0.436, 0.436, 0.120, -0.042, -0.014


def rgb_to_yuv420p(rgb: torch.Tensor) -> torch.Tensor:
    """uint8 RGB frames to yuv420p, on rgb's device, as ffmpeg's default conversion makes them.

    Args:
        rgb: uint8 [n, H, W, 3], H and W even
    Returns:
        uint8 [n, H * W * 3 // 2]: each frame's Y plane [H, W], then U and V [H / 2, W / 2], row by row
    """
    if rgb.ndim != 4 or rgb.shape[-1] != 3 or rgb.dtype != torch.uint8:
        raise ValueError(f"frames must be uint8 [n, H, W, 3], got {rgb.dtype} {tuple(rgb.shape)}")
    n, height, width, _ = rgb.shape
    if height % 2 or width % 2:
        raise ValueError(f"yuv420p needs an even frame size, not {width}x{height}")
    matrix = torch.tensor(RGB_TO_YUV, dtype=torch.float32, device=rgb.device)
    offset = torch.tensor(YUV_OFFSET, dtype=torch.float32, device=rgb.device)
    pixels = rgb.to(torch.float32)
    luma = pixels @ matrix[0] + offset[0]  # [n, H, W]
    # The scaler is linear up to its rounding: filter the RGB at chroma size, then apply the matrix.
    pairs = pixels.reshape(n, height, width // 2, 2, 3).mean(dim=3)  # [n, H, W/2, 3]
    columns = pairs.permute(0, 2, 3, 1).reshape(-1, 1, height)  # each column's rows, as a signal
    taps = torch.tensor(VERTICAL_TAPS, dtype=torch.float32, device=rgb.device).view(1, 1, -1)
    padded = F.pad(columns, (3, 4), mode="replicate")
    halved = F.conv1d(padded, taps, stride=2)  # [n * W/2 * 3, 1, H/2]
    chroma_rgb = halved.reshape(n, width // 2, 3, height // 2).permute(0, 3, 1, 2)  # [n, H/2, W/2, 3]
    chroma = chroma_rgb @ matrix[1:].T + offset[1:]  # [n, H/2, W/2, 2]
    planes = [
        _to_uint8(luma).reshape(n, -1),
        _to_uint8(chroma[..., 0]).reshape(n, -1),
        _to_uint8(chroma[..., 1]).reshape(n, -1),
    ]
    return torch.cat(planes, dim=1)


def _to_uint8(values: torch.Tensor) -> torch.Tensor:
    """Round half up and clamp to 0..255."""
    return torch.floor(values + 0.5).clamp_(0, 255).to(torch.uint8)


__all__ = ["RGB_TO_YUV", "VERTICAL_TAPS", "YUV_OFFSET", "rgb_to_yuv420p"]
