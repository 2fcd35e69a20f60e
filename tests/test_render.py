"""`render`: end to end to MP4 with audio, resume after an interrupt, determinism, clear failures."""

from __future__ import annotations

import json
import math
import struct
import wave
from pathlib import Path

import numpy as np
import pytest

from renderer import load_generator
from renderer.errors import UsageError
from renderer.frames.latents import build_timeline
from renderer.frames.pipeline import FramePipeline
from renderer.jobs.job import RenderSettings
from renderer.jobs.render import render
from renderer.output.ffmpeg import probe, read_frames
from renderer.plan.script import load_script
from tests.test_cli import assert_one_line_error, invoke


def write_tone(path: Path, seconds: float, rate: int = 22050) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        samples = (int(12000 * math.sin(2 * math.pi * 440 * i / rate)) for i in range(int(seconds * rate)))
        w.writeframes(b"".join(struct.pack("<h", s) for s in samples))
    return path


THREE_SEEDS = """
[[keyframes]]
time = 0
seed = 1
psi = 0.7

[[keyframes]]
time = "1.5s"
seed = 2

[[keyframes]]
time = "3s"
seed = 3
"""


def write_script(
    folder: Path, model: str, *, extra: str = "", output: str = "", size: int | None = None, keyframes: str = THREE_SEEDS
) -> Path:
    """clip.toml in folder: 12 fps, segments of 1 s, the given keyframes (by default three seeds over 3 s)."""
    text = f"""
fps = 12
{f"size = {size}" if size else ""}
{extra}
[models]
base = "{model}"

[output]
segment = "1s"
{output}
{keyframes}"""
    path = folder / "clip.toml"
    path.write_text(text)
    return path


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * math.log10(255**2 / mse)


def expected_frames(script_path: Path) -> np.ndarray:
    script = load_script(script_path)
    G = load_generator(script.base_model)
    pipeline = FramePipeline(build_timeline(script, G), G, batch_size=8, size=script.size)
    return np.concatenate(list(pipeline.frames(0, script.num_frames)))


def test_renders_an_mp4_with_audio_that_decodes_to_the_generators_frames(fixtures: Path, tmp_path: Path) -> None:
    model = (fixtures / "nvidia_base.pkl").as_posix()
    write_tone(tmp_path / "song.wav", 6.0)
    script = write_script(tmp_path, model, size=64, output='audio = "song.wav"\naudio_offset = 0.5\ntitle = "fixture clip"')
    result = render(load_script(script), RenderSettings(device="cpu"))
    assert result.output == tmp_path / "clip.mp4" and result.output.exists()
    info = probe(result.output)
    assert (info.video_codec, info.pix_fmt, info.width, info.height) == ("h264", "yuv420p", 64, 64)
    assert info.fps == pytest.approx(12) and info.num_frames == 37 and info.audio_codec == "aac"
    assert info.duration == pytest.approx(37 / 12, abs=0.1)  # the audio is cut to the video
    assert info.metadata["title"] == "fixture clip" and "script sha256" in info.metadata["comment"]
    decoded = np.stack(list(read_frames(result.output)))
    expected = expected_frames(script)
    scores = [psnr(d, e) for d, e in zip(decoded, expected, strict=True)]
    assert min(scores) >= 30, f"PSNR per frame: min {min(scores):.1f} dB"
    sidecar = json.loads(result.sidecar.read_text())
    assert sidecar["frames"] == 37 and sidecar["fps"] == 12 and sidecar["size"] == [64, 64]
    assert sidecar["checkpoints"][0]["sha256"] == __import__("hashlib").sha256((fixtures / "nvidia_base.pkl").read_bytes()).hexdigest()
    assert sidecar["encoder"]["crf"] == 18 and sidecar["versions"]["torch"] and "generate_s" in sidecar["timings"]
    assert not (tmp_path / ".clip.mp4.parts").exists()  # the work folder is cleaned up


def test_an_interrupted_render_resumes_to_the_same_video(tmp_path: Path) -> None:
    script_path = write_script(tmp_path, "demo", size=64)
    script = load_script(script_path)
    # Batching moves a few pixels by one level, so the reference uses the interrupted render's.
    reference = render(script, RenderSettings(device="cpu", batch_size=2, output={"file": tmp_path / "whole.mp4"}))
    assert reference.segments_rendered == 3  # 12, 12 and 13 frames: the 1-frame tail joins the last

    def interrupt_in_third_segment(p) -> None:
        if p.frames_done >= 26:
            raise KeyboardInterrupt

    target = tmp_path / "clip.mp4"
    with pytest.raises(KeyboardInterrupt):
        render(script, RenderSettings(device="cpu", batch_size=2), progress=interrupt_in_third_segment)
    assert not target.exists()  # no partial output at the output path
    manifest = json.loads((tmp_path / ".clip.mp4.parts" / "manifest.json").read_text())
    assert sorted(manifest["segments"]) == ["0", "1"]
    leftovers = [p.name for p in (tmp_path / ".clip.mp4.parts").iterdir()]
    assert sorted(leftovers) == ["manifest.json", "segment00000.mp4", "segment00001.mp4"]

    # Another batch size would change pixels in the segments still to come: refused, naming both.
    with pytest.raises(UsageError, match=r"batching \(batch_size 2 device cpu then, batch_size 3 device cpu now\)"):
        render(script, RenderSettings(device="cpu", batch_size=3, resume=True))
    # Naming none, the resume takes the partial render's batch size.
    resumed = render(script, RenderSettings(device="cpu", resume=True))
    assert (resumed.segments_reused, resumed.segments_rendered) == (2, 1)
    a, b = list(read_frames(reference.output)), list(read_frames(resumed.output))
    assert len(a) == len(b) == 37 and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert json.loads(resumed.sidecar.read_text())["batch_size"] == 2


def test_resume_refuses_a_changed_script(tmp_path: Path) -> None:
    script_path = write_script(tmp_path, "demo", size=64)

    def stop(p) -> None:
        if p.frames_done >= 14:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        render(load_script(script_path), RenderSettings(device="cpu"), progress=stop)
    script_path.write_text(script_path.read_text().replace("seed = 3", "seed = 4"))
    with pytest.raises(UsageError, match="cannot resume: keyframes, script changed"):
        render(load_script(script_path), RenderSettings(device="cpu", resume=True))
    with pytest.raises(UsageError, match="nothing to resume"):
        render(load_script(script_path), RenderSettings(device="cpu", resume=True, output={"file": tmp_path / "other.mp4"}))


def test_the_same_script_gives_identical_frames_twice(tmp_path: Path) -> None:
    script = write_script(tmp_path, "demo", size=64, extra="", output="temporal_blur = 1.0\nblur = 0.7")
    first, second = expected_frames(script), expected_frames(script)
    assert np.array_equal(first, second)
    a = render(load_script(script), RenderSettings(device="cpu", output={"file": tmp_path / "a"}))
    b = render(load_script(script), RenderSettings(device="cpu", output={"file": tmp_path / "b"}))
    frames_a, frames_b = sorted(a.output.glob("*.png")), sorted(b.output.glob("*.png"))
    assert [p.name for p in frames_a][:2] == ["frame000000.png", "frame000001.png"] and len(frames_a) == 37
    assert all(x.read_bytes() == y.read_bytes() for x, y in zip(frames_a, frames_b, strict=True))


def test_temporal_blur_is_the_same_whatever_the_segments(tmp_path: Path) -> None:
    script = load_script(write_script(tmp_path, "demo", size=32, output="temporal_blur = 1.5"))
    G = load_generator("demo")
    pipeline = FramePipeline(build_timeline(script, G), G, batch_size=3, size=32, temporal_blur=1.5)
    whole = np.concatenate(list(pipeline.frames(0, 37)))
    pieces = np.concatenate([np.concatenate(list(pipeline.frames(a, min(a + 7, 37)))) for a in range(0, 37, 7)])
    assert np.array_equal(whole, pieces)
    raw = np.concatenate(list(FramePipeline(pipeline.timeline, G, batch_size=3, size=32).frames(0, 37)))
    from scipy.ndimage import gaussian_filter1d

    reference = np.rint(gaussian_filter1d(raw.astype(np.float64), 1.5, axis=0, mode="nearest"))
    assert np.abs(whole - reference).max() <= 1 and np.abs(whole.astype(int) - raw).mean() > 0.5


def test_cli_render_prints_the_output_and_json(tmp_path: Path) -> None:
    script = write_script(tmp_path, "demo", size=32)
    result = invoke("render", script, "-o", tmp_path / "out.mp4", "--device", "cpu", "--quiet", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["frames"] == 37 and summary["output"] == str(tmp_path / "out.mp4")
    assert probe(tmp_path / "out.mp4").num_frames == 37


def test_cli_render_failures_are_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = write_script(tmp_path, "demo", size=33)
    assert_one_line_error(invoke("render", script, "--device", "cpu", "-q"), 2, "33")
    script = write_script(tmp_path, "demo", size=32)
    assert_one_line_error(invoke("render", script, "-o", tmp_path / "x.avi", "-q"), 2, "unsupported output type")
    blocker = tmp_path / "no"
    blocker.write_text("a file, not a folder")
    assert_one_line_error(invoke("render", script, "-o", blocker / "such" / "x.mp4", "-q"), 1, "no", "cannot create")
    assert_one_line_error(invoke("render", script, "--audio", tmp_path / "none.wav", "-q"), 2, "none.wav")
    assert_one_line_error(invoke("render", script, "--batch-size", "lots", "-q"), 2, "batch size")
    assert_one_line_error(invoke("render", script, "--crf", "60", "-q"), 2, "crf")
    bad_audio = tmp_path / "bad.toml"
    bad_audio.write_text(script.read_text().replace('segment = "1s"', 'segment = "1s"\naudio = "missing.wav"'))
    assert_one_line_error(invoke("render", bad_audio, "-q"), 2, "output.audio", "missing.wav")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("renderer.render", interrupted)  # what the CLI calls
    result = invoke("render", script, "-q")
    # Interrupted before anything was rendered: no resume hint, since there is nothing to resume.
    assert result.exit_code == 130 and "--resume" not in result.stderr and "Traceback" not in result.output
    (tmp_path / ".clip.mp4.parts").mkdir()
    (tmp_path / ".clip.mp4.parts" / "manifest.json").write_text('{"key": {}, "segments": {}}')
    result = invoke("render", script, "-q")
    assert result.exit_code == 130 and "--resume" in result.stderr  # a partial render is there


def test_segment_plan_covers_every_frame_once_without_tiny_tails() -> None:
    from renderer.jobs.job import plan_segments

    assert plan_segments(37, 12) == [(0, 12), (12, 24), (24, 37)]
    assert plan_segments(42, 12) == [(0, 12), (12, 24), (24, 36), (36, 42)]
    assert plan_segments(5, 12) == [(0, 5)]
    for n in range(1, 60):
        plan = plan_segments(n, 8)
        assert plan[0][0] == 0 and plan[-1][1] == n
        assert all(a[1] == b[0] for a, b in zip(plan, plan[1:], strict=False))
        assert len(plan) == 1 or n - plan[-1][0] >= 4


def test_parallel_encoders_give_the_same_video(tmp_path: Path) -> None:
    script = load_script(write_script(tmp_path, "demo", size=32))
    one = render(script, RenderSettings(device="cpu", output={"file": tmp_path / "one.mp4"}))
    two = render(script, RenderSettings(device="cpu", encoders=2, output={"file": tmp_path / "two.mp4"}))
    a, b = list(read_frames(one.output)), list(read_frames(two.output))
    assert len(a) == len(b) == 37 and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def test_resume_refuses_an_edited_latent_file(tmp_path: Path) -> None:
    """The script names a .npy keyframe; its text is unchanged when the file is edited."""
    G = load_generator("demo")
    np.save(tmp_path / "key.npy", np.random.RandomState(0).randn(G.num_ws, G.w_dim))  # w+
    script_path = write_script(tmp_path, "demo", size=32)
    script_path.write_text(script_path.read_text().replace("seed = 3", 'latent = "key.npy"'))

    def stop(p) -> None:
        if p.frames_done >= 14:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        render(load_script(script_path), RenderSettings(device="cpu"), progress=stop)
    np.save(tmp_path / "key.npy", np.random.RandomState(1).randn(G.num_ws, G.w_dim))
    with pytest.raises(UsageError, match="cannot resume: keyframes changed"):
        render(load_script(script_path), RenderSettings(device="cpu", resume=True))


def test_a_one_channel_model_renders_a_grey_rgb_video(tmp_path: Path) -> None:
    import dataclasses

    from renderer.jobs.stills import save_native
    from renderer.models.stylegan2 import Generator

    config = dataclasses.replace(load_generator("demo").config, img_channels=1, img_resolution=32)
    config = dataclasses.replace(config, channels={r: c for r, c in config.channels.items() if r <= 32})
    save_native(Generator(config), tmp_path / "grey.safetensors")
    script = write_script(tmp_path, "grey.safetensors")
    result = render(load_script(script), RenderSettings(device="cpu"))
    frames = np.stack(list(read_frames(result.output)))
    assert frames.shape == (37, 32, 32, 3)
    spread = np.abs(frames[..., 0].astype(int) - frames[..., 2]).max()
    assert spread <= 8 and frames.std() > 1  # grey (up to chroma rounding), and not blank


def test_cli_quick_render_at_a_lower_level_keeps_the_full_renders_file(tmp_path: Path) -> None:
    script = write_script(tmp_path, "demo")
    result = invoke("render", str(script), "--res", "32", "--encoder-preset", "ultrafast", "--quiet")
    assert result.exit_code == 0, result.output
    quick = tmp_path / "clip.32px.mp4"
    assert result.stdout.strip() == str(quick) and not (tmp_path / "clip.mp4").exists()
    info = probe(quick)
    assert (info.width, info.height) == (32, 32)
    assert json.loads(Path(f"{quick}.json").read_text())["encoder"]["preset"] == "ultrafast"
    with pytest.raises(UsageError, match="power of two"):
        RenderSettings(resolution=0)
