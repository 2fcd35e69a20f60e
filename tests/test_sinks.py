"""Segment writers, joining, audio and metadata through the bundled ffmpeg (renderer.output), read back."""

from __future__ import annotations

import subprocess
import time
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from renderer.errors import EncoderError, UsageError
from renderer.output import ffmpeg as sinks
from renderer.output.ffmpeg import ffmpeg_rate, ffmpeg_tail, probe, read_frames
from renderer.output.writers import WRITERS, SegmentWriter, join_segments, open_segment, resolve_codec
from renderer.plan.encoding import OUTPUT_KINDS, EncoderSettings, OutputKind, output_kind

WIDTH, HEIGHT = 64, 48


def make_frames(num: int, start: int = 0, width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    """Deterministic uint8 [num, height, width, 3]: colour gradients, a pulsing blue, a moving square."""
    y, x = np.mgrid[0:height, 0:width]
    frames = np.empty((num, height, width, 3), np.uint8)
    for i in range(num):
        t = start + i
        frames[i, ..., 0] = x * 255 // (width - 1)
        frames[i, ..., 1] = y * 255 // (height - 1)
        frames[i, ..., 2] = int(128 + 100 * np.sin(t / 5))
        x0, y0 = (t * 3) % (width - 12), (t * 2) % (height - 12)
        frames[i, y0 : y0 + 12, x0 : x0 + 12] = 240
    return frames


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB between two uint8 images of one shape."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def open_writer(path: Path, settings: EncoderSettings | None = None, **options: Any) -> SegmentWriter:
    """A SegmentWriter for 64x48 frames at 24 fps unless options say otherwise; kind from path's suffix."""
    kind = options.pop("kind", None) or output_kind(path)
    options = {"width": WIDTH, "height": HEIGHT, "fps": 24, **options}
    return open_segment(path, kind=kind, settings=settings or EncoderSettings(), **options)


def join(segments: list[Path], output: Path, settings: EncoderSettings | None = None, **options: Any) -> Path:
    """join_segments at 24 fps unless options say otherwise, kind from output's suffix."""
    options = {"fps": 24, "settings": settings or EncoderSettings(), **options}
    return join_segments(segments, output, kind=output_kind(output), **options)


def write_segments(
    folder: Path, kind: OutputKind, counts: list[int], settings: EncoderSettings, *, fps: float = 24,
    suffix: str = ".mp4", width: int = WIDTH, height: int = HEIGHT,
) -> list[Path]:
    """Encode consecutive runs of make_frames as one segment each; returns the segment paths."""
    paths, start = [], 0
    for i, count in enumerate(counts):
        path = folder / f"segment{i}{suffix}"
        with open_writer(path, settings, kind=kind, fps=fps, width=width, height=height) as writer:
            writer.write(make_frames(count, start, width, height))
        paths.append(path)
        start += count
    return paths


def closest_frames(decoded: np.ndarray, expected: np.ndarray) -> list[int]:
    """For each decoded frame, the index of the expected frame it is most like (its own, when in order)."""
    diff = decoded[:, None].astype(np.float64) - expected[None].astype(np.float64)
    return [int(i) for i in np.argmin(np.mean(diff**2, axis=(2, 3, 4)), axis=1)]


def top_level_atoms(path: Path) -> list[str]:
    """Types of the top-level boxes of an MP4 file, in file order."""
    data, atoms, pos = path.read_bytes(), [], 0
    while pos + 8 <= len(data):
        size, kind = int.from_bytes(data[pos : pos + 4], "big"), data[pos + 4 : pos + 8].decode("latin-1")
        if size == 1:
            size = int.from_bytes(data[pos + 8 : pos + 16], "big")
        elif size == 0:
            size = len(data) - pos
        assert size >= 8, f"malformed box {kind!r} at byte {pos}"
        atoms.append(kind)
        pos += size
    return atoms


def write_wav(path: Path, *, seconds: float, silent_until: float, rate: int = 22050) -> Path:
    """Mono 16-bit WAV: silence, then a 440 Hz tone from silent_until seconds on."""
    t = np.arange(int(seconds * rate)) / rate
    samples = np.where(t >= silent_until, 0.5 * np.sin(2 * np.pi * 440 * t), 0.0)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes((samples * 32767).astype("<i2").tobytes())
    return path


def decode_audio(path: Path, rate: int = 8000) -> np.ndarray:
    """The first audio stream of path as float mono samples in [-1, 1] at rate Hz."""
    raw = subprocess.run(
        [sinks.ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-i", str(path), "-map", "0:a:0",
         "-f", "s16le", "-ac", "1", "-ar", str(rate), "-"],
        capture_output=True, check=True,
    ).stdout
    return np.frombuffer(raw, "<i2") / 32768.0


def rms(samples: np.ndarray, start: float, stop: float, rate: int = 8000) -> float:
    """Root-mean-square level of samples between start and stop seconds."""
    return float(np.sqrt(np.mean(samples[int(start * rate) : int(stop * rate)] ** 2)))


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll condition until it holds (or fail the test after timeout seconds)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


@pytest.mark.parametrize(
    ("name", "kind"),
    [("a.mp4", "mp4"), ("a.MOV", "mp4"), ("a.m4v", "mp4"), ("a.webm", "webm"), ("a.gif", "gif"),
     ("frames", "png")],
)
def test_output_kind_follows_the_extension(name: str, kind: str) -> None:
    assert output_kind(name) == kind


def test_every_output_kind_has_one_writer_registered_under_its_name() -> None:
    assert sorted(WRITERS) == sorted(OUTPUT_KINDS)
    for kind, writer in WRITERS.items():
        assert writer.kind == kind


def test_output_kind_treats_an_existing_folder_as_png_frames(tmp_path: Path) -> None:
    folder = tmp_path / "render.v2"
    folder.mkdir()
    assert output_kind(folder) == "png"


def test_output_kind_rejects_other_extensions_listing_the_supported_ones() -> None:
    with pytest.raises(UsageError, match=r"\.avi.*\.mp4.*\.webm.*\.gif.*folder") as info:
        output_kind("clip.avi")
    assert info.value.exit_code == 2 and "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"codec": "av1"}, "h264, h265, h264-nvenc, h265-nvenc, vp9"),
        ({"crf": 52}, "0 to 51"),
        ({"crf": -1}, "0 to 51"),
        ({"crf": 18.5}, "0 to 51"),
        ({"preset": "p4"}, "preset"),
        ({"even_size": "crop"}, "even_size"),
        ({"audio_bitrate": "loud"}, "bitrate"),
    ],
)
def test_settings_reject_bad_values_naming_the_choices(kwargs: dict, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        EncoderSettings(**kwargs)


def test_ffmpeg_rate_uses_ntsc_rationals_and_exact_fractions() -> None:
    assert [ffmpeg_rate(f) for f in (24, 30000 / 1001, 29.97, 24000 / 1001, 59.94, 12.5, 30.0)] == [
        "24", "30000/1001", "30000/1001", "24000/1001", "60000/1001", "25/2", "30",
    ]
    with pytest.raises(ValueError):
        ffmpeg_rate(0)


def test_ffmpeg_tail_keeps_the_cause_and_drops_the_cascade() -> None:
    stderr = (
        "[libx264 @ 0x5617ae797180] width not divisible by 2 (65x48)\n"
        "[vost#0:0/libx264 @ 0x5617ae796580] [enc:libx264 @ 0x5617ae797080] Error while opening encoder\n"
        "[vf#0:0 @ 0x5617ae797bc0] Task finished with error code: -542398533 (Generic error)\n"
        "[vf#0:0 @ 0x5617ae797bc0] Terminating thread with return code -542398533 (Generic error)\n"
        "[out#0/mp4 @ 0x5617ae795840] Nothing was written into output file, because at least one ...\n"
        "Conversion failed!\n"
    )
    assert ffmpeg_tail(stderr) == "[libx264] width not divisible by 2 (65x48)"
    assert ffmpeg_tail("a\nb\n\nc\r\nd\n", lines=2) == "c | d"


def test_h264_segments_join_into_a_faststart_mp4_with_every_frame(tmp_path: Path) -> None:
    settings = EncoderSettings()
    segments = write_segments(tmp_path, "mp4", [20, 16], settings)
    assert top_level_atoms(segments[0]).index("mdat") < top_level_atoms(segments[0]).index("moov")
    output = join(segments, tmp_path / "out.mp4", settings, duration=36 / 24)
    info = probe(output)
    assert (info.video_codec, info.pix_fmt, info.width, info.height) == ("h264", "yuv420p", WIDTH, HEIGHT)
    assert (info.fps, info.num_frames, info.video_tag, info.audio_codec) == (24.0, 36, "avc1", None)
    assert info.duration == pytest.approx(1.5, abs=1 / 24)
    atoms = top_level_atoms(output)
    assert atoms.index("moov") < atoms.index("mdat")  # +faststart: players can start before the download ends
    decoded = np.stack(list(read_frames(output)))
    expected = make_frames(36)
    assert decoded.shape == expected.shape
    assert closest_frames(decoded, expected) == list(range(36))  # none dropped or repeated at the boundary
    assert min(psnr(d, e) for d, e in zip(decoded, expected, strict=True)) >= 30


def test_single_segment_join_keeps_title_comment_and_custom_tags(tmp_path: Path) -> None:
    settings = EncoderSettings()
    segments = write_segments(tmp_path, "mp4", [6], settings)
    metadata = {"title": "Morning walk", "comment": "seeds 1-4, psi 0.7", "seed": "4"}
    output = join(segments, tmp_path / "out.mov", settings, duration=0.25, metadata=metadata)
    info = probe(output)
    assert {k: info.metadata.get(k) for k in metadata} == metadata
    assert info.num_frames == 6
    atoms = top_level_atoms(output)
    assert atoms.index("moov") < atoms.index("mdat")


def test_standard_mp4_tags_are_written_without_switching_to_mdta_keys(tmp_path: Path) -> None:
    settings = EncoderSettings()
    segments = write_segments(tmp_path, "mp4", [4], settings)
    output = join(segments, tmp_path / "out.mp4", settings, metadata={"title": "Plain"})
    assert probe(output).metadata["title"] == "Plain"
    assert b"mdta" not in output.read_bytes()  # iTunes-style tags, which every player reads


def test_audio_is_seeked_encoded_as_aac_and_cut_to_the_video(tmp_path: Path) -> None:
    fps = 30000 / 1001
    settings = EncoderSettings()
    segments = write_segments(tmp_path, "mp4", [24, 24], settings, fps=fps)
    song = write_wav(tmp_path / "song.wav", seconds=5.0, silent_until=1.0)
    duration = 48 / fps
    output = join(segments, tmp_path / "out.mp4", settings, fps=fps, audio=song, audio_offset=1.0,
                  duration=duration)
    info = probe(output)
    assert (info.audio_codec, info.num_frames, info.fps) == ("aac", 48, pytest.approx(29.97))
    assert abs(info.duration - duration) <= 1 / fps  # the 5 s song was cut to the video
    samples = decode_audio(output)
    assert rms(samples, 0.05, 0.5) > 0.2  # the offset skipped the song's first, silent second


def test_negative_audio_offset_delays_the_audio(tmp_path: Path) -> None:
    settings = EncoderSettings()
    segments = write_segments(tmp_path, "mp4", [48], settings)
    song = write_wav(tmp_path / "song.wav", seconds=3.0, silent_until=1.0)
    output = join(segments, tmp_path / "out.mp4", settings, audio=song, audio_offset=-0.5, duration=2.0)
    samples = decode_audio(output)
    # The tone starts at 1.0 s in the song, so at 1.5 s in the video.
    assert rms(samples, 1.1, 1.4) < 0.02
    assert rms(samples, 1.6, 1.95) > 0.2
    assert abs(probe(output).duration - 2.0) <= 1 / 24


def test_missing_audio_file_is_a_usage_error_before_ffmpeg_runs(tmp_path: Path) -> None:
    settings = EncoderSettings()
    segments = write_segments(tmp_path, "mp4", [4], settings)
    with pytest.raises(UsageError, match="song.mp3") as info:
        join(segments, tmp_path / "out.mp4", settings, audio=tmp_path / "song.mp3", duration=4 / 24)
    assert info.value.exit_code == 2
    assert not (tmp_path / "out.mp4").exists()


def test_audio_file_without_sound_is_an_encoder_error_and_leaves_nothing(tmp_path: Path) -> None:
    settings = EncoderSettings()
    segments = write_segments(tmp_path, "mp4", [4], settings)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(UsageError, match=r"audio file .*segment0\.mp4 has no audio stream"):
        join(segments, out / "out.mp4", settings, audio=segments[0], duration=4 / 24)
    assert list(out.iterdir()) == []


def test_audio_file_ffmpeg_cannot_read_fails_with_ffmpegs_reason(tmp_path: Path) -> None:
    settings = EncoderSettings()
    segments = write_segments(tmp_path, "mp4", [4], settings)
    notes = tmp_path / "song.mp3"
    notes.write_text("not a song\n")
    with pytest.raises(UsageError, match=r"cannot read audio file .*song\.mp3: .*Invalid data found"):
        join(segments, tmp_path / "out.mp4", settings, audio=notes, duration=4 / 24)
    assert not (tmp_path / "out.mp4").exists()


def test_h265_is_hevc_tagged_hvc1_for_apple_players(tmp_path: Path) -> None:
    settings = EncoderSettings(codec="h265", preset="ultrafast")
    segments = write_segments(tmp_path, "mp4", [6, 6], settings)
    output = join(segments, tmp_path / "out.mp4", settings, duration=0.5)
    info = probe(output)
    assert (info.video_codec, info.video_tag, info.num_frames) == ("hevc", "hvc1", 12)


def test_webm_is_vp9_with_opus_audio_and_title(tmp_path: Path) -> None:
    settings = EncoderSettings(codec="vp9", crf=32)
    segments = write_segments(tmp_path, "webm", [6, 6], settings, suffix=".webm")
    song = write_wav(tmp_path / "song.wav", seconds=1.0, silent_until=0.0)
    output = join(segments, tmp_path / "out.webm", settings, audio=song, duration=0.5,
                  metadata={"title": "Loop"})
    info = probe(output)
    assert (info.video_codec, info.pix_fmt, info.num_frames) == ("vp9", "yuv420p", 12)
    assert info.audio_codec == "opus"
    assert info.metadata.get("title") == "Loop"


def test_vp9_cannot_go_into_mp4() -> None:
    with pytest.raises(UsageError, match="webm"):
        resolve_codec(EncoderSettings(codec="vp9"), "mp4")


def test_gif_from_two_lossless_segments_loops_forever_with_every_frame(tmp_path: Path) -> None:
    settings = EncoderSettings()
    frames = make_frames(18)
    frames[..., 2] = 128  # a steady blue, so 256 palette colours hold every frame equally well
    segments = []
    for i, (start, stop) in enumerate([(0, 10), (10, 18)]):
        with open_writer(tmp_path / f"segment{i}.mkv", settings, kind="gif", fps=20) as writer:
            writer.write(frames[start:stop])
        segments.append(writer.path)
    assert probe(segments[0]).video_codec == "ffv1"
    song = tmp_path / "ignored.wav"  # GIFs have no sound; it is not even opened
    output = join(segments, tmp_path / "out.gif", settings, fps=20, duration=0.9, audio=song)
    info = probe(output)
    assert (info.video_codec, info.width, info.height, info.num_frames) == ("gif", WIDTH, HEIGHT, 18)
    assert b"NETSCAPE2.0\x03\x01\x00\x00" in output.read_bytes()  # loop count 0: forever
    decoded = np.stack(list(read_frames(output)))
    assert closest_frames(decoded, frames) == list(range(18))
    assert min(psnr(d, e) for d, e in zip(decoded, frames, strict=True)) >= 27


def test_png_frames_are_numbered_from_first_frame_and_lossless(tmp_path: Path) -> None:
    folder = tmp_path / "frames"
    settings = EncoderSettings()
    frames = make_frames(5)
    with open_writer(folder, settings, first_frame=10) as w:
        w.write(frames[:3])
    with open_writer(folder, settings, first_frame=13) as w:
        w.write(frames[3])  # a single [H, W, 3] frame
    assert join([folder], folder, settings) == folder
    assert sorted(p.name for p in folder.iterdir()) == [f"frame{i:06d}.png" for i in range(10, 14)]
    for i, name in enumerate(sorted(folder.iterdir())):
        np.testing.assert_array_equal(np.asarray(Image.open(name)), frames[i])


def test_odd_size_is_refused_by_default_with_the_way_out(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"63x49.*yuv420p.*even_size='pad'"):
        open_writer(tmp_path / "s.mp4", width=63, height=49)
    assert list(tmp_path.iterdir()) == []


def test_odd_size_pad_adds_black_edges_without_rescaling(tmp_path: Path) -> None:
    settings = EncoderSettings(even_size="pad")
    segments = write_segments(tmp_path, "mp4", [8], settings, width=63, height=49)
    output = join(segments, tmp_path / "out.mp4", settings, duration=8 / 24)
    info = probe(output)
    assert (info.width, info.height) == (64, 50)
    decoded = np.stack(list(read_frames(output)))
    expected = make_frames(8, width=63, height=49)
    # The last original row/column shares chroma samples with the black pad, so compare inside it.
    assert min(psnr(d[:48, :62], e[:48, :62]) for d, e in zip(decoded, expected, strict=True)) >= 32
    luma = decoded.astype(np.float64) @ [0.299, 0.587, 0.114]
    # Rescaling would fill the new row/column with picture (the gradients are bright there).
    assert luma[:, 49, :].mean() < 40 and luma[:, :, 63].mean() < 40
    assert luma[:, :49, :63].mean() > 100


def test_write_rejects_frames_of_the_wrong_shape_or_type(tmp_path: Path) -> None:
    with open_writer(tmp_path / "s.mp4") as w:
        with pytest.raises(ValueError, match="uint8"):
            w.write(make_frames(2).astype(np.float32))
        with pytest.raises(ValueError, match="48, 64, 3"):
            w.write(make_frames(2, width=32))
        w.write(make_frames(2))
    assert probe(tmp_path / "s.mp4").num_frames == 2


def test_failing_ffmpeg_raises_its_reason_and_leaves_no_files(tmp_path: Path) -> None:
    settings = EncoderSettings(pix_fmt="notapixfmt")
    target = tmp_path / "s.mp4"
    reason = r"s\.mp4: .*Unknown pixel format requested: notapixfmt"
    with pytest.raises(EncoderError, match=reason) as info, open_writer(target, settings) as w:
        for start in range(0, 40, 4):
            w.write(make_frames(4, start))
    assert "\n" not in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_nvenc_is_refused_when_ffmpeg_does_not_list_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sinks, "available_encoders", lambda: frozenset({"libx264", "libx265"}))
    with pytest.raises(EncoderError, match="h264_nvenc is not available in this ffmpeg"):
        resolve_codec(EncoderSettings(codec="h264-nvenc"), "mp4")


def test_nvenc_maps_x264_presets_and_crf_to_its_own_scale(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sinks, "available_encoders", lambda: frozenset({"h264_nvenc", "hevc_nvenc"}))
    args = resolve_codec(EncoderSettings(codec="h265-nvenc", preset="slow", crf=23), "mp4")
    assert args[:2] == ["-c:v", "hevc_nvenc"]
    assert args[args.index("-preset") + 1] == "p5" and args[args.index("-cq") + 1] == "23"
    assert args[args.index("-tag:v") + 1] == "hvc1"


def test_nvenc_either_encodes_or_fails_cleanly_with_ffmpegs_reason(tmp_path: Path) -> None:
    if "h264_nvenc" not in sinks.available_encoders():
        pytest.skip("this ffmpeg has no h264_nvenc")
    settings = EncoderSettings(codec="h264-nvenc")
    try:
        segments = write_segments(tmp_path, "mp4", [8], settings)
    except EncoderError as e:  # listed, but no NVIDIA GPU/driver here
        assert "nvenc" in str(e).lower() and "\n" not in str(e)
        assert list(tmp_path.iterdir()) == []
    else:
        assert probe(segments[0]).video_codec == "h264"


def test_abort_kills_ffmpeg_and_removes_the_partial_file(tmp_path: Path) -> None:
    writer = open_writer(tmp_path / "s.mp4")
    writer.write(make_frames(30))
    wait_for(lambda: any(tmp_path.iterdir()))  # ffmpeg has created its temporary file
    writer.abort()
    writer.abort()
    assert writer._process is not None and writer._process.poll() is not None
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="aborted"):
        writer.close()


def test_exception_after_frames_were_encoded_removes_the_partial_file(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="out of memory"), open_writer(tmp_path / "s.mp4") as writer:
        writer.write(make_frames(30))
        wait_for(lambda: any(tmp_path.iterdir()))  # ffmpeg has created its temporary file
        raise RuntimeError("out of memory")
    assert list(tmp_path.iterdir()) == []


def test_ffmpeg_dying_mid_write_is_an_encoder_error_not_a_broken_pipe(tmp_path: Path) -> None:
    writer = open_writer(tmp_path / "s.mp4")
    writer.write(make_frames(2))
    assert writer._process is not None
    writer._process.kill()
    writer._process.wait()
    with pytest.raises(EncoderError, match=r"ffmpeg stopped while encoding s\.mp4"):
        writer.write(make_frames(20))  # 180 KB: more than a pipe holds, so the write must hit the dead end
    assert list(tmp_path.iterdir()) == []


def test_closing_an_empty_segment_is_an_error_and_leaves_nothing(tmp_path: Path) -> None:
    writer = open_writer(tmp_path / "s.mp4")
    with pytest.raises(EncoderError, match="no frames"):
        writer.close()
    assert list(tmp_path.iterdir()) == []


def test_missing_output_folders_are_created(tmp_path: Path) -> None:
    settings = EncoderSettings()
    with open_writer(tmp_path / "work" / "s.mp4", settings) as writer:
        writer.write(make_frames(4))
    output = join([writer.path], tmp_path / "new" / "deeper" / "out.mp4", settings, duration=4 / 24)
    assert probe(output).num_frames == 4
    with open_writer(tmp_path / "png" / "frames", settings, kind="png") as frames:
        frames.write(make_frames(2))
    assert sorted(p.name for p in (tmp_path / "png" / "frames").iterdir()) == ["frame000000.png", "frame000001.png"]


def test_an_output_folder_that_cannot_be_created_is_named_in_one_line(tmp_path: Path) -> None:
    settings = EncoderSettings()
    segments = write_segments(tmp_path, "mp4", [4], settings)
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(EncoderError, match=r"file/sub: cannot create the folder") as info:
        join(segments, blocker / "sub" / "out.mp4", settings)
    assert "\n" not in str(info.value)
    with pytest.raises(EncoderError, match=r"file/sub/s\.mp4: cannot create the folder .*file/sub"):
        open_writer(blocker / "sub" / "s.mp4", settings)
    with pytest.raises(EncoderError, match=r"file/frames: cannot create the folder"):
        open_writer(blocker / "frames", settings, kind="png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "segment0.mp4"]


def test_join_replaces_an_old_output_only_when_the_new_one_is_complete(tmp_path: Path) -> None:
    settings = EncoderSettings()
    segments = write_segments(tmp_path, "mp4", [4], settings)
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    output = tmp_path / "out.mp4"
    output.write_bytes(b"previous render")
    with pytest.raises(EncoderError, match=r"ffmpeg failed to write out\.mp4: .*broken\.mp4") as info:
        join(segments + [broken], output, settings, duration=8 / 24)
    assert "\n" not in str(info.value)
    assert output.read_bytes() == b"previous render"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.mp4", "out.mp4", "segment0.mp4"]
    join(segments, output, settings, duration=4 / 24)
    assert probe(output).num_frames == 4


def test_segment_paths_with_quotes_and_spaces_are_joined(tmp_path: Path) -> None:
    folder = tmp_path / "it's a \"test\""
    folder.mkdir()
    settings = EncoderSettings()
    segments = write_segments(folder, "mp4", [3, 3], settings)
    output = join(segments, folder / "out.mp4", settings, duration=0.25)
    assert probe(output).num_frames == 6


def test_probe_of_a_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="nothing.mp4"):
        probe(tmp_path / "nothing.mp4")


def test_encoder_threads_reach_the_software_encoders_only() -> None:
    assert resolve_codec(EncoderSettings(threads=1), "mp4")[-4:-2] == ["-threads", "1"]
    assert "-threads" not in resolve_codec(EncoderSettings(), "mp4")
    assert "-threads" in resolve_codec(EncoderSettings(threads=2), "webm")
    assert "-threads" not in resolve_codec(EncoderSettings(threads=2), "gif")
    with pytest.raises(UsageError, match="encoder threads"):
        EncoderSettings(threads=0)
