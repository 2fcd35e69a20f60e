"""Frame sizes and fits: how a square model fills a frame of any aspect (no torch).

A script's `size` is a side (`512`: 512 x 512), a `[width, height]` pair, a `"WIDTHxHEIGHT"` string
or a name from SIZE_NAMES (`"1080p"`, `"vertical"`, ...). `fit` says how the model's square images
fill it (FITS): `"extend"` synthesises a wider canvas natively (the model's 4x4 constant grown to
the aspect, see renderer.models.canvas), `"crop"` scales the square to cover the frame and crops it,
`"pad"` letterboxes it on a colour, `"blur-pad"` puts it over a blurred, scaled copy of itself.

The geometry lives here as plain numbers: the canvas grid an extended model synthesises, the frame
size at a lower synthesis level, and each frame's window (a rectangle of the canvas that becomes the
frame; pan and zoom tracks move it). renderer.frames.framing turns canvases into frames with them.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from typing import Any, Literal, get_args

import numpy as np
from numpy.typing import NDArray

FitMode = Literal["extend", "crop", "pad", "blur-pad"]
CanvasPadding = Literal["reflect", "symmetric", "tile"]
FITS: tuple[str, ...] = get_args(FitMode)
CANVAS_PADDINGS: tuple[str, ...] = get_args(CanvasPadding)
MAX_SIDE = 8192  # px: an 8K frame (8192 x 4320 DCI, 7680 x 4320 UHD) and no more
MAX_ASPECT = 8.0  # the widest (or tallest) frame or canvas, 8:1
MAX_ZOOM = 64.0
CONST_SIDE = 4  # the side of StyleGAN's learned constant input, in cells

# Common delivery sizes (width, height); every one is even, so yuv420p takes them as they are.
SIZE_NAMES: dict[str, tuple[int, int]] = {
    "480p": (854, 480),
    "720p": (1280, 720),
    "1080p": (1920, 1080),
    "1440p": (2560, 1440),
    "4k": (3840, 2160),
    "2160p": (3840, 2160),
    "dci-4k": (4096, 2160),
    "8k": (7680, 4320),
    "vertical": (1080, 1920),  # 9:16: YouTube Shorts, Reels, TikTok
    "vertical-720": (720, 1280),
    "portrait": (1080, 1350),  # 4:5: the tallest feed post
    "square": (1080, 1080),
    "scope": (1920, 804),  # 2.39:1 cinemascope
}
ANCHORS: dict[str, tuple[float, float]] = {
    "center": (0.0, 0.0), "centre": (0.0, 0.0), "top": (0.0, -1.0), "bottom": (0.0, 1.0),
    "left": (-1.0, 0.0), "right": (1.0, 0.0), "top-left": (-1.0, -1.0), "top-right": (1.0, -1.0),
    "bottom-left": (-1.0, 1.0), "bottom-right": (1.0, 1.0),
}
COLORS: dict[str, tuple[int, int, int]] = {"black": (0, 0, 0), "white": (255, 255, 255), "gray": (128, 128, 128), "grey": (128, 128, 128)}
FIT_KEYS = ("mode", "padding", "canvas", "anchor", "color", "blur", "brightness")


@dataclasses.dataclass(frozen=True)
class Fit:
    """How a square model's images fill a frame of another aspect.

    Args:
        mode: "extend", "crop", "pad" or "blur-pad" (FITS)
        padding: extend: how the 4x4 constant grows (CANVAS_PADDINGS): "reflect" (mirrored about
            its edge cells), "symmetric" (mirrored, edge cells repeated) or "tile" (repeated)
        canvas: extend: the canvas aspect (width, height) when wider or taller than the frame, room
            for pans; None: the frame's own aspect
        anchor: where the window rests on the canvas (pan_x, pan_y), each -1 (left / top) .. 1
            (right / bottom); pan tracks replace it
        color: pad: the letterbox colour, RGB 0..255
        blur: blur-pad: the background's Gaussian sigma in output pixels; None: the long side / 40
        brightness: blur-pad: the background's brightness factor, 0..1
    """

    mode: FitMode = "extend"
    padding: CanvasPadding = "reflect"
    canvas: tuple[float, float] | None = None
    anchor: tuple[float, float] = (0.0, 0.0)
    color: tuple[int, int, int] = (0, 0, 0)
    blur: float | None = None
    brightness: float = 0.8

    @property
    def covers(self) -> bool:
        """Whether the frame is a window of the canvas (extend, crop) rather than the square fitted inside it."""
        return self.mode in ("extend", "crop")

    def describe(self) -> str:
        """The mode and the options that differ from the defaults: "crop anchor=(0, -1)"."""
        default = Fit(mode=self.mode)
        options = [f"{f.name}={_short(getattr(self, f.name))}" for f in dataclasses.fields(self)
                   if f.name != "mode" and getattr(self, f.name) != getattr(default, f.name)]
        return " ".join([self.mode, *options])

    def background_blur(self, size: tuple[int, int]) -> float:
        """blur-pad's background sigma in pixels of a frame of `size`."""
        return self.blur if self.blur is not None else max(size) / 40


def _short(value: Any) -> str:
    if isinstance(value, tuple):
        return "(" + ", ".join(f"{v:g}" for v in value) + ")"
    return f"{value:g}" if isinstance(value, float) else str(value)


def parse_size(value: Any) -> tuple[int, int]:
    """A size as written in a script -> (width, height); ValueError saying what is accepted.

    Args:
        value: a side (512), [width, height], "1920x1080", or a name in SIZE_NAMES ("1080p")
    """
    accepted = f'a side in px (512), [width, height], "1920x1080", or a name ({", ".join(SIZE_NAMES)})'
    if isinstance(value, str):
        key = value.strip().lower()
        if key in SIZE_NAMES:
            return SIZE_NAMES[key]
        match = re.fullmatch(r"(\d+)\s*[x×]\s*(\d+)", key)
        if not match:
            raise ValueError(f"unknown size {value!r}; accepted: {accepted}")
        width, height = int(match.group(1)), int(match.group(2))
    elif isinstance(value, int) and not isinstance(value, bool):
        if not 1 <= value <= MAX_SIDE:
            raise ValueError(f"must be an integer from 1 to {MAX_SIDE} (8K), got {value}")
        width = height = value
    elif (isinstance(value, (list, tuple)) and len(value) == 2
          and all(isinstance(v, int) and not isinstance(v, bool) for v in value)):
        width, height = value
    else:
        raise ValueError(f"must be {accepted}, got {value!r}")
    for side, name in ((width, "width"), (height, "height")):
        if not 1 <= side <= MAX_SIDE:
            raise ValueError(f"{name} {side} px is outside 1..{MAX_SIDE} (8K); got {width}x{height}")
    if max(width, height) / min(width, height) > MAX_ASPECT:
        raise ValueError(f"{width}x{height} is wider than {MAX_ASPECT:g}:1; the aspect must be between 1:{MAX_ASPECT:g} and {MAX_ASPECT:g}:1")
    return width, height


def parse_fit(value: Any) -> Fit:
    """A fit as written: a mode name ("crop"), or a table {mode = "pad", color = "#202020", ...};
    ValueError naming the key and what it accepts."""
    if isinstance(value, str):
        value = {"mode": value}
    if not isinstance(value, Mapping):
        raise ValueError(f"must be one of {', '.join(FITS)} or a table with 'mode', got {value!r}")
    unknown = [k for k in value if k not in FIT_KEYS]
    if unknown:
        raise ValueError(f"unknown key '{unknown[0]}'; accepted: {', '.join(FIT_KEYS)}")
    mode = value.get("mode", "extend")
    if mode not in FITS:
        raise ValueError(f"mode {mode!r} is not accepted; accepted: {', '.join(FITS)}")
    padding = value.get("padding", "reflect")
    if padding not in CANVAS_PADDINGS:
        raise ValueError(f"padding {padding!r} is not accepted; accepted: {', '.join(CANVAS_PADDINGS)}")
    fit: dict[str, Any] = {"mode": mode, "padding": padding}
    if "canvas" in value:
        canvas = value["canvas"]
        if isinstance(canvas, str):
            match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*:\s*(\d+(?:\.\d+)?)\s*", canvas)
            canvas = [float(match.group(1)), float(match.group(2))] if match else None
        if not (isinstance(canvas, (list, tuple)) and len(canvas) == 2 and all(_positive(v) for v in canvas)):
            raise ValueError(f'canvas must be an aspect [width, height] or "W:H" (like "3:1"), got {value["canvas"]!r}')
        if max(canvas) / min(canvas) > MAX_ASPECT:
            raise ValueError(f"canvas {canvas[0]:g}:{canvas[1]:g} is wider than {MAX_ASPECT:g}:1")
        fit["canvas"] = (float(canvas[0]), float(canvas[1]))
    if "anchor" in value:
        fit["anchor"] = parse_pan(value["anchor"], "anchor")
    if "color" in value:
        fit["color"] = parse_color(value["color"])
    if "blur" in value:
        if not _number(value["blur"]) or value["blur"] < 0:
            raise ValueError(f"blur must be a sigma in output pixels >= 0, got {value['blur']!r}")
        fit["blur"] = float(value["blur"])
    if "brightness" in value:
        if not _number(value["brightness"]) or not 0 <= value["brightness"] <= 1:
            raise ValueError(f"brightness must be a number from 0 to 1, got {value['brightness']!r}")
        fit["brightness"] = float(value["brightness"])
    return Fit(**fit)


def parse_pan(value: Any, what: str = "pan") -> tuple[float, float]:
    """A window position: an anchor name ("top-left") or [x, y], each from -1 (left/top) to 1 (right/bottom)."""
    if isinstance(value, str) and value in ANCHORS:
        return ANCHORS[value]
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(_number(v) and -1 <= v <= 1 for v in value):
        return float(value[0]), float(value[1])
    raise ValueError(f"{what} must be [x, y] with each from -1 (left/top) to 1 (right/bottom), or one of {', '.join(ANCHORS)}; got {value!r}")


def parse_zoom(value: Any) -> float:
    if not _number(value) or not 1 <= value <= MAX_ZOOM:
        raise ValueError(f"zoom must be a number from 1 (the whole canvas) to {MAX_ZOOM:g}, got {value!r}")
    return float(value)


def parse_color(value: Any) -> tuple[int, int, int]:
    """"#rrggbb", a name (black, white, gray) or [r, g, b] with 0..255 each."""
    if isinstance(value, str):
        if value.lower() in COLORS:
            return COLORS[value.lower()]
        match = re.fullmatch(r"#?([0-9a-fA-F]{6})", value.strip())
        if match:
            digits = match.group(1)
            return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)
    elif (isinstance(value, (list, tuple)) and len(value) == 3
          and all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255 for v in value)):
        return int(value[0]), int(value[1]), int(value[2])
    raise ValueError(f'color must be "#rrggbb", [r, g, b] (0..255) or one of {", ".join(COLORS)}; got {value!r}')


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _positive(value: Any) -> bool:
    return _number(value) and value > 0


# ---------------------------------------------------------------------------------------------
# Geometry


def canvas_grid(size: tuple[int, int] | None, fit: Fit) -> tuple[int, int]:
    """(rows, columns) of constant cells that synthesis starts from: (4, 4) for the square model,
    more along the long side for fit "extend" (the aspect rounded to whole cells; the window then
    crops the last fraction of a cell)."""
    if size is None or fit.mode != "extend":
        return CONST_SIDE, CONST_SIDE
    width, height = fit.canvas or size
    aspect = width / height
    if aspect >= 1:
        return CONST_SIDE, max(CONST_SIDE, round(CONST_SIDE * aspect))
    return max(CONST_SIDE, round(CONST_SIDE / aspect)), CONST_SIDE


def canvas_shape(grid: tuple[int, int], level: int) -> tuple[int, int]:
    """(height, width) in px of the canvas at a synthesis level (the square's side there)."""
    return grid[0] * level // CONST_SIDE, grid[1] * level // CONST_SIDE


def size_at_level(size: tuple[int, int] | None, level: int) -> tuple[int, int]:
    """(width, height) of frames rendered at a lower synthesis level: the frame's aspect with its
    short side `level` px, the long side rounded to an even number (a square stays level x level)."""
    if size is None or size[0] == size[1]:
        return level, level
    width, height = size
    long_side = max(2, 2 * round(level * max(width, height) / min(width, height) / 2))
    return (long_side, level) if width > height else (level, long_side)


def even_size(size: tuple[int, int], step: tuple[int, int]) -> tuple[int, int]:
    """The size rounded down to multiples of the pixel format's chroma step (at least one step)."""
    return max(step[0], size[0] - size[0] % step[0]), max(step[1], size[1] - size[1] % step[1])


def windows(
    fit: Fit,
    canvas: tuple[int, int],
    size: tuple[int, int],
    zoom: NDArray[np.floating] | None = None,
    pan: NDArray[np.floating] | None = None,
) -> NDArray[np.float64]:
    """Each frame's window on the canvas: float64 [n, 4] rows (x0, y0, width, height) in canvas px.

    Extend and crop: at zoom 1 the largest window of the frame's aspect inside the canvas; pad
    and blur-pad: the whole square. Zoom z shrinks it z times; pan (x, y) places it, -1 at the
    left / top edge, 1 at the right / bottom. Without tracks, one window at fit.anchor.

    Args:
        canvas: (height, width) of the synthesised canvas in px
        size: (width, height) of the frames
        zoom: [n] >= 1, or None (1)
        pan: [n, 2] in [-1, 1], or None (fit.anchor)
    """
    height, width = canvas
    n = len(zoom) if zoom is not None else len(pan) if pan is not None else 1
    z = np.ones(n) if zoom is None else np.clip(np.asarray(zoom, np.float64), 1.0, MAX_ZOOM)
    p = np.tile(np.asarray(fit.anchor, np.float64), (n, 1)) if pan is None else np.clip(np.asarray(pan, np.float64), -1.0, 1.0)
    if fit.covers:
        aspect = size[0] / size[1]
        if width / height > aspect:
            base_w, base_h = height * aspect, float(height)
        else:
            base_w, base_h = float(width), width / aspect
    else:
        base_w = base_h = float(min(height, width))
    w, h = base_w / z, base_h / z
    x0 = (width - w) / 2 * (1 + p[:, 0])
    y0 = (height - h) / 2 * (1 + p[:, 1])
    return np.stack([x0, y0, w, h], axis=1)


def whole_pixels(rects: NDArray[np.float64]) -> NDArray[np.int64]:
    """Windows rounded to whole pixels (a still window needs no sub-pixel resampling): int64 [n, 4]."""
    x0, y0 = np.rint(rects[:, 0]), np.rint(rects[:, 1])
    x1, y1 = np.rint(rects[:, 0] + rects[:, 2]), np.rint(rects[:, 1] + rects[:, 3])
    return np.stack([x0, y0, np.maximum(x1 - x0, 1), np.maximum(y1 - y0, 1)], axis=1).astype(np.int64)


__all__ = [
    "ANCHORS",
    "CANVAS_PADDINGS",
    "FITS",
    "MAX_SIDE",
    "SIZE_NAMES",
    "Fit",
    "canvas_grid",
    "canvas_shape",
    "even_size",
    "parse_color",
    "parse_fit",
    "parse_pan",
    "parse_size",
    "parse_zoom",
    "size_at_level",
    "whole_pixels",
    "windows",
]
