"""Face alignment: finds the face in a real photo, levels the eyes, frames them like FFHQ, fails clearly."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from renderer.errors import UsageError
from renderer.jobs import align
from renderer.jobs.align import (
    CANONICAL_LEFT_EYE,
    CANONICAL_MOUTH,
    CANONICAL_RIGHT_EYE,
    FaceNotFoundError,
    align_face,
    detect_face,
    ffhq_quad,
    load_image,
    prepare_target,
)

DATA = Path(__file__).parent / "data"
ASTRONAUT = DATA / "astronaut.jpg"  # Eileen Collins, NASA, public domain (see data/README.md)


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return load_image(ASTRONAUT)


def rotate(image: np.ndarray, degrees: float) -> np.ndarray:
    """Turn counter-clockwise about the centre, mirrored at the edges (cv2's sign convention)."""
    height, width = image.shape[:2]
    matrix = cv2.getRotationMatrix2D(((width - 1) / 2, (height - 1) / 2), degrees, 1.0)
    return cv2.warpAffine(
        image, matrix, (width, height), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT_101
    )


def drawn_face(size: int = 240) -> tuple[np.ndarray, tuple[float, float], tuple[float, float]]:
    """A flat cartoon face the frontal cascade accepts, with its true eye centres."""
    s = size / 240
    img = np.full((size, size, 3), 120, np.uint8)

    def p(x: float, y: float) -> tuple[int, int]:
        return round(x * s), round(y * s)

    cv2.ellipse(img, p(120, 125), p(62, 80), 0, 0, 360, (215, 180, 155), -1)
    for x in (96, 144):
        cv2.ellipse(img, p(x, 108), p(16, 9), 0, 0, 360, (100, 85, 75), -1)
        cv2.circle(img, p(x, 108), round(6 * s), (30, 20, 15), -1)
        cv2.ellipse(img, p(x, 90), p(18, 5), 0, 0, 360, (90, 65, 50), -1)
    cv2.ellipse(img, p(120, 165), p(24, 7), 0, 0, 360, (140, 70, 70), -1)
    cv2.ellipse(img, p(120, 60), p(66, 34), 0, 180, 360, (60, 40, 30), -1)
    return cv2.GaussianBlur(img, (0, 0), 3 * s), (96 * s, 108 * s), (144 * s, 108 * s)


def canonical_pixels(fraction: tuple[float, float], size: int) -> np.ndarray:
    # Fractions are measured from the output's outer edge; pixel centres sit at integers.
    return np.asarray(fraction) * size - 0.5


def test_test_photo_is_small() -> None:
    assert ASTRONAUT.stat().st_size < 40_000
    assert (DATA / "README.md").exists()


def test_finds_the_face_and_both_eyes(photo: np.ndarray) -> None:
    face = detect_face(photo)
    x, y, w, h = face.box
    assert face.method == "eyes"
    assert 60 <= w <= 120 and w == h
    for eye in (face.left_eye, face.right_eye):
        assert x < eye[0] < x + w and y < eye[1] < y + h / 2 + 5
    assert face.left_eye[0] < face.right_eye[0]
    eye_distance = math.dist(face.left_eye, face.right_eye)
    assert 0.35 * w < eye_distance < 0.6 * w
    # The estimated mouth lies below the eyes, between them.
    assert face.left_eye[0] < face.mouth[0] < face.right_eye[0]
    assert face.mouth[1] > max(face.left_eye[1], face.right_eye[1]) + 0.8 * eye_distance


def test_aligned_eyes_are_level_and_where_ffhq_puts_them(photo: np.ndarray) -> None:
    aligned = align_face(photo, size=256)
    assert aligned.image.shape == (256, 256, 3) and aligned.image.dtype == np.uint8
    # By construction the warp sends the landmarks to the canonical FFHQ points ...
    warp = np.vstack([aligned.matrix, [0, 0, 1]])
    for point, fraction in (
        (aligned.landmarks.left_eye, CANONICAL_LEFT_EYE),
        (aligned.landmarks.right_eye, CANONICAL_RIGHT_EYE),
        (aligned.landmarks.mouth, CANONICAL_MOUTH),
    ):
        np.testing.assert_allclose((warp @ [*point, 1])[:2], canonical_pixels(fraction, 256), atol=1e-3)
    # ... and the detector, run again on the crop, agrees: level eyes near (0.375, 0.474), (0.625, 0.474).
    again = detect_face(aligned.image)
    assert again.method == "eyes"
    assert abs(again.angle) < 2.5
    np.testing.assert_allclose(again.left_eye, canonical_pixels(CANONICAL_LEFT_EYE, 256), atol=0.03 * 256)
    np.testing.assert_allclose(again.right_eye, canonical_pixels(CANONICAL_RIGHT_EYE, 256), atol=0.03 * 256)


@pytest.mark.parametrize("degrees", [12.0, -12.0, 30.0])
def test_a_tilted_head_is_measured_and_levelled(photo: np.ndarray, degrees: float) -> None:
    upright = detect_face(photo).angle  # the photographed head is itself tilted a few degrees
    aligned = align_face(rotate(photo, degrees), size=256)
    assert aligned.landmarks.method == "eyes"
    assert aligned.angle == pytest.approx(upright + degrees, abs=3.0)
    again = detect_face(aligned.image)
    assert abs(again.angle) < 3.0
    np.testing.assert_allclose(again.left_eye, canonical_pixels(CANONICAL_LEFT_EYE, 256), atol=0.04 * 256)


def test_quad_is_the_ffhq_square() -> None:
    quad = ffhq_quad((100.0, 100.0), (140.0, 100.0), (120.0, 141.6))
    # Level eyes 40 px apart: side 4 x 40, centre a tenth of the way to the mouth.
    np.testing.assert_allclose(quad, [[40, 24.16], [40, 184.16], [200, 184.16], [200, 24.16]], atol=1e-9)


def test_a_drawn_face_lands_its_eyes_on_the_canonical_points() -> None:
    image, left, right = drawn_face()
    face = detect_face(image)
    assert face.method == "eyes"
    assert math.dist(face.left_eye, left) < 4 and math.dist(face.right_eye, right) < 4
    aligned = align_face(image, size=128)
    warp = np.vstack([aligned.matrix, [0, 0, 1]])
    # The true eye centres, carried through the warp, land within 2.5% of the side of FFHQ's.
    np.testing.assert_allclose((warp @ [*left, 1])[:2], canonical_pixels(CANONICAL_LEFT_EYE, 128), atol=3.2)
    np.testing.assert_allclose((warp @ [*right, 1])[:2], canonical_pixels(CANONICAL_RIGHT_EYE, 128), atol=3.2)


def test_without_eyes_the_face_box_places_them(monkeypatch: pytest.MonkeyPatch) -> None:
    image, left, right = drawn_face()
    monkeypatch.setattr(align, "EYE_CASCADES", ())
    face = detect_face(image)
    assert face.method == "face box"
    assert face.angle == 0.0
    eye_distance = math.dist(left, right)
    assert math.dist(face.left_eye, left) < 0.35 * eye_distance
    assert math.dist(face.right_eye, right) < 0.35 * eye_distance


def test_padding_is_faded_not_black_when_the_crop_leaves_the_photo(photo: np.ndarray) -> None:
    # Cut the photo at the top of the face box: FFHQ's square then reaches well past the top edge.
    top = int(detect_face(photo).box[1])
    aligned = align_face(photo[top:, 30:], size=128)
    assert aligned.quad[:, 1].min() < -30  # source pixels above the cut
    band = aligned.image[:8].astype(np.float64)
    assert band.min() > 40  # no black corners
    assert band.std(axis=(0, 1)).max() < 20  # faded to a smooth blur, not a sharp mirror image
    assert aligned.image.std() > 30


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((120, 160, 3), np.uint8),
        np.dstack([np.tile(np.linspace(0, 255, 200), (150, 1))] * 3).astype(np.uint8),
        cv2.GaussianBlur(
            np.random.default_rng(3).integers(0, 256, (180, 240, 3)).astype(np.uint8), (0, 0), 4
        ),
    ],
    ids=["black", "gradient", "smooth noise"],
)
def test_no_face_raises_one_line(image: np.ndarray) -> None:
    with pytest.raises(FaceNotFoundError) as info:
        align_face(image, size=64, source="holiday.jpg")
    assert str(info.value) == "holiday.jpg: no face found"
    assert isinstance(info.value, UsageError) and info.value.exit_code == 2


def test_prepare_target_without_alignment_crops_the_centre() -> None:
    image = np.zeros((60, 100, 3), np.uint8)
    image[:, 20:80] = 200  # the centre square, 60 x 60
    image[:, 50:80, 1] = 40
    target = prepare_target(image, size=30, align=False)
    assert target.shape == (30, 30, 3) and target.dtype == np.uint8
    assert target.min() == 40 and np.all(target[..., 0] == 200)
    assert np.all(target[:, :15, 1] == 200) and np.all(target[:, 15:, 1] == 40)
    assert prepare_target(image, size=120, align=False).shape == (120, 120, 3)


def test_prepare_target_with_alignment_is_the_aligned_crop(photo: np.ndarray) -> None:
    np.testing.assert_array_equal(
        prepare_target(photo, size=64, align=True), align_face(photo, size=64).image
    )


def test_load_image_converts_to_rgb(tmp_path: Path) -> None:
    grey = np.arange(48, dtype=np.uint8).reshape(6, 8) * 5
    Image.fromarray(grey, "L").save(tmp_path / "grey.png")
    loaded = load_image(tmp_path / "grey.png")
    assert loaded.shape == (6, 8, 3) and loaded.dtype == np.uint8
    np.testing.assert_array_equal(loaded, np.repeat(grey[..., None], 3, axis=-1))

    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., :3] = (10, 20, 30)
    rgba[:2, :, 3] = 255  # top half opaque, bottom half fully transparent
    Image.fromarray(rgba, "RGBA").save(tmp_path / "cutout.png")
    loaded = load_image(tmp_path / "cutout.png")
    assert loaded.shape == (4, 4, 3)
    assert np.all(loaded[:2] == (10, 20, 30)) and np.all(loaded[2:] == 255)

    Image.fromarray(rgba[..., :3], "RGB").convert("P", palette=Image.Palette.ADAPTIVE).save(
        tmp_path / "palette.png"
    )
    assert load_image(tmp_path / "palette.png")[0, 0].tolist() == [10, 20, 30]

    deep = (np.arange(16, dtype=np.uint16).reshape(4, 4) * 4000).astype(np.uint16)
    Image.fromarray(deep).save(tmp_path / "deep.png")
    loaded = load_image(tmp_path / "deep.png")
    np.testing.assert_allclose(loaded[..., 0], deep / 65535 * 255, atol=1)


def test_load_image_applies_exif_orientation(tmp_path: Path) -> None:
    pixels = np.zeros((10, 20, 3), np.uint8)
    pixels[:, :10] = 255  # white on the left, landscape
    image = Image.fromarray(pixels)
    exif = image.getexif()
    exif[0x0112] = 6  # "rotate 90 CW to view"
    image.save(tmp_path / "phone.jpg", exif=exif, quality=95)
    loaded = load_image(tmp_path / "phone.jpg")
    assert loaded.shape == (20, 10, 3)  # shown as portrait
    assert loaded[:8].mean() > 200 and loaded[12:].mean() < 50


def test_load_image_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"missing\.jpg: no such file$"):
        load_image(tmp_path / "missing.jpg")
    (tmp_path / "notes.jpg").write_text("not a picture")
    with pytest.raises(UsageError, match=r"notes\.jpg: not an image") as info:
        load_image(tmp_path / "notes.jpg")
    assert "\n" not in str(info.value)
    with pytest.raises(UsageError, match="is a folder"):
        load_image(tmp_path)


def test_bad_arrays_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="uint8"):
        detect_face(np.zeros((10, 10, 3), np.float32))
    with pytest.raises(UsageError, match=r"\[H, W, 3\]"):
        prepare_target(np.zeros((10, 10, 2), np.uint8), size=8, align=False)
