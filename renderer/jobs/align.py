"""FFHQ-style face alignment with the Haar cascades OpenCV ships (no torch, nothing downloaded).

FFHQ crops every face with the same recipe (Karras et al., `recreate_aligned_images`): from the
eye centres and the mouth centre it builds an oriented square whose side is about four eye
distances, centred a little below the eyes, turned so the eye line is level. StyleGAN models
trained on FFHQ only know faces framed that way, so a photo has to be cropped the same way before
it is projected. dlib's 68 landmarks are not available here; we find the largest frontal face and
its eyes with OpenCV's cascades and estimate the mouth from the eyes (see `MOUTH_FROM_EYES`).

Coordinates are (x, y) in pixels of the image they refer to, y pointing down, with pixel centres
at integers (OpenCV's convention). "Left eye" is the eye on the image's left, the subject's right.
"""

from __future__ import annotations

import dataclasses
import math
from functools import cache
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageOps, UnidentifiedImageError

from renderer.errors import RendererError, UsageError

LandmarkMethod = Literal["eyes", "face box"]
Point = tuple[float, float]

# The mouth centre of an FFHQ-aligned face lies about 1.04 eye distances below the eye midpoint
# (mean five-point landmarks of FFHQ crops). The estimate need not be precise: while the ratio
# stays below 1.11, FFHQ's crop size is set by the eye distance alone and the mouth only shifts the
# crop centre by a tenth of the eye-to-mouth distance.
MOUTH_FROM_EYES = 1.04

# Where the eyes of Haar's frontal-face boxes usually are, as fractions of the box (x, y): used
# only when the eye cascade gives no plausible pair.
BOX_LEFT_EYE = (0.30, 0.37)
BOX_RIGHT_EYE = (0.70, 0.37)

# The FFHQ recipe fixes where the landmarks land in the output, as fractions of its side: the eyes
# are a quarter of the side apart, and the eye midpoint is a tenth of the eye-to-mouth distance
# above the centre (side = 4 eye distances while MOUTH_FROM_EYES < 1.11).
CANONICAL_LEFT_EYE = (0.375, 0.5 - 0.025 * MOUTH_FROM_EYES)  # (0.375, 0.474)
CANONICAL_RIGHT_EYE = (0.625, 0.5 - 0.025 * MOUTH_FROM_EYES)  # (0.625, 0.474)
CANONICAL_MOUTH = (0.5, 0.5 + 0.225 * MOUTH_FROM_EYES)  # (0.5, 0.734)

# Frontal cascades in the order tried: alt2 is strict (few false faces), default finds more faces
# and more face-like texture (see _detect_turned for when each is believed).
FACE_CASCADES = ("haarcascade_frontalface_alt2.xml", "haarcascade_frontalface_default.xml")
EYE_CASCADES = ("haarcascade_eye.xml", "haarcascade_eye_tree_eyeglasses.xml")
# Frontal cascades tolerate about 18 degrees of roll; turning the image by these angles (tried in
# order when the upright image has no face) covers heads tilted by up to about 45 degrees.
RETRY_ROTATIONS = (25.0, -25.0)
DETECT_MAX_SIDE = 1024  # detection runs on a copy at most this large: Haar time grows with area
EYE_SEARCH_WIDTH = 200  # the face box is resampled to this width so eye sizes are predictable


class FaceNotFoundError(UsageError):
    """The cascades found no frontal face in the image."""


@dataclasses.dataclass(frozen=True)
class FaceLandmarks:
    """Where a face is: its detector box and the three points the FFHQ crop is built from."""

    # (x, y, width, height) of the detector's box in source pixels, x and y naming its top-left
    # pixel as OpenCV does; when box_rotation is not 0 the box was found in the turned image and
    # this is its size placed around its centre turned back.
    box: tuple[float, float, float, float]
    left_eye: Point  # eye centre on the image's left
    right_eye: Point  # eye centre on the image's right
    mouth: Point  # mouth centre, estimated from the eyes
    method: LandmarkMethod  # "eyes": the eye cascade found both; "face box": placed by proportions
    box_rotation: float = 0.0  # degrees (counter-clockwise) the image was turned to find the box

    @property
    def angle(self) -> float:
        """Roll of the eye line in degrees, counter-clockwise as displayed (cv2's sign)."""
        dx = self.right_eye[0] - self.left_eye[0]
        dy = self.right_eye[1] - self.left_eye[1]
        return math.degrees(math.atan2(-dy, dx))


@dataclasses.dataclass(frozen=True)
class AlignedFace:
    """An FFHQ-style crop and how it was taken."""

    image: NDArray[np.uint8]  # [size, size, 3]
    landmarks: FaceLandmarks  # in source pixels
    quad: NDArray[np.float64]  # [4, 2] crop corners in source pixels: top-left, bottom-left, bottom-right, top-right
    matrix: NDArray[np.float64]  # [2, 3] affine map from source pixels to output pixels

    @property
    def angle(self) -> float:
        """Roll of the source eye line in degrees, counter-clockwise as displayed."""
        return self.landmarks.angle


def load_image(path: str | Path) -> NDArray[np.uint8]:
    """Read a photo as RGB, turned upright by its EXIF orientation.

    Grey, palette and CMYK images are converted; transparency is composited over white, which is
    what a viewer shows for a cut-out.
    Args:
        path: any format Pillow reads
    Returns:
        uint8 [H, W, 3]
    Raises:
        UsageError naming the path when the file is missing or not an image
    """
    path = Path(path)
    try:
        with Image.open(path) as opened:
            image = ImageOps.exif_transpose(opened)
            image.load()
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"{path}: is a folder, not an image") from None
    except UnidentifiedImageError:
        raise UsageError(f"{path}: not an image Pillow can read") from None
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        raise UsageError(f"{path}: cannot read image ({e})") from None
    if image.mode in ("I", "F") or image.mode.startswith("I;16"):
        return np.repeat(_wide_grey_to_uint8(image)[..., None], 3, axis=-1)
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        image = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
    return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()


def _wide_grey_to_uint8(image: Image.Image) -> NDArray[np.uint8]:
    """16-bit, 32-bit and float grey -> uint8, scaled (Pillow's own conversion clips instead)."""
    values = np.asarray(image, dtype=np.float64)
    if image.mode.startswith("I;16"):
        top = 65535.0
    elif image.mode == "F":
        top = 1.0 if values.max(initial=0.0) <= 1.0 else 255.0
    else:  # "I": 16-bit PNGs open this way; 8-bit values are rare but possible
        top = 65535.0 if values.max(initial=0.0) > 255 else 255.0
    return np.clip(np.rint(values * (255.0 / top)), 0, 255).astype(np.uint8)


def detect_face(image: NDArray[np.uint8], *, source: str | Path | None = None) -> FaceLandmarks:
    """Find the largest frontal face and its eyes.

    The eyes come from the eye cascade searched in the upper part of the face box; when it gives
    no plausible pair they are placed by the box's proportions (`method="face box"`).
    Args:
        image: uint8 [H, W, 3] RGB (or [H, W] grey)
        source: where the image came from, named in the error message
    Returns:
        landmarks in the image's pixels
    Raises:
        FaceNotFoundError when no face is found
    """
    grey = _grey(image)
    scale = min(1.0, DETECT_MAX_SIDE / max(grey.shape))
    if scale < 1.0:
        small = cv2.resize(grey, _scaled_size(grey.shape, scale), interpolation=cv2.INTER_AREA)
    else:
        small = grey
    found = _detect_turned(small, 0.0)
    if found is None or found[2] is None:
        # No upright face, or one without eyes (often a face-like patch beside a tilted head): look
        # in turned copies too, where only faces with eyes count.
        retries = [f for f in (_detect_turned(small, r) for r in RETRY_ROTATIONS) if f is not None]
        if retries:
            found = max(retries, key=lambda f: f[1][2] * f[1][3])
    if found is None:
        raise FaceNotFoundError(
            f"{source}: no face found" if source is not None else "no face found in the image"
        )
    rotation, box, eyes = found
    method: LandmarkMethod = "eyes" if eyes is not None else "face box"
    if eyes is None:
        eyes = _eyes_from_box(box)
    # Back from the turned, shrunk detection copy to the caller's pixels.
    back = _inverse(_rotation_matrix(small.shape, rotation)[0])
    left, right = (_resample_point(_apply(back, p), scale) for p in eyes)
    x, y, w, h = box
    cx, cy = _resample_point(_apply(back, (x - 0.5 + w / 2, y - 0.5 + h / 2)), scale)
    w_source, h_source = w / scale, h / scale
    return FaceLandmarks(
        box=(
            float(cx + 0.5 - w_source / 2),
            float(cy + 0.5 - h_source / 2),
            float(w_source),
            float(h_source),
        ),
        left_eye=left,
        right_eye=right,
        mouth=estimate_mouth(left, right),
        method=method,
        box_rotation=rotation,
    )


def estimate_mouth(left_eye: Point, right_eye: Point) -> Point:
    """Mouth centre: `MOUTH_FROM_EYES` eye distances below the eye midpoint, square to the eye line."""
    dx, dy = right_eye[0] - left_eye[0], right_eye[1] - left_eye[1]
    mid_x, mid_y = (left_eye[0] + right_eye[0]) / 2, (left_eye[1] + right_eye[1]) / 2
    # (-dy, dx) is the eye vector turned a quarter towards the chin (y points down).
    return float(mid_x - MOUTH_FROM_EYES * dy), float(mid_y + MOUTH_FROM_EYES * dx)


def ffhq_quad(left_eye: Point, right_eye: Point, mouth: Point) -> NDArray[np.float64]:
    """The FFHQ crop square for these landmarks.

    Side: the larger of 4 eye distances and 3.6 eye-to-mouth distances; centre: a tenth of the way
    from the eye midpoint to the mouth; orientation: the sum of the eye vector and the eye-mouth
    vector turned a quarter back, so both landmarks' idea of "horizontal" count.
    Returns:
        float64 [4, 2] corners (top-left, bottom-left, bottom-right, top-right)
    """
    left, right, mouth_p = (np.asarray(p, dtype=np.float64) for p in (left_eye, right_eye, mouth))
    eye_mid = (left + right) / 2
    eye_to_eye = right - left
    eye_to_mouth = mouth_p - eye_mid
    # The eye-mouth vector turned a quarter back points along the eye line for an upright face.
    across = eye_to_eye + np.array([eye_to_mouth[1], -eye_to_mouth[0]])
    norm = float(np.hypot(*across))
    if norm == 0.0:
        raise UsageError("degenerate landmarks: the eyes and the mouth coincide")
    half = max(2.0 * float(np.hypot(*eye_to_eye)), 1.8 * float(np.hypot(*eye_to_mouth)))
    x_axis = across / norm * half
    y_axis = np.array([-x_axis[1], x_axis[0]])  # a quarter turn towards the chin
    centre = eye_mid + 0.1 * eye_to_mouth
    corners = [
        centre - x_axis - y_axis,
        centre - x_axis + y_axis,
        centre + x_axis + y_axis,
        centre + x_axis - y_axis,
    ]
    return np.stack(corners)


def align_face(image: NDArray[np.uint8], *, size: int, source: str | Path | None = None) -> AlignedFace:
    """Crop the largest face the way FFHQ does: eyes level, fixed framing, `size` x `size`.

    One affine warp (bicubic, after an area pre-shrink when the face is larger than the output).
    Where the square reaches past the photo, the photo is mirrored and, as in FFHQ, faded into a
    blur and the image's median colour so no hard edges or black corners appear.
    Args:
        image: uint8 [H, W, 3] RGB
        size: output side in pixels
        source: where the image came from, named in the error message
    Returns:
        the crop (uint8 [size, size, 3]) with its landmarks, roll angle, quad and warp matrix
    Raises:
        FaceNotFoundError when no face is found
    """
    if size < 1:
        raise UsageError(f"alignment size must be at least 1 pixel, got {size}")
    rgb = _rgb(image)
    landmarks = detect_face(rgb, source=source)
    quad = ffhq_quad(landmarks.left_eye, landmarks.right_eye, landmarks.mouth)
    matrix = _quad_to_square(quad, size)
    side = float(np.hypot(*(quad[3] - quad[0])))
    pixels, to_pixels = _preshrink(rgb, size / side)
    warp = _compose(matrix, _inverse(to_pixels))
    aligned = cv2.warpAffine(
        pixels, warp, (size, size), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT_101
    )
    aligned = _fade_border(aligned, warp, pixels.shape[:2])
    return AlignedFace(image=aligned, landmarks=landmarks, quad=quad, matrix=matrix)


def prepare_target(
    image: NDArray[np.uint8], *, size: int, align: bool, source: str | Path | None = None
) -> NDArray[np.uint8]:
    """A projection target: the FFHQ-style crop, or (align=False) the centre square resized.

    Args:
        image: uint8 [H, W, 3] RGB
        size: output side in pixels (the model's img_resolution)
        align: find the face and crop like FFHQ; otherwise crop the centre square
        source: where the image came from, named in the error message
    Returns:
        uint8 [size, size, 3]
    Raises:
        FaceNotFoundError when align=True and no face is found
    """
    if size < 1:
        raise UsageError(f"target size must be at least 1 pixel, got {size}")
    if align:
        return align_face(image, size=size, source=source).image
    rgb = _rgb(image)
    height, width = rgb.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    square = rgb[top : top + side, left : left + side]
    # Area averaging avoids aliasing when shrinking; enlarging it degrades to bilinear, so use cubic.
    interpolation = cv2.INTER_AREA if side >= size else cv2.INTER_CUBIC
    return np.ascontiguousarray(cv2.resize(square, (size, size), interpolation=interpolation))


# --- detection helpers -------------------------------------------------------------------------


@cache
def _cascade(name: str) -> cv2.CascadeClassifier:
    cascade = cv2.CascadeClassifier(str(Path(cv2.data.haarcascades) / name))
    if cascade.empty():
        raise RendererError(
            f"OpenCV's {name} is missing from {cv2.data.haarcascades}; reinstall opencv-python-headless<5"
        )
    return cascade


def _grey(image: NDArray[np.uint8]) -> NDArray[np.uint8]:
    if image.ndim == 2:
        grey = image
    elif image.ndim == 3 and image.shape[2] in (3, 4):
        grey = cv2.cvtColor(np.ascontiguousarray(image[..., :3]), cv2.COLOR_RGB2GRAY)
    elif image.ndim == 3 and image.shape[2] == 1:
        grey = image[..., 0]
    else:
        raise UsageError(f"expected an image [H, W, 3], got shape {list(image.shape)}")
    if grey.dtype != np.uint8:
        raise UsageError(f"expected uint8 pixels, got {grey.dtype}")
    return np.ascontiguousarray(grey)


def _rgb(image: NDArray[np.uint8]) -> NDArray[np.uint8]:
    if image.dtype != np.uint8:
        raise UsageError(f"expected uint8 pixels, got {image.dtype}")
    if image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 1):
        return np.repeat(image.reshape(*image.shape[:2], 1), 3, axis=-1)
    if image.ndim == 3 and image.shape[2] in (3, 4):
        return np.ascontiguousarray(image[..., :3])
    raise UsageError(f"expected an image [H, W, 3], got shape {list(image.shape)}")


def _scaled_size(shape: tuple[int, ...], scale: float) -> tuple[int, int]:
    return max(1, round(shape[1] * scale)), max(1, round(shape[0] * scale))


def _rotation_matrix(shape: tuple[int, ...], degrees: float) -> tuple[NDArray[np.float64], tuple[int, int]]:
    """Counter-clockwise turn onto a canvas big enough to keep every pixel: matrix and canvas (w, h)."""
    height, width = shape[:2]
    if degrees == 0.0:
        return np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]), (width, height)
    matrix = cv2.getRotationMatrix2D(((width - 1) / 2, (height - 1) / 2), degrees, 1.0)
    cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
    new_w, new_h = math.ceil(width * cos + height * sin), math.ceil(width * sin + height * cos)
    matrix[0, 2] += (new_w - width) / 2
    matrix[1, 2] += (new_h - height) / 2
    return matrix, (new_w, new_h)


def _detect_turned(
    grey: NDArray[np.uint8], degrees: float
) -> tuple[float, tuple[int, int, int, int], tuple[Point, Point] | None] | None:
    """Largest believable face (and its eyes, if found) in the image turned by `degrees`.

    Both cascades also fire on face-like texture, the permissive one and turned copies (their
    canvas edges) most. So the strict cascade's face on the upright image is believed alone; the
    permissive cascade's face needs its eyes found; on a turned copy only the strict cascade with
    eyes counts.
    Returns:
        (degrees, box, eyes) in the turned image's pixels, or None
    """
    matrix, canvas = _rotation_matrix(grey.shape, degrees)
    turned = grey if degrees == 0.0 else cv2.warpAffine(grey, matrix, canvas, borderMode=cv2.BORDER_REPLICATE)
    # Equalising evens out exposure and contrast, which Haar features are sensitive to.
    equalised = cv2.equalizeHist(turned)
    min_side = max(24, min(turned.shape) // 12)
    cascades = FACE_CASCADES if degrees == 0.0 else FACE_CASCADES[:1]
    for i, name in enumerate(cascades):
        faces = _cascade(name).detectMultiScale(
            equalised, scaleFactor=1.1, minNeighbors=5, minSize=(min_side, min_side)
        )
        if not len(faces):
            continue
        x, y, w, h = max((tuple(int(v) for v in f) for f in faces), key=lambda f: f[2] * f[3])
        eyes = _find_eyes(turned, (x, y, w, h))
        if eyes is not None or (i == 0 and degrees == 0.0):
            return degrees, (x, y, w, h), eyes
    return None


def _find_eyes(grey: NDArray[np.uint8], box: tuple[int, int, int, int]) -> tuple[Point, Point] | None:
    """The most plausible eye pair in the upper part of the face box, in grey's pixels."""
    x, y, w, h = box
    top, bottom = y + int(0.15 * h), y + int(0.6 * h)
    crop = grey[max(top, 0) : bottom, max(x, 0) : x + w]
    if crop.size == 0:
        return None
    zoom = EYE_SEARCH_WIDTH / crop.shape[1]
    crop = cv2.resize(
        crop, _scaled_size(crop.shape, zoom), interpolation=cv2.INTER_AREA if zoom < 1 else cv2.INTER_CUBIC
    )
    crop = cv2.equalizeHist(crop)
    eye_min, eye_max = int(0.12 * EYE_SEARCH_WIDTH), int(0.4 * EYE_SEARCH_WIDTH)
    # Expected eye centres and spacing, in crop pixels.
    expect_left = np.array([BOX_LEFT_EYE[0] * w, BOX_LEFT_EYE[1] * h - (top - y)]) * zoom
    expect_right = np.array([BOX_RIGHT_EYE[0] * w, BOX_RIGHT_EYE[1] * h - (top - y)]) * zoom
    spacing = float(expect_right[0] - expect_left[0])
    for name in EYE_CASCADES:
        found = _cascade(name).detectMultiScale(
            crop, scaleFactor=1.05, minNeighbors=3, minSize=(eye_min, eye_min), maxSize=(eye_max, eye_max)
        )
        centres = [(np.array([ex + (ew - 1) / 2, ey + (eh - 1) / 2]), float(ew)) for ex, ey, ew, eh in found]
        best: tuple[float, np.ndarray, np.ndarray] | None = None
        for i, (a, size_a) in enumerate(centres):
            for b, size_b in centres[i + 1 :]:
                left, right = (a, b) if a[0] < b[0] else (b, a)
                dx, dy = right - left
                distance = math.hypot(dx, dy)
                plausible = (
                    0.6 * spacing <= distance <= 1.5 * spacing
                    and abs(math.degrees(math.atan2(dy, dx))) <= 30
                    and max(size_a, size_b) <= 2 * min(size_a, size_b)
                )
                if not plausible:
                    continue
                score = float(np.sum((left - expect_left) ** 2) + np.sum((right - expect_right) ** 2))
                if best is None or score < best[0]:
                    best = (score, left, right)
        if best is not None:
            offset = np.array([max(x, 0), max(top, 0)], dtype=np.float64)
            left_eye, right_eye = (_from_crop(p, zoom) + offset for p in best[1:])
            return (float(left_eye[0]), float(left_eye[1])), (float(right_eye[0]), float(right_eye[1]))
    return None


def _from_crop(point: np.ndarray, zoom: float) -> np.ndarray:
    # Pixel centres sit at integers, so scaling maps (p + 0.5) rather than p.
    return (point + 0.5) / zoom - 0.5


def _eyes_from_box(box: tuple[int, int, int, int]) -> tuple[Point, Point]:
    x, y, w, h = box
    return (
        (x - 0.5 + BOX_LEFT_EYE[0] * w, y - 0.5 + BOX_LEFT_EYE[1] * h),
        (x - 0.5 + BOX_RIGHT_EYE[0] * w, y - 0.5 + BOX_RIGHT_EYE[1] * h),
    )


def _apply(matrix: NDArray[np.float64], point: Point | np.ndarray) -> Point:
    px, py = float(point[0]), float(point[1])
    return (
        float(matrix[0, 0] * px + matrix[0, 1] * py + matrix[0, 2]),
        float(matrix[1, 0] * px + matrix[1, 1] * py + matrix[1, 2]),
    )


def _resample_point(point: Point, scale: float) -> Point:
    """A point in an image resized by `scale` -> the same point in the original."""
    return (point[0] + 0.5) / scale - 0.5, (point[1] + 0.5) / scale - 0.5


# --- warp helpers ------------------------------------------------------------------------------


def _quad_to_square(quad: NDArray[np.float64], size: int) -> NDArray[np.float64]:
    """Affine map sending the quad's corners to the output's outer pixel edges."""
    edge = size - 0.5
    corners = np.array([[-0.5, -0.5], [-0.5, edge], [edge, edge]], dtype=np.float32)
    return cv2.getAffineTransform(quad[:3].astype(np.float32), corners).astype(np.float64)


def _compose(outer: NDArray[np.float64], inner: NDArray[np.float64]) -> NDArray[np.float64]:
    """The affine map `outer(inner(p))`: [2, 3]."""
    return (np.vstack([outer, [0, 0, 1]]) @ np.vstack([inner, [0, 0, 1]]))[:2]


def _inverse(matrix: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.linalg.inv(np.vstack([matrix, [0, 0, 1]]))[:2]


def _preshrink(image: NDArray[np.uint8], scale: float) -> tuple[NDArray[np.uint8], NDArray[np.float64]]:
    """Area-shrink the photo to the output's scale so the warp never has to skip pixels.

    Returns the (possibly) shrunk image and the affine map from original to shrunk pixels.
    """
    if scale >= 1.0:
        return image, np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    height, width = image.shape[:2]
    new_w, new_h = _scaled_size(image.shape, scale)
    sx, sy = new_w / width, new_h / height
    shrunk = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA)
    return shrunk, np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5]])


def _fade_border(
    aligned: NDArray[np.uint8], warp: NDArray[np.float64], source_shape: tuple[int, ...]
) -> NDArray[np.uint8]:
    """Blend mirrored padding into a blur, then into the median colour, with distance from the photo."""
    size = aligned.shape[0]
    back = _inverse(warp)
    v, u = np.mgrid[0:size, 0:size].astype(np.float64)
    sx = back[0, 0] * u + back[0, 1] * v + back[0, 2]
    sy = back[1, 0] * u + back[1, 1] * v + back[1, 2]
    height, width = source_shape
    outside = np.maximum.reduce(
        [np.zeros_like(sx), -0.5 - sx, sx - (width - 0.5), -0.5 - sy, sy - (height - 0.5)]
    )
    if not outside.any():
        return aligned
    # Distance outside the photo in output pixels: full blur after 2% of the side, full median
    # colour after 20%, so a mirrored face never shows far from the edge.
    distance = (outside * math.hypot(warp[0, 0], warp[1, 0]))[..., None]
    pixels = aligned.astype(np.float64)
    blurred = cv2.GaussianBlur(pixels, (0, 0), sigmaX=max(0.03 * size, 0.5))
    median = np.median(pixels.reshape(-1, pixels.shape[-1]), axis=0)
    pixels += (blurred - pixels) * np.clip(distance / (0.02 * size), 0.0, 1.0)
    pixels += (median - pixels) * np.clip(distance / (0.2 * size), 0.0, 1.0)
    return np.clip(np.rint(pixels), 0, 255).astype(np.uint8)
