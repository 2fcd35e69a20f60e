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
    device = rgb.device
    matrix = torch.tensor(RGB_TO_YUV, dtype=torch.float32, device=device)
    # +0.5 then truncation after the clamp to 0..255: rounding half up, in one pass.
    offset = torch.tensor(YUV_OFFSET, dtype=torch.float32, device=device) + 0.5
    planes = rgb.permute(0, 3, 1, 2).to(torch.float32).reshape(n, 3, height, width)  # planar R, G, B
    out = torch.empty(n, height * width * 3 // 2, dtype=torch.uint8, device=device)
    luma = torch.matmul(matrix[:1], planes.view(n, 3, -1))  # [n, 1, H * W]
    out[:, : height * width] = luma.view(n, -1).add_(offset[0]).clamp_(0, 255)
    # The scaler is linear up to its rounding: filter R, G, B down to chroma size, then apply the matrix.
    pairs = planes[..., 0::2] + planes[..., 1::2]  # [n, 3, H, W/2], twice the mean of each pair
    rows = torch.cat([pairs[:, :, :1].expand(n, 3, 3, width // 2), pairs, pairs[:, :, -1:].expand(n, 3, 4, width // 2)], dim=2)
    halved = torch.zeros(n, 3, height // 2, width // 2, dtype=torch.float32, device=device)
    for k, weight in enumerate(VERTICAL_TAPS):  # rows 2i - 3 .. 2i + 4 for chroma row i, edges repeated
        halved.add_(rows[:, :, k : k + height : 2], alpha=weight / 2)
    chroma = torch.matmul(matrix[1:], halved.view(n, 3, -1)).add_(offset[1:, None]).clamp_(0, 255)  # [n, 2, H/2 * W/2]
    out[:, height * width :] = chroma.view(n, -1)
    return out


__all__ = ["RGB_TO_YUV", "VERTICAL_TAPS", "YUV_OFFSET", "rgb_to_yuv420p"]
