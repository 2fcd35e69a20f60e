"""The procedural face data set: deterministic from its seed, varied, two styles of the same faces."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from renderer.jobs.faces import PRINT_INK, face_image, face_images, face_params, write_faces


def test_a_data_set_is_remade_exactly_from_its_seed(tmp_path: Path) -> None:
    a = face_images(7, 4, size=32)
    assert np.array_equal(a, face_images(7, 4, size=32))
    assert np.array_equal(a[2], face_image(7, 2, size=32))  # each face depends on (seed, index) only
    assert not np.array_equal(a, face_images(8, 4, size=32))
    paths = write_faces(tmp_path / "faces", 7, 3, size=32)
    assert [p.name for p in paths] == ["face_00000.png", "face_00001.png", "face_00002.png"]
    assert np.array_equal(np.asarray(Image.open(paths[1])), a[1])


def test_faces_vary_and_sit_in_the_middle() -> None:
    images = face_images(3, 16, size=64).astype(np.float64)
    assert np.median([np.abs(images[i] - images[j]).mean() for i in range(16) for j in range(i)]) > 20
    # The face (skin) is in the centre: the centre differs from the image's mean colour, per image.
    params = [face_params(np.random.default_rng([3, i])) for i in range(16)]
    for img, p in zip(images, params, strict=True):
        centre = img[28:36, 28:36].mean(axis=(0, 1))
        assert np.abs(centre - np.array(p.skin)).max() < 60


def test_woodblock_prints_use_the_ink_palette() -> None:
    photos = face_images(4, 8, size=64, style="photo").reshape(-1, 1, 3).astype(np.float64)
    prints = face_images(4, 8, size=64, style="woodblock").reshape(-1, 1, 3).astype(np.float64)

    def ink_distance(pixels: np.ndarray) -> float:
        return float(np.sqrt(((pixels - PRINT_INK[None]) ** 2).sum(-1)).min(-1).mean())

    assert ink_distance(prints) < 20 < ink_distance(photos)


def test_unknown_style_is_refused() -> None:
    with pytest.raises(ValueError, match="style must be one of"):
        face_image(0, 0, style="oil")  # type: ignore[arg-type]


def _saturation_and_value(images: np.ndarray) -> tuple[float, float]:
    import cv2

    hsv = cv2.cvtColor(images.reshape(-1, images.shape[-2], 3), cv2.COLOR_RGB2HSV).astype(np.float64)
    return float(hsv[..., 1].mean()), float(hsv[..., 2].mean())


def test_pastels_are_the_same_faces_washed_light_and_soft() -> None:
    photos = face_images(5, 8, size=64, style="photo")
    pastels = face_images(5, 8, size=64, style="pastel")
    photo_s, photo_v = _saturation_and_value(photos)
    pastel_s, pastel_v = _saturation_and_value(pastels)
    assert pastel_s < 0.7 * photo_s and pastel_v > photo_v + 20  # paler and lighter
    # The same face: the layout survives (pixel correlation of the mean images).
    assert np.corrcoef(photos.mean(0).ravel(), pastels.mean(0).ravel())[0, 1] > 0.8
