"""A procedural data set of drawn faces, and the same faces as woodblock prints or pastel drawings.

The built-in models are trained on it (no downloaded data): `face_params(rng)` draws one face (head
shape, skin and hair colours, hair style, eyes, brows, nose, mouth, pose, background), and
`draw_face(params, style=...)` renders it as a plain drawing ("photo"), as a woodblock print
("woodblock": flat areas from a limited palette, dark outlines, slightly misregistered colour
blocks, paper grain) or as a pastel drawing ("pastel": colours washed toward a cool light tint,
soft chalk edges, a faint paper tooth). Everything is deterministic from (seed, index), so a data set is remade
exactly from its seed.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
from numpy.typing import NDArray

FaceStyle = Literal["photo", "woodblock", "pastel"]
FACE_STYLES: tuple[FaceStyle, ...] = ("photo", "woodblock", "pastel")

SKIN = np.array([
    (255, 224, 196), (241, 194, 160), (224, 172, 130), (198, 134, 96), (160, 106, 72),
    (120, 78, 52), (255, 210, 180), (232, 190, 150),
], dtype=np.float64)
HAIR = np.array([
    (20, 16, 14), (60, 40, 26), (110, 72, 40), (170, 120, 60), (220, 190, 120),
    (150, 60, 30), (200, 200, 200), (40, 40, 60),
], dtype=np.float64)
IRIS = np.array([(60, 40, 20), (40, 90, 140), (60, 110, 60), (100, 70, 40), (30, 30, 30)], dtype=np.float64)
# The woodblock palette: sumi black, indigo, vermilion, ochre, sage, rose, paper.
PRINT_INK = np.array([
    (32, 28, 30), (38, 58, 102), (196, 68, 44), (214, 160, 70), (110, 132, 98), (222, 150, 140),
    (236, 222, 190),
], dtype=np.float64)
PAPER = np.array((238, 226, 196), dtype=np.float64)
PASTEL_TINT = np.array((246, 238, 250), dtype=np.float64)  # pastels: every colour washed toward this
PASTEL_WASH = 0.4
PASTEL_LINE = np.array((96, 84, 140), dtype=np.float64)  # a violet pencil outline
SUPERSAMPLE = 3  # drawn at this multiple of the output size, then area-averaged (anti-aliasing)


@dataclasses.dataclass(frozen=True)
class FaceParams:
    """One face, in units of the image side (0..1), colours as RGB 0..255."""

    background: tuple[float, float, float]
    background2: tuple[float, float, float]  # gradient's other end
    cx: float  # face centre
    cy: float
    head_w: float  # head half-width
    head_h: float  # head half-height
    jaw: float  # 0 round .. 1 pointed chin
    roll: float  # head tilt, degrees
    yaw: float  # -1 (looking left) .. 1 (right): features shift sideways
    skin: tuple[float, float, float]
    hair: tuple[float, float, float]
    hair_style: int  # 0 bald/short crop, 1 cap, 2 long, 3 bun, 4 side part
    hair_volume: float
    shirt: tuple[float, float, float]
    eye_y: float  # eyes' height within the head (-1 top .. 1 bottom)
    eye_gap: float
    eye_size: float
    eye_open: float
    iris: tuple[float, float, float]
    brow_tilt: float  # degrees; positive = angry
    brow_thick: float
    nose_len: float
    mouth_w: float
    smile: float  # -1 frown .. 1 smile
    mouth_open: float
    lips: tuple[float, float, float]
    palette_shift: int  # woodblock: which ink colours the hair and clothes take


def _pick(rng: np.random.Generator, table: NDArray[np.float64], jitter: float) -> tuple[float, float, float]:
    c = table[rng.integers(len(table))] + rng.normal(0, jitter, 3)
    return tuple(float(v) for v in np.clip(c, 0, 255))  # type: ignore[return-value]


def face_params(rng: np.random.Generator) -> FaceParams:
    """Draw the parameters of one random face."""
    hue = rng.uniform(0, 180)
    bg = cv2.cvtColor(np.uint8([[[hue, rng.uniform(30, 160), rng.uniform(90, 240)]]]), cv2.COLOR_HSV2RGB)[0, 0]
    bg2 = np.clip(bg.astype(np.float64) * rng.uniform(0.6, 1.1) + rng.normal(0, 20, 3), 0, 255)
    shirt_hsv = np.uint8([[[rng.uniform(0, 180), rng.uniform(40, 220), rng.uniform(40, 220)]]])
    shirt = cv2.cvtColor(shirt_hsv, cv2.COLOR_HSV2RGB)[0, 0]
    skin = _pick(rng, SKIN, 8)
    lips = tuple(float(v) for v in np.clip(np.array(skin) * [0.85, 0.55, 0.55] + rng.normal(0, 8, 3), 0, 255))
    return FaceParams(
        background=tuple(float(v) for v in bg),  # type: ignore[arg-type]
        background2=tuple(float(v) for v in bg2),  # type: ignore[arg-type]
        cx=float(0.5 + rng.normal(0, 0.03)),
        cy=float(0.5 + rng.normal(0, 0.025)),
        head_w=float(rng.uniform(0.2, 0.27)),
        head_h=float(rng.uniform(0.27, 0.33)),
        jaw=float(rng.uniform(0, 1)),
        roll=float(rng.normal(0, 8)),
        yaw=float(np.clip(rng.normal(0, 0.45), -1, 1)),
        skin=skin,
        hair=_pick(rng, HAIR, 10),
        hair_style=int(rng.integers(5)),
        hair_volume=float(rng.uniform(0.8, 1.25)),
        shirt=tuple(float(v) for v in shirt),  # type: ignore[arg-type]
        eye_y=float(rng.uniform(-0.15, 0.05)),
        eye_gap=float(rng.uniform(0.36, 0.48)),
        eye_size=float(rng.uniform(0.8, 1.25)),
        eye_open=float(rng.uniform(0.45, 1.0)),
        iris=_pick(rng, IRIS, 10),
        brow_tilt=float(rng.normal(0, 9)),
        brow_thick=float(rng.uniform(0.7, 1.4)),
        nose_len=float(rng.uniform(0.15, 0.3)),
        mouth_w=float(rng.uniform(0.25, 0.45)),
        smile=float(rng.uniform(-0.6, 1.0)),
        mouth_open=float(rng.uniform(0, 1) ** 3),
        lips=lips,  # type: ignore[arg-type]
        palette_shift=int(rng.integers(4)),
    )


class _Canvas:
    """Drawing in face coordinates: (u, v) in head units (-1..1 across the head), rotated by roll."""

    def __init__(self, p: FaceParams, side: int, style: FaceStyle) -> None:
        self.p = p
        self.side = side
        self.style = style
        self.img = np.zeros((side, side, 3), np.float64)
        # Woodblock prints and pastels get a separate outline layer, drawn over the colour at the end.
        self.outlined = style in ("woodblock", "pastel")
        self.lines = np.zeros((side, side), np.uint8)
        a = math.radians(p.roll)
        self.cos, self.sin = math.cos(a), math.sin(a)

    def pt(self, u: float, v: float) -> tuple[int, int]:
        """Face units -> integer pixels (u right, v down; 1 = the head's half-width/half-height)."""
        x, y = u * self.p.head_w, v * self.p.head_h
        x, y = x * self.cos - y * self.sin, x * self.sin + y * self.cos
        return round((self.p.cx + x) * self.side), round((self.p.cy + y) * self.side)

    def px(self, length: float) -> int:
        return max(1, round(length * self.side))

    def colour(self, rgb: tuple[float, float, float] | NDArray[np.float64]) -> tuple[float, float, float]:
        c = np.asarray(rgb, np.float64)
        if self.style == "woodblock":
            c = _to_ink(c)
        elif self.style == "pastel":
            c = c * (1 - PASTEL_WASH) + PASTEL_TINT * PASTEL_WASH
        return tuple(float(v) for v in c)  # type: ignore[return-value]

    def line_px(self, weight: float = 1.0) -> int:
        return max(1, round(self.side * 0.012 * weight))

    def ellipse(self, u: float, v: float, ru: float, rv: float, rgb: tuple[float, float, float], *,
                angle: float = 0.0, outline: bool = True, start: float = 0, end: float = 360) -> None:
        centre = self.pt(u, v)
        axes = (self.px(ru * self.p.head_w), self.px(rv * self.p.head_h))
        ang = angle + self.p.roll
        cv2.ellipse(self.img, centre, axes, ang, start, end, self.colour(rgb), -1, cv2.LINE_8)
        if outline and self.outlined:  # hide the outlines this shape covers, add its own
            cv2.ellipse(self.lines, centre, axes, ang, start, end, 0, -1, cv2.LINE_8)
            cv2.ellipse(self.lines, centre, axes, ang, start, end, 255, self.line_px(), cv2.LINE_8)

    def poly(self, pts: list[tuple[float, float]], rgb: tuple[float, float, float], *, outline: bool = True) -> None:
        arr = np.array([self.pt(u, v) for u, v in pts], np.int32)
        cv2.fillPoly(self.img, [arr], self.colour(rgb), cv2.LINE_8)
        if outline and self.outlined:
            cv2.fillPoly(self.lines, [arr], 0, cv2.LINE_8)
            cv2.polylines(self.lines, [arr], True, 255, self.line_px(), cv2.LINE_8)

    def stroke(self, pts: list[tuple[float, float]], rgb: tuple[float, float, float], weight: float) -> None:
        arr = np.array([self.pt(u, v) for u, v in pts], np.int32)
        thickness = max(1, round(self.side * 0.012 * weight))
        if self.outlined:
            cv2.polylines(self.lines, [arr], False, 255, thickness, cv2.LINE_8)
        else:
            cv2.polylines(self.img, [arr], False, self.colour(rgb), thickness, cv2.LINE_8)


def _to_ink(c: NDArray[np.float64]) -> NDArray[np.float64]:
    """The nearest woodblock ink to a colour (luminance-weighted, so skin maps to paper or rose)."""
    d = ((PRINT_INK - c) ** 2 * [0.3, 0.59, 0.11]).sum(axis=1)
    return PRINT_INK[int(np.argmin(d))]


def _arc(cu: float, cv: float, ru: float, rv: float, a0: float, a1: float, n: int = 12) -> list[tuple[float, float]]:
    t = np.linspace(math.radians(a0), math.radians(a1), n)
    return [(cu + ru * math.cos(a), cv + rv * math.sin(a)) for a in t]


def _draw(c: _Canvas) -> None:
    p = c.p
    woodblock = c.style == "woodblock"
    skin = p.skin
    hair = p.hair
    shirt = p.shirt
    if woodblock:  # the print's own choices: skin on paper-rose, hair in ink, clothes in colour
        skin = tuple(PRINT_INK[5] if p.palette_shift % 2 else PRINT_INK[6])  # type: ignore[assignment]
        hair = tuple(PRINT_INK[0] if p.palette_shift < 3 else PRINT_INK[1])  # type: ignore[assignment]
        shirt = tuple(PRINT_INK[(1, 2, 3, 4)[p.palette_shift]])  # type: ignore[assignment]
    shade = tuple(float(v) for v in np.asarray(skin) * 0.82)
    yaw = p.yaw * 0.28  # how far the features slide sideways
    # Shoulders and neck, below the head.
    c.ellipse(0.0, 2.35, 2.3, 1.1, shirt)
    c.poly([(-0.42, 0.6), (0.42, 0.6), (0.5, 1.35), (-0.5, 1.35)], shade)
    # Hair behind the head.
    vol = p.hair_volume
    if p.hair_style == 2:  # long
        c.poly([(-1.15 * vol, -0.3), (1.15 * vol, -0.3), (1.3 * vol, 1.35), (-1.3 * vol, 1.35)], hair)
        c.ellipse(0.0, -0.25, 1.15 * vol, 0.95, hair)
    elif p.hair_style == 3:  # bun
        c.ellipse(0.0, -1.1 - 0.15 * vol, 0.45 * vol, 0.35 * vol, hair)
    # Ears.
    c.ellipse(-1.0 + yaw * 0.5, 0.05, 0.16, 0.22, shade)
    c.ellipse(1.0 + yaw * 0.5, 0.05, 0.16, 0.22, shade)
    # Head: an ellipse whose lower half narrows into the chin.
    upper = _arc(0, 0, 1, 1, 180, 360, 24)
    chin = 1.0 + 0.12 * p.jaw
    lower = [(math.cos(a) * (1 - p.jaw * 0.35 * math.sin(a) ** 2), math.sin(a) * chin) for a in np.linspace(0, math.pi, 24)]
    c.poly(upper + lower, skin)
    # Hair on top of the head.
    if p.hair_style in (1, 2, 3, 4):
        top = _arc(0, -0.05, 1.08 * min(vol, 1.1), 1.02 + 0.1 * vol, 180, 360, 24)
        fringe_y = -0.45 + (0.12 if p.hair_style == 4 else 0.0)
        if p.hair_style == 4:  # side part: a fringe that sweeps down on one side
            fringe = [(1.02, fringe_y - 0.05), (0.2, -0.62), (-0.6, fringe_y + 0.2), (-1.02, fringe_y + 0.25)]
        else:
            fringe = [(1.02, fringe_y), (0.5, -0.58), (0.0, -0.52), (-0.5, -0.58), (-1.02, fringe_y)]
        c.poly(top + fringe, hair)
    else:  # short crop: a thin cap
        c.poly(_arc(0, -0.1, 1.02, 0.98, 190, 350, 20) + [(0.9, -0.55), (0.0, -0.7), (-0.9, -0.55)], hair)
    # Eyes.
    ey = p.eye_y
    er_u, er_v = 0.17 * p.eye_size, 0.11 * p.eye_size * p.eye_open
    for side in (-1, 1):
        u = side * p.eye_gap + yaw
        c.ellipse(u, ey, er_u, er_v, (250, 250, 245) if not woodblock else tuple(PRINT_INK[6]))
        iris_r = min(er_u, 0.09 * p.eye_size)
        c.ellipse(u + yaw * 0.25, ey, iris_r * 0.8, min(er_v, iris_r), p.iris if not woodblock else tuple(PRINT_INK[0]), outline=False)
        if not woodblock:
            c.ellipse(u + yaw * 0.25, ey, iris_r * 0.4, min(er_v, iris_r) * 0.5, (10, 10, 10), outline=False)
            c.stroke(_arc(u, ey, er_u, er_v, 200, 340), (40, 30, 30), 0.8)
        # Brow.
        tilt = math.radians(p.brow_tilt) * side
        bu, bv = u, ey - 0.22 - 0.1 * p.eye_size
        du, dv = 0.2 * math.cos(tilt), 0.2 * math.sin(tilt)
        c.stroke([(bu - du, bv - dv), (bu, bv - 0.03), (bu + du, bv + dv)], hair, 1.6 * p.brow_thick)
    # Nose.
    nu = yaw * 1.3
    nose_top, nose_tip = ey + 0.1, ey + 0.1 + p.nose_len * 1.6
    c.stroke([(nu, nose_top), (nu + 0.06 + yaw * 0.2, nose_tip), (nu - 0.08, nose_tip + 0.02)], shade, 0.9)
    # Mouth: a curved line, or an open mouth.
    mu, mv = yaw * 1.1, min(nose_tip + 0.28, 0.75)
    half = p.mouth_w
    lips = p.lips if not woodblock else tuple(PRINT_INK[2])
    if p.mouth_open > 0.35:
        c.ellipse(mu, mv, half * 0.8, 0.05 + 0.12 * p.mouth_open, (90, 20, 30) if not woodblock else tuple(PRINT_INK[0]))
        c.ellipse(mu, mv - 0.02, half * 0.8, 0.04, lips, outline=False, start=180, end=360)
    else:
        curve = 0.14 * p.smile
        pts = [(mu + half * t, mv - curve * (1 - t * t) + curve) for t in np.linspace(-1, 1, 9)]
        c.stroke(pts, lips, 1.3)
    # Cheeks (woodblock prints: two rose dots; drawings: none).
    if woodblock and p.palette_shift % 2 == 0:
        for side in (-1, 1):
            c.ellipse(side * 0.55 + yaw, ey + 0.45, 0.14, 0.08, tuple(PRINT_INK[5]), outline=False)


def _background(p: FaceParams, side: int, style: FaceStyle, rng: np.random.Generator) -> NDArray[np.float64]:
    t = np.linspace(0, 1, side)[:, None, None]
    if style == "woodblock":
        bg = PAPER if p.palette_shift != 1 else PRINT_INK[3] * 0.3 + PAPER * 0.7
        img = np.broadcast_to(bg, (side, side, 3)).copy()
        if p.palette_shift >= 2:  # a printed band of colour behind the sitter (a bokashi gradient)
            band = PRINT_INK[(1, 4)[p.palette_shift - 2]]
            weight = np.clip(1.4 - 2.2 * t, 0, 1)
            img = img * (1 - weight) + band * weight
        return img
    img = np.asarray(p.background) * (1 - t) + np.asarray(p.background2) * t
    if style == "pastel":
        img = img * (1 - PASTEL_WASH) + PASTEL_TINT * PASTEL_WASH
    return np.broadcast_to(img, (side, side, 3)).copy()


def draw_face(p: FaceParams, *, size: int = 64, style: FaceStyle = "photo", texture_seed: int = 0) -> NDArray[np.uint8]:
    """Render a face: uint8 [size, size, 3] RGB."""
    if style not in FACE_STYLES:
        raise ValueError(f"style must be one of {FACE_STYLES}, got {style!r}")
    side = size * SUPERSAMPLE
    rng = np.random.default_rng(texture_seed)
    canvas = _Canvas(p, side, style)
    canvas.img[:] = _background(p, side, style, rng)
    if style == "woodblock":
        # Each colour block is printed from its own block: offset slightly (misregistration).
        _draw(canvas)
        shift = rng.integers(-SUPERSAMPLE, SUPERSAMPLE + 1, 2)
        move = np.float32([[1, 0, shift[0]], [0, 1, shift[1]]])
        colour = cv2.warpAffine(canvas.img, move, (side, side), borderMode=cv2.BORDER_REPLICATE)
        kernel = np.ones((2, 2), np.uint8)
        lines = cv2.dilate(canvas.lines, kernel) > 0
        colour[lines] = PRINT_INK[0]
        # Paper: fibres (stretched noise) and grain, stronger where ink is thin.
        grain = rng.normal(0, 1, (side // 4, side // 4))
        fibres = cv2.resize(cv2.GaussianBlur(rng.normal(0, 1, (side, side // 8)), (0, 0), 1.0), (side, side))
        grain = cv2.resize(grain, (side, side), interpolation=cv2.INTER_NEAREST)
        img = colour * (1 + 0.035 * grain[..., None] + 0.05 * fibres[..., None])
    elif style == "pastel":
        _draw(canvas)
        # Chalk: soft edges, a violet pencil outline half-covering the colour, the paper's tooth.
        soft = cv2.GaussianBlur(canvas.img, (0, 0), SUPERSAMPLE * 0.4)
        lines = cv2.GaussianBlur((canvas.lines > 0).astype(np.float64), (0, 0), SUPERSAMPLE * 0.3)[..., None]
        soft = soft * (1 - 0.6 * lines) + PASTEL_LINE * 0.6 * lines
        tooth = cv2.resize(rng.normal(0, 1, (side // 2, side // 2)), (side, side), interpolation=cv2.INTER_NEAREST)
        img = soft * (1 + 0.03 * tooth[..., None])
    else:
        _draw(canvas)
        # Soft light from the upper left, and a little sensor noise.
        yy, xx = np.mgrid[0:side, 0:side] / side
        light = 1.08 - 0.18 * np.hypot(xx - 0.3, yy - 0.25)
        img = canvas.img * light[..., None] + rng.normal(0, 3, (side, side, 1))
    img = cv2.resize(np.clip(img, 0, 255).astype(np.float32), (size, size), interpolation=cv2.INTER_AREA)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def face_image(seed: int, index: int, *, size: int = 64, style: FaceStyle = "photo") -> NDArray[np.uint8]:
    """Face `index` of the data set `seed`: the same face in both styles, uint8 [size, size, 3]."""
    p = face_params(np.random.default_rng([seed, index]))
    return draw_face(p, size=size, style=style, texture_seed=(seed * 1_000_003 + index) & 0x7FFFFFFF)


def face_images(seed: int, count: int, *, size: int = 64, style: FaceStyle = "photo", start: int = 0) -> NDArray[np.uint8]:
    """Faces start .. start+count-1 of data set `seed`: uint8 [count, size, size, 3]."""
    return np.stack([face_image(seed, i, size=size, style=style) for i in range(start, start + count)])


def iter_faces(seed: int, count: int, *, size: int, style: FaceStyle) -> Iterator[NDArray[np.uint8]]:
    for i in range(count):
        yield face_image(seed, i, size=size, style=style)


def write_faces(folder: Path, seed: int, count: int, *, size: int = 64, style: FaceStyle = "photo") -> list[Path]:
    """Write a data set as PNG files `face_00000.png`, ... into `folder` (created); returns the paths."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, img in enumerate(iter_faces(seed, count, size=size, style=style)):
        path = folder / f"face_{i:05d}.png"
        Image.fromarray(img).save(path)
        paths.append(path)
    return paths
