"""Canvases -> frames of the script's size: each frame's window of the canvas, resized, and for
the pad fits laid on a letterbox colour or a blurred copy (OpenCV).

Resizing is OpenCV's: area averaging when a window shrinks, Lanczos when it grows. A still window
(no pan or zoom track) is cut at whole pixels and resized once; a moving one is resampled at its
exact sub-pixel place, so a slow pan glides instead of stepping a pixel at a time.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from renderer.plan.framing import Fit, whole_pixels, windows


def opencv():  # -> the cv2 module
    """OpenCV, imported once a frame is resized, warped or blurred (16 MB resident that a plain
    render never needs)."""
    import cv2

    return cv2


def resize_image(pixels: NDArray[np.uint8], size: tuple[int, int]) -> NDArray[np.uint8]:
    """uint8 [H, W, C] to size = (width, height): area averaging down, Lanczos up (OpenCV)."""
    width, height = size
    if pixels.shape[:2] == (height, width):
        return pixels
    shrinks = width <= pixels.shape[1] and height <= pixels.shape[0]
    cv2 = opencv()
    method = cv2.INTER_AREA if shrinks else cv2.INTER_LANCZOS4
    return cv2.resize(pixels, (width, height), interpolation=method).reshape(height, width, -1)


def window_image(pixels: NDArray[np.uint8], rect: NDArray, size: tuple[int, int], *, exact: bool) -> NDArray[np.uint8]:
    """The window rect = (x0, y0, w, h) of an image, resized to size = (width, height).

    exact: rect is in whole pixels (a crop, then one resize); otherwise it is resampled at its
    sub-pixel place (area-averaged first when it shrinks, then a Lanczos warp).
    """
    width, height = size
    if exact:
        x0, y0, w, h = (int(v) for v in rect)
        return resize_image(np.ascontiguousarray(pixels[y0 : y0 + h, x0 : x0 + w]), size)
    x0, y0, w, h = (float(v) for v in rect)
    source = pixels
    cv2 = opencv()
    sx, sy = width / w, height / h
    if sx < 1 or sy < 1:
        # Shrink the whole image by about the window's factor first (area averaging keeps detail
        # from aliasing), then place the window exactly with a mild warp.
        fx, fy = min(sx, 1.0), min(sy, 1.0)
        shape = (max(1, round(pixels.shape[1] * fx)), max(1, round(pixels.shape[0] * fy)))
        source = cv2.resize(pixels, shape, interpolation=cv2.INTER_AREA).reshape(shape[1], shape[0], -1)
        gx, gy = shape[0] / pixels.shape[1], shape[1] / pixels.shape[0]
        x0, w, y0, h = x0 * gx, w * gx, y0 * gy, h * gy
        sx, sy = width / w, height / h
    # Output pixel centre (u + 0.5) comes from source position x0 + (u + 0.5) / sx (pixel centres at +0.5).
    matrix = np.array([[sx, 0.0, -x0 * sx + 0.5 * sx - 0.5], [0.0, sy, -y0 * sy + 0.5 * sy - 0.5]])
    out = cv2.warpAffine(source, matrix, (width, height), flags=cv2.INTER_LANCZOS4, borderMode=cv2.BORDER_REFLECT_101)
    return out.reshape(height, width, -1)


class Framer:
    """Turns a batch of canvases into frames of `size`, each through its window.

    Args:
        fit: the script's fit
        canvas: (height, width) of the canvases in px
        size: (width, height) of the frames
    """

    def __init__(self, fit: Fit, canvas: tuple[int, int], size: tuple[int, int]) -> None:
        self.fit, self.canvas, self.size = fit, canvas, size
        self.still = whole_pixels(windows(fit, canvas, size))[0]
        width, height = size
        side = min(width, height)
        self.inner = (side, side)  # pad fits: the square's size in the frame, and where it goes
        self.inner_at = ((height - side) // 2, (width - side) // 2)

    @property
    def is_identity(self) -> bool:
        """Whether every frame is its canvas unchanged (a square model at its own size)."""
        height, width = self.canvas
        return (width, height) == self.size and tuple(self.still) == (0, 0, width, height)

    def frames(
        self, canvases: NDArray[np.uint8], zoom: NDArray | None = None, pan: NDArray | None = None
    ) -> list[NDArray[np.uint8]]:
        """uint8 [n, h, w, C] canvases -> n frames uint8 [H, W, C]; zoom [n] and pan [n, 2] move the
        windows (None: the still window at fit.anchor)."""
        if zoom is None and pan is None:
            rects = np.repeat(self.still[None], len(canvases), axis=0)
            exact = True
        else:
            rects, exact = windows(self.fit, self.canvas, self.size, zoom, pan), False
        return [self._frame(canvas, rect, exact) for canvas, rect in zip(canvases, rects, strict=True)]

    def _frame(self, canvas: NDArray[np.uint8], rect: NDArray, exact: bool) -> NDArray[np.uint8]:
        if self.fit.covers:
            return window_image(canvas, rect, self.size, exact=exact)
        width, height = self.size
        inner = window_image(canvas, rect, self.inner, exact=exact)
        if self.fit.mode == "pad":
            out = np.empty((height, width, canvas.shape[2]), np.uint8)
            out[...] = np.asarray(self.fit.color, np.uint8)[: canvas.shape[2]]
        else:
            out = self._blurred_background(canvas, rect, exact)
        top, left = self.inner_at
        out[top : top + self.inner[1], left : left + self.inner[0]] = inner
        return out

    def _blurred_background(self, canvas: NDArray[np.uint8], rect: NDArray, exact: bool) -> NDArray[np.uint8]:
        """The window scaled to cover the frame, blurred and dimmed (the blur is done small: it is
        smooth anyway, and a sigma of tens of pixels at full size would cost far more)."""
        width, height = self.size
        x0, y0, w, h = (float(v) for v in rect)
        aspect = width / height
        cw, ch = (w, w / aspect) if aspect >= 1 else (h * aspect, h)
        cover = np.array([x0 + (w - cw) / 2, y0 + (h - ch) / 2, cw, ch])
        sigma = self.fit.background_blur(self.size)
        factor = max(1.0, sigma / 4)  # blur at a size where sigma is about 4 px
        small = (max(1, round(width / factor)), max(1, round(height / factor)))
        if exact:
            cover = np.rint(cover).astype(np.int64)
            cover[2:] = np.maximum(cover[2:], 1)
        back = window_image(canvas, cover, small, exact=exact)
        cv2 = opencv()
        if sigma > 0:
            back = cv2.GaussianBlur(back, (0, 0), sigmaX=sigma * small[0] / width,
                                    borderType=cv2.BORDER_REFLECT_101).reshape(back.shape)
        back = cv2.resize(back, (width, height), interpolation=cv2.INTER_LINEAR).reshape(height, width, -1)
        return np.clip(back.astype(np.float32) * self.fit.brightness + 0.5, 0, 255).astype(np.uint8)


__all__ = ["Framer", "resize_image", "window_image"]
