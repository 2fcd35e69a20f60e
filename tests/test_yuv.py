"""Frames leave the generator as yuv420p when the encoder takes yuv420p: the conversion on the device
matches ffmpeg's own (to one level on every plane), the writers ask for the layout they take, and
a video made from YUV frames is the video made from RGB frames."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from renderer import load_generator
from renderer.frames.latents import build_timeline
from renderer.frames.pipeline import FramePipeline
from renderer.frames.yuv import rgb_to_yuv420p
from renderer.jobs.job import RenderSettings
from renderer.jobs.render import LAYOUT_ENV, frame_layout, render
from renderer.output.ffmpeg import ffmpeg_exe, probe, read_frames
from renderer.output.writers import open_segment, output_writer
from renderer.plan.encoding import EncoderSettings, frame_shape
from renderer.plan.script import load_script
from tests.test_render import psnr, write_script


def ffmpeg_yuv420p(rgb: np.ndarray) -> np.ndarray:
    """ffmpeg's own conversion (its default scaler, as in an encode) of uint8 [n, H, W, 3] to yuv420p."""
    n, height, width, _ = rgb.shape
    command = [
        ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24",
        "-s", f"{width}x{height}", "-i", "-", "-f", "rawvideo", "-pix_fmt", "yuv420p", "-",
    ]
    out = subprocess.run(command, input=rgb.tobytes(), capture_output=True, check=True).stdout
    return np.frombuffer(out, np.uint8).reshape(n, -1)


def decode_yuv420p(path: Path, width: int, height: int) -> np.ndarray:
    """The planes of a video as its decoder gives them: uint8 [n, H * W * 3 / 2]."""
    command = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "yuv420p", "-"]
    out = subprocess.run(command, capture_output=True, check=True).stdout
    return np.frombuffer(out, np.uint8).reshape(-1, *frame_shape("yuv420p", width, height))


def plane_differences(a: np.ndarray, b: np.ndarray, width: int, height: int) -> dict[str, tuple[int, float]]:
    """Per plane: the largest difference in levels and the share of samples that differ."""
    y = width * height
    planes = {"Y": slice(0, y), "U": slice(y, y + y // 4), "V": slice(y + y // 4, None)}
    diff = np.abs(a.astype(np.int16) - b.astype(np.int16))
    return {name: (int(diff[:, s].max()), float((diff[:, s] > 0).mean())) for name, s in planes.items()}


def assert_matches_ffmpeg(rgb: np.ndarray) -> dict[str, tuple[int, float]]:
    _, height, width, _ = rgb.shape
    ours = rgb_to_yuv420p(torch.from_numpy(rgb)).numpy()
    theirs = ffmpeg_yuv420p(rgb)
    assert ours.shape == theirs.shape == (len(rgb), width * height * 3 // 2)
    differences = plane_differences(ours, theirs, width, height)
    assert all(worst <= 1 for worst, _ in differences.values()), differences
    # Off by one only where fixed-point rounding falls the other way: rarely for Y, now and then for U, V.
    assert differences["Y"][1] < 0.02 and differences["U"][1] < 0.2 and differences["V"][1] < 0.2, differences
    return differences


def demo_frames(folder: Path, frames: int = 6, **pipeline_options) -> tuple[FramePipeline, np.ndarray]:
    """The demo model's first frames synthesised at its 64 px level (RGB), and the pipeline that made them."""
    G = load_generator("demo")
    script = load_script(write_script(folder, "demo", size=64))
    pipeline = FramePipeline(build_timeline(script, G), G, batch_size=2, size=64, resolution=64, **pipeline_options)
    return pipeline, np.concatenate(list(pipeline.frames(0, frames)))


# ---------------------------------------------------------------------------------------------
# The conversion against ffmpeg's


@settings(max_examples=12, deadline=None)
@given(
    half_width=st.integers(1, 80), half_height=st.integers(8, 60), seed=st.integers(0, 2**32 - 1),
)
def test_random_frames_convert_as_ffmpeg_does_to_one_level(half_width: int, half_height: int, seed: int) -> None:
    rgb = np.random.default_rng(seed).integers(0, 256, (2, 2 * half_height, 2 * half_width, 3), dtype=np.uint8)
    assert_matches_ffmpeg(rgb)


def test_rendered_frames_and_flat_colours_convert_as_ffmpeg_does(tmp_path: Path) -> None:
    _, frames = demo_frames(tmp_path, 6)
    real = assert_matches_ffmpeg(frames)
    # Smooth pictures round the other way less often than noise does.
    assert real["U"][1] < 0.1 and real["V"][1] < 0.1, real
    flat = np.array([(0, 0, 0), (255, 255, 255), (255, 0, 0), (0, 255, 0), (0, 0, 255), (128, 128, 128)], np.uint8)
    colours = np.broadcast_to(flat[:, None, None, :], (6, 16, 16, 3)).copy()
    assert_matches_ffmpeg(colours)
    yuv = rgb_to_yuv420p(torch.from_numpy(colours)).numpy()
    # Limited range: black and white at 16 and 235 with neutral chroma; the primaries as BT.601 puts them.
    y, u, v = yuv[:, 0], yuv[:, 256], yuv[:, 256 + 64]
    assert (y[0], u[0], v[0]) == (16, 128, 128) and (y[1], u[1], v[1]) == (235, 128, 128)
    assert (y[2], u[2], v[2]) == (81, 90, 240) and (y[3], u[3], v[3]) == (145, 54, 34) and (y[4], u[4], v[4]) == (41, 240, 110)


def test_the_conversion_refuses_odd_sizes_and_other_arrays() -> None:
    with pytest.raises(ValueError, match="even frame size"):
        rgb_to_yuv420p(torch.zeros(1, 17, 16, 3, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"uint8 \[n, H, W, 3\]"):
        rgb_to_yuv420p(torch.zeros(1, 16, 16, 3))
    with pytest.raises(ValueError, match="even size"):
        frame_shape("yuv420p", 15, 16)


# ---------------------------------------------------------------------------------------------
# The pipeline makes the layout the writer asks for


def test_the_pipeline_converts_on_the_device_or_after_the_hosts_work(tmp_path: Path) -> None:
    pipeline, rgb = demo_frames(tmp_path, 6)
    assert pipeline.converts_on_device
    yuv = np.concatenate(list(pipeline.frames(0, 6, "yuv420p")))
    assert yuv.shape == (6, 64 * 64 * 3 // 2) and yuv.dtype == np.uint8
    assert np.array_equal(yuv, rgb_to_yuv420p(torch.from_numpy(rgb)).numpy())
    # Blur and smoothing happen on the host, on RGB: the conversion follows them.
    pipeline, rgb = demo_frames(tmp_path, 6, blur=1.0, temporal_blur=1.0)
    assert not pipeline.converts_on_device
    yuv = np.concatenate(list(pipeline.frames(0, 6, "yuv420p")))
    assert np.array_equal(yuv, rgb_to_yuv420p(torch.from_numpy(rgb)).numpy())
    with pytest.raises(ValueError, match="unknown pixel layout"):
        next(pipeline.frames(0, 6, "nv12"))  # type: ignore[arg-type]


def test_writers_ask_for_yuv_only_where_the_encoder_takes_yuv420p_unpadded() -> None:
    mp4, webm, gif, png = (output_writer(kind) for kind in ("mp4", "webm", "gif", "png"))
    plain = EncoderSettings()
    assert mp4.frame_layout(64, 48, plain) == "yuv420p" and webm.frame_layout(64, 48, plain) == "yuv420p"
    assert mp4.frame_layout(64, 48, dataclasses.replace(plain, codec="h265")) == "yuv420p"
    for other in (EncoderSettings(pix_fmt="yuv444p"), EncoderSettings(pix_fmt="yuv420p10le"), EncoderSettings(pix_fmt="yuvj420p")):
        assert mp4.frame_layout(64, 48, other) == "rgb24"
    assert webm.frame_layout(64, 48, EncoderSettings(codec="vp9", pix_fmt="yuv444p")) == "rgb24"
    padded = EncoderSettings(even_size="pad")
    assert mp4.frame_layout(65, 48, padded) == "rgb24" and mp4.frame_layout(64, 47, padded) == "rgb24"
    assert mp4.frame_layout(64, 8, plain) == "rgb24"  # too few rows for ffmpeg's full chroma filter
    assert gif.frame_layout(64, 48, plain) == "rgb24" and png.frame_layout(64, 48, plain) == "rgb24"


def test_a_segment_checks_frames_against_its_layout(tmp_path: Path) -> None:
    with open_segment(tmp_path / "a.mp4", kind="mp4", width=32, height=16, fps=12, settings=EncoderSettings(), layout="yuv420p") as segment:
        assert segment.frame_shape == (768,)
        with pytest.raises(ValueError, match=r"uint8 \[n, 768\]"):
            segment.write(np.zeros((2, 16, 32, 3), np.uint8))
        segment.write(np.full((3, 768), 128, np.uint8))
        segment.write(np.full(768, 128, np.uint8))  # one frame
    assert probe(tmp_path / "a.mp4").num_frames == 4
    with pytest.raises(ValueError, match="PNG frames are written from rgb24"):
        open_segment(tmp_path / "f", kind="png", width=32, height=16, fps=12, settings=EncoderSettings(), layout="yuv420p")


# ---------------------------------------------------------------------------------------------
# Videos made from YUV frames are the videos made from RGB frames


def encode(path: Path, frames: np.ndarray, settings: EncoderSettings, layout: str) -> float | None:
    _, height, width, _ = frames.shape
    batch = frames if layout == "rgb24" else rgb_to_yuv420p(torch.from_numpy(frames)).numpy()
    segment = open_segment(path, kind="mp4", width=width, height=height, fps=12, settings=settings, layout=layout)  # type: ignore[arg-type]
    with segment:
        segment.write(batch)
    return segment.cpu_seconds


def test_a_lossless_encode_holds_the_planes_each_path_made(tmp_path: Path) -> None:
    _, frames = demo_frames(tmp_path, 8)
    lossless = EncoderSettings(crf=0, preset="ultrafast")
    encode(tmp_path / "rgb.mp4", frames, lossless, "rgb24")
    encode(tmp_path / "yuv.mp4", frames, lossless, "yuv420p")
    via_rgb, via_yuv = decode_yuv420p(tmp_path / "rgb.mp4", 64, 64), decode_yuv420p(tmp_path / "yuv.mp4", 64, 64)
    # The RGB path's encode holds exactly what ffmpeg's scaler made, the YUV path's exactly ours.
    assert np.array_equal(via_rgb, ffmpeg_yuv420p(frames))
    assert np.array_equal(via_yuv, rgb_to_yuv420p(torch.from_numpy(frames)).numpy())
    assert all(worst <= 1 for worst, _ in plane_differences(via_rgb, via_yuv, 64, 64).values())
    # Same stream description: no colour tags either way (players read both alike).
    a, b = probe(tmp_path / "rgb.mp4"), probe(tmp_path / "yuv.mp4")
    assert (a.pix_fmt, a.width, a.height) == (b.pix_fmt, b.width, b.height) == ("yuv420p", 64, 64)
    assert colour_tags(tmp_path / "rgb.mp4") == colour_tags(tmp_path / "yuv.mp4")


def colour_tags(path: Path) -> str:
    """The stream line ffmpeg prints for a video (codec, pixel format with range and matrix when tagged)."""
    text = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True).stderr
    line = next(line for line in text.splitlines() if "Video:" in line)
    return line.split("Video:", 1)[1].split(",")[1].strip()


@pytest.mark.skipif(not hasattr(os, "wait4"), reason="the encoder's CPU time comes from wait4 (POSIX)")
def test_the_encoder_reports_its_cpu_time(tmp_path: Path) -> None:
    """What --encoders auto measures an encoder by: its CPU time, as the OS accounts it to the child."""
    import resource

    frames = np.random.default_rng(0).integers(0, 256, (24, 128, 128, 3), dtype=np.uint8)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    seconds = encode(tmp_path / "a.mp4", frames, EncoderSettings(threads=2), "yuv420p")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    accounted = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    assert seconds is not None and seconds > 0
    assert seconds == pytest.approx(accounted, rel=0.2, abs=0.05)


@pytest.mark.parametrize("resolution", [64, None], ids=["converted on the device", "converted after resizing"])
def test_a_render_through_yuv_frames_matches_the_rgb_render(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, resolution: int | None
) -> None:
    script = load_script(write_script(tmp_path, "demo", size=64))
    settings = RenderSettings(device="cpu", resolution=resolution, encoders=2)

    def both(name: str, **output: object) -> tuple[np.ndarray, np.ndarray]:
        """The decoded frames of this render made through YUV frames, then through RGB frames."""
        monkeypatch.setenv(LAYOUT_ENV, "yuv420p")  # on a CPU the default is RGB (ffmpeg converts for less)
        yuv = render(script, dataclasses.replace(settings, output={**output, "file": tmp_path / f"{name}-yuv.mp4"}))
        monkeypatch.setenv(LAYOUT_ENV, "rgb24")
        rgb = render(script, dataclasses.replace(settings, output={**output, "file": tmp_path / f"{name}-rgb.mp4"}))
        assert json.loads(yuv.sidecar.read_text())["frame_layout"] == "yuv420p"
        assert json.loads(rgb.sidecar.read_text())["frame_layout"] == "rgb24"
        return np.stack(list(read_frames(yuv.output))), np.stack(list(read_frames(rgb.output)))

    source = render(script, dataclasses.replace(settings, output={"file": tmp_path / "frames", "format": "png"}))
    frames = np.stack([np.asarray(Image.open(p)) for p in sorted(source.output.glob("*.png"))])
    # Lossless: the two videos differ only by the conversion's odd level of Y, U or V.
    a, b = both("lossless", crf=0)
    assert a.shape == b.shape == frames.shape == (37, 64, 64, 3)
    # (a level of U is 2.3 levels of B, one of Y 1.2 of each channel)
    assert np.abs(a.astype(int) - b).max() <= 4 and min(psnr(x, y) for x, y in zip(a, b, strict=True)) >= 50
    # The default crf 18: each path is as close to the generator's frames as the other.
    a, b = both("crf18")
    quality_yuv, quality_rgb = (np.mean([psnr(x, f) for x, f in zip(v, frames, strict=True)]) for v in (a, b))
    assert quality_yuv == pytest.approx(quality_rgb, abs=0.3) and quality_yuv > 30  # the trained demo: 33.9 dB


def test_odd_sizes_keep_the_rgb_path_and_its_padding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(LAYOUT_ENV, "yuv420p")
    script = load_script(write_script(tmp_path, "demo", extra="size = [46, 33]", output='even_size = "pad"'))
    result = render(script, RenderSettings(device="cpu"))
    info = probe(result.output)
    assert (info.width, info.height, info.num_frames) == (46, 34, 37)
    assert json.loads(result.sidecar.read_text())["frame_layout"] == "rgb24"


def test_frames_go_as_yuv_where_an_accelerator_converts_them(tmp_path: Path) -> None:
    pipeline, _ = demo_frames(tmp_path, 2)
    on_gpu = SimpleNamespace(converts_on_device=True, G=SimpleNamespace(device=torch.device("cuda")))
    resized_on_gpu = SimpleNamespace(converts_on_device=False, G=SimpleNamespace(device=torch.device("cuda")))
    assert frame_layout("yuv420p", on_gpu, {}) == "yuv420p"  # type: ignore[arg-type]
    assert frame_layout("rgb24", on_gpu, {}) == "rgb24"  # type: ignore[arg-type]
    assert frame_layout("yuv420p", resized_on_gpu, {}) == "rgb24"  # type: ignore[arg-type]
    assert frame_layout("yuv420p", pipeline, {}) == "rgb24"  # a CPU: ffmpeg's scaler is cheaper
    assert frame_layout("yuv420p", on_gpu, {LAYOUT_ENV: "rgb24"}) == "rgb24"  # type: ignore[arg-type]
    assert frame_layout("yuv420p", pipeline, {LAYOUT_ENV: "yuv420p"}) == "yuv420p"
    assert frame_layout("rgb24", pipeline, {LAYOUT_ENV: "yuv420p"}) == "rgb24"
