"""Raw generator output -> uint8 pixels -> image files."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont


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


def image_grid(
    rows: Sequence[Sequence[np.ndarray]],
    *,
    column_labels: Sequence[str] = (),
    row_labels: Sequence[str] = (),
    gap: int = 4,
    font_size: int = 14,
    background: int = 24,
) -> np.ndarray:
    """Tile uint8 [H, W, C] images (all one size) into a labelled sheet: uint8 [H', W', 3].

    Column labels go in a header band above the columns, row labels in a band on the left.
    """
    tiles = [[to_rgb(t) for t in row] for row in rows]
    height, width = tiles[0][0].shape[:2]
    font = ImageFont.load_default(size=font_size)
    band = font_size + 2 * gap if column_labels else 0
    side = max((int(font.getlength(text)) for text in row_labels), default=0)
    side = side + 2 * gap if side else 0
    num_cols = max(len(row) for row in tiles)
    # Columns widen to their labels, so small tiles (a 32 px model) still get readable headers.
    cell = max([width, *(int(font.getlength(text)) + gap for text in column_labels)])
    inset = (cell - width) // 2
    sheet = Image.new(
        "RGB",
        (side + num_cols * (cell + gap) + gap, band + len(tiles) * (height + gap) + gap),
        (background,) * 3,
    )
    draw = ImageDraw.Draw(sheet)
    for j, text in enumerate(column_labels):
        x = side + gap + j * (cell + gap) + cell // 2
        draw.text((x, band // 2), text, fill=(235, 235, 235), font=font, anchor="mm")
    for i, row in enumerate(tiles):
        y = band + gap + i * (height + gap)
        if i < len(row_labels):
            draw.text((gap, y + height // 2), row_labels[i], fill=(235, 235, 235), font=font, anchor="lm")
        for j, tile in enumerate(row):
            if tile.shape[:2] != (height, width):
                raise ValueError(f"grid tiles must share one size; got {tile.shape[:2]} and {(height, width)}")
            sheet.paste(Image.fromarray(tile), (side + gap + j * (cell + gap) + inset, y))
    return np.asarray(sheet)


def contact_sheet(
    tiles: Sequence[np.ndarray],
    captions: Sequence[Sequence[str]],
    *,
    columns: int,
    highlight: Sequence[bool] = (),
    gap: int = 6,
    font_size: int = 12,
    background: int = 24,
) -> np.ndarray:
    """Tiles (uint8 [H, W, C], one size) in rows of `columns`, each with caption lines below it.

    A highlighted tile (a keyframe among in-betweens) gets a light frame and brighter text.
    Returns uint8 [H', W', 3].
    """
    if len(captions) != len(tiles):
        raise ValueError(f"{len(tiles)} tiles but {len(captions)} captions")
    height, width = tiles[0].shape[:2]
    font = ImageFont.load_default(size=font_size)
    line = font_size + 3
    band = max((len(c) for c in captions), default=0) * line + gap
    rows = -(-len(tiles) // columns)
    text_width = max((int(font.getlength(text)) for caption in captions for text in caption), default=0)
    cell_w, cell_h = max(width, text_width) + 2 * gap, height + band + 2 * gap
    sheet = Image.new("RGB", (columns * cell_w + gap, rows * cell_h + gap), (background,) * 3)
    draw = ImageDraw.Draw(sheet)
    for i, (tile, caption) in enumerate(zip(tiles, captions, strict=True)):
        if tile.shape[:2] != (height, width):
            raise ValueError(f"sheet tiles must share one size; got {tile.shape[:2]} and {(height, width)}")
        x = gap + (i % columns) * cell_w + gap
        y = gap + (i // columns) * cell_h + gap
        key = i < len(highlight) and highlight[i]
        if key:
            draw.rectangle((x - 3, y - 3, x + width + 2, y + height + 2), outline=(235, 235, 235), width=2)
        sheet.paste(Image.fromarray(to_rgb(tile)), (x, y))
        colour = (240, 240, 240) if key else (160, 160, 160)
        for k, text in enumerate(caption):
            draw.text((x, y + height + gap // 2 + k * line), text, fill=colour, font=font)
    return np.asarray(sheet)


def to_rgb(pixels: np.ndarray) -> np.ndarray:
    """uint8 [..., C] -> [..., 3]: one grey channel repeated, channels beyond RGB (alpha) dropped."""
    channels = pixels.shape[-1]
    if channels not in (1, 3, 4):
        raise ValueError(f"cannot show {channels}-channel images as RGB")
    return np.repeat(pixels, 3, axis=-1) if channels == 1 else pixels[..., :3]
