"""Preview: low-resolution synthesis from the skip outputs, contact sheets, track plots and drafts."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from renderer import load_generator
from renderer.errors import UsageError
from renderer.frames.images import contact_sheet, to_uint8
from renderer.frames.latents import build_timeline
from renderer.frames.pipeline import FramePipeline, resize_frame
from renderer.jobs.preview import (
    PreviewSettings,
    camera_curves,
    default_resolution,
    draft_frames,
    latent_speed,
    preview,
    sheet_frames,
    track_plot_data,
)
from renderer.jobs.stills import load_animation
from renderer.models.demo import build_demo
from renderer.models.stylegan2 import Generator, GeneratorConfig
from renderer.output.ffmpeg import probe, read_frames
from renderer.output.plots import TrackPlotData, plot_tracks
from renderer.plan.script import load_script
from tests.test_cli import assert_one_line_error, invoke
from tests.test_render import psnr, write_script, write_tone

REPO = Path(__file__).resolve().parents[1]


def intermediate_rgb(G: Generator, ws: torch.Tensor, level: int) -> torch.Tensor:
    """The RGB image accumulated after block `level` of a full synthesis, caught with a hook."""
    caught: list[torch.Tensor] = []
    block = getattr(G.synthesis, f"b{level}")
    handle = block.register_forward_hook(lambda _m, _i, out: caught.append(out[1].clone()))
    try:
        full = G.synthesis(ws)
    finally:
        handle.remove()
    assert full.shape[-1] == G.img_resolution  # the full synthesis really ran to the top
    return caught[0]


@pytest.mark.parametrize("level", [4, 16, 64, 128])
def test_stopping_early_gives_the_full_synthesis_intermediate_rgb(level: int) -> None:
    G = build_demo("demo")
    ws = G.mapping(torch.from_numpy(np.random.RandomState(5).randn(2, G.z_dim)).float(), truncation_psi=0.7)
    early = G.synthesis(ws, max_resolution=level)
    assert early.shape == (2, 3, level, level)
    torch.testing.assert_close(early, intermediate_rgb(G, ws, level), rtol=0, atol=0)


def test_early_stop_on_a_reference_checkpoint(fixtures: Path) -> None:
    G = load_generator(fixtures / "nvidia_base.pkl")
    ws = torch.from_numpy(np.load(fixtures / "ref_nvidia_base.npz")["ws_psi0_7"])
    for level in (8, 16):
        torch.testing.assert_close(G.synthesis(ws, max_resolution=level), intermediate_rgb(G, ws, level), rtol=0, atol=0)
    torch.testing.assert_close(G.synthesis(ws, max_resolution=32), G.synthesis(ws), rtol=0, atol=0)


def test_a_preview_frame_looks_like_the_full_frame_downscaled() -> None:
    """The preview is the full image without the top levels' detail: far closer to its own frame
    downscaled than to another seed's. The figures are printed (-s); with the demo model's random
    fine levels they are lower than a trained model's, whose top levels add only fine detail."""
    G = build_demo("demo")
    ws = G.mapping(torch.from_numpy(np.random.RandomState(9).randn(4, G.z_dim)).float(), truncation_psi=0.7)
    full = to_uint8(G.synthesis(ws)).numpy()
    for level in (64, 128):
        early = to_uint8(G.synthesis(ws, max_resolution=level)).numpy()
        shrunk = np.stack([cv2.resize(f, (level, level), interpolation=cv2.INTER_AREA) for f in full])
        own = psnr(early, shrunk)
        other = max(psnr(early[i], shrunk[j]) for i in range(4) for j in range(4) if i != j)  # best wrong match
        own_each = min(psnr(early[i], shrunk[i]) for i in range(4))
        print(f"demo model, preview at {level} px vs the 256 px frame area-downscaled: PSNR {own:.1f} dB "
              f"(worst frame {own_each:.1f} dB; best wrong seed {other:.1f} dB)")
        assert own_each >= 22.0
        for i in range(4):  # each preview is recognisably its own frame, not a neighbour's
            assert psnr(early[i], shrunk[i]) > max(psnr(early[i], shrunk[j]) for j in range(4) if j != i) + 3.0


@pytest.mark.parametrize("architecture", ["orig", "resnet"])
def test_other_architectures_render_in_full_and_downscale(architecture: str) -> None:
    config = GeneratorConfig(z_dim=8, w_dim=8, img_resolution=32, channels={4: 8, 8: 8, 16: 8, 32: 8},
                             mapping_layers=2, architecture=architecture)
    torch.manual_seed(0)
    G = Generator(config)
    ws = G.mapping(torch.randn(1, 8))
    with pytest.raises(ValueError, match="no RGB below"):
        G.synthesis(ws, max_resolution=16)
    assert not G.synthesis.has_intermediate_rgb


def test_a_pipeline_falls_back_to_downscaling_without_skip_outputs(tmp_path: Path) -> None:
    config = GeneratorConfig(z_dim=8, w_dim=8, img_resolution=32, channels={4: 8, 8: 8, 16: 8, 32: 8},
                             mapping_layers=2, architecture="resnet")
    torch.manual_seed(0)
    G = Generator(config)
    script = load_script(_write(tmp_path, "demo"))
    timeline = build_timeline(script, G)
    low = FramePipeline(timeline, G, batch_size=2, resolution=16)
    full = FramePipeline(timeline, G, batch_size=2)
    assert not low.stops_early
    frames = np.concatenate(list(low.frames(0, 4)))
    expected = np.stack([resize_frame(f, 16) for f in np.concatenate(list(full.frames(0, 4)))])
    assert frames.shape == (4, 16, 16, 3)
    np.testing.assert_array_equal(frames, expected)


HOLD_THEN_MOVE = """
[[keyframes]]
time = 0
seed = 1
psi = 0.7

[[keyframes]]
time = "1s"
seed = 1

[[keyframes]]
time = "2s"
seed = 4
psi = 0.5
"""


def _write(folder: Path, model: str, *, extra: str = "", output: str = "") -> Path:
    """clip.toml at 12 fps and 120 bpm: seed 1 held for a second, then a move to seed 4."""
    return write_script(folder, model, extra=f"bpm = 120\n{extra}", output=output, keyframes=HOLD_THEN_MOVE)


def test_frames_at_matches_the_full_sequence(tmp_path: Path) -> None:
    script = load_script(_write(tmp_path, "demo"))
    G, timeline = load_animation(script)
    pipeline = FramePipeline(timeline, G, batch_size=1, resolution=32)
    every = np.concatenate(list(pipeline.frames(0, script.num_frames)))
    picked = np.array([0, 3, 4, 11, 24])
    for batch_size in (1, 2, 4):
        pipeline.batch_size = batch_size
        batches = list(pipeline.frames_at(picked))
        assert [len(b) for b in batches][:-1] == [batch_size] * (len(batches) - 1)  # full batches however sparse
        np.testing.assert_allclose(np.concatenate(batches), every[picked], atol=1)
    with pytest.raises(ValueError, match="increasing"):
        next(pipeline.frames_at(np.array([4, 3])))


def test_sheet_frames_hold_keyframes_and_evenly_spread_in_betweens(tmp_path: Path) -> None:
    script = load_script(_write(tmp_path, "demo"))
    assert sheet_frames(script, 0) == [(0, 0), (12, 1), (24, 2)]
    assert sheet_frames(script, 3) == [(0, 0), (3, None), (6, None), (9, None), (12, 1),
                                       (15, None), (18, None), (21, None), (24, 2)]
    looped = load_script(_write(tmp_path, "demo", extra="[path]\nloop = true"))
    tiles = sheet_frames(looped, 1)
    assert tiles[-1] == (30, None)  # the loop's last segment runs from the last key back to the first
    assert [f for f, _ in tiles] == sorted({f for f, _ in tiles})


def test_draft_frames_take_times_in_script_units(tmp_path: Path) -> None:
    script = load_script(_write(tmp_path, "demo"))
    np.testing.assert_array_equal(draft_frames(script, every=1, start=None, end=None), np.arange(25))
    np.testing.assert_array_equal(draft_frames(script, every=4, start="0.5", end="2b"), [6, 10])
    np.testing.assert_array_equal(draft_frames(script, every=5, start="3f", end="99s"), [3, 8, 13, 18, 23])
    with pytest.raises(UsageError, match="empty"):
        draft_frames(script, every=1, start="2s", end="1s")
    with pytest.raises(UsageError, match="start"):
        draft_frames(script, every=1, start="soon", end=None)


def test_latent_speed_is_the_step_between_truncated_ws(tmp_path: Path) -> None:
    script = load_script(_write(tmp_path, "demo", extra='[path]\ninterpolation = "pchip"'))
    G, timeline = load_animation(script)
    pipeline = FramePipeline(timeline, G, batch_size=1)
    speed = latent_speed(pipeline, span=7)  # spans that do not divide the video: steps across edges count
    ws = torch.cat([pipeline.ws(c) for c in timeline.chunks(100)])
    expected = (ws[1:] - ws[:-1]).norm(dim=-1).square().mean(dim=-1).sqrt().numpy()
    assert speed.shape == (script.num_frames - 1,)
    np.testing.assert_allclose(speed, expected, rtol=1e-5, atol=1e-6)
    assert np.all(speed[:12] < 1e-6)  # keyframes 0 and 1 share a seed and psi: the path holds still
    assert np.all(speed[12:] > 1e-3)


def test_preview_writes_a_sheet_a_plot_and_a_draft_with_audio(tmp_path: Path) -> None:
    song = write_tone(tmp_path / "song.wav", 4.0)
    script = load_script(_write(tmp_path, "demo", output=f'audio = "{song.name}"\naudio_offset = 0.5'))
    out = tmp_path / "out"
    out.mkdir()
    result = preview(script, out, PreviewSettings(resolution=32, between=2, every=2, start="0.5s", device="cpu"))
    assert result.stops_early and result.resolution == 32 and result.model_resolution == 256
    assert result.sheet == out / "clip.sheet.png" and result.plot == out / "clip.tracks.png"
    sheet = np.asarray(Image.open(result.sheet))
    assert sheet.shape[1] > 3 * 32 and sheet.shape[0] > 2 * 32  # 3 columns (key + 2 in-betweens), 3 rows
    assert Image.open(result.plot).size[0] >= 800
    info = probe(result.draft)
    assert (info.width, info.height, info.fps, info.num_frames) == (32, 32, 6.0, 10)  # frames 6, 8, ..., 24
    assert info.audio_codec == "aac"
    assert info.duration == pytest.approx(10 / 6, abs=0.1)
    pipeline = FramePipeline(*reversed(load_animation(script)), batch_size=4, resolution=32)
    expected = np.concatenate(list(pipeline.frames_at(np.arange(6, 25, 2))))
    decoded = np.stack(list(read_frames(result.draft)))
    assert psnr(decoded, expected) >= 26  # crf 26 at 32 px
    assert not list(out.glob(".*"))  # no temporary files left behind


def test_preview_defaults_beside_the_script(tmp_path: Path) -> None:
    script = load_script(_write(tmp_path, "demo"))
    result = preview(script, settings=PreviewSettings(draft=False, plot=False, device="cpu"))
    assert result.sheet == tmp_path / "clip.sheet.png" and result.draft is None and result.plot is None
    assert result.resolution == 128  # min(256, half of the 256 px model)


def test_default_resolution_is_at_most_256_and_half_the_model() -> None:
    G = build_demo("demo")
    assert default_resolution(G) == 128
    small = Generator(GeneratorConfig(z_dim=8, w_dim=8, img_resolution=8, channels={4: 4, 8: 4}, mapping_layers=1))
    assert default_resolution(small) == 4


def test_contact_sheet_widens_cells_for_long_captions() -> None:
    tiles = [np.full((16, 16, 3), v, np.uint8) for v in (50, 100, 150)]
    sheet = contact_sheet(tiles, [["a"], ["a very long caption line"], ["b"]], columns=3, highlight=[True])
    assert sheet.shape[1] > 3 * (16 + 12)
    with pytest.raises(ValueError, match="captions"):
        contact_sheet(tiles, [["a"]], columns=3)


def test_the_track_plot_needs_matplotlib(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = TrackPlotData(time=np.arange(5) / 5, psi=np.ones(5, np.float32), latent_speed=np.zeros(4, np.float32),
                         key_times=[0.0], key_labels=["#0"])
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(UsageError, match=r"stylegan-renderer\[preview\]"):
        plot_tracks(data, tmp_path / "t.png")
    assert not (tmp_path / "t.png").exists()


def test_cli_preview_prints_its_outputs(tmp_path: Path) -> None:
    script = _write(tmp_path, "demo")
    result = invoke("preview", str(script), "-o", str(tmp_path), "--res", "16", "--no-plot", "--every", "3", "--quiet")
    assert result.exit_code == 0, result.output
    assert result.stdout.split() == [str(tmp_path / "clip.sheet.png"), str(tmp_path / "clip.draft.mp4")]
    assert probe(tmp_path / "clip.draft.mp4").num_frames == 9


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--every", "0"], "every must be >= 1"),
        (["--res", "100"], "resolution must be a power of two"),
        (["--res", "0"], "resolution must be a power of two"),
        (["--res", "512"], "above the model"),
        (["--no-sheet", "--no-plot", "--no-draft"], "nothing to make"),
        (["--start", "3s", "--end", "1s"], "empty"),
        (["-o", "{tmp}/clip.toml/folder"], "clip.toml/folder: cannot create the folder"),  # under a file
    ],
)
def test_cli_preview_errors_are_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    script = _write(tmp_path, "demo")
    result = invoke("preview", str(script), "--quiet", *[a.format(tmp=tmp_path) for a in args])
    assert_one_line_error(result, 1 if "cannot create" in message else 2, message)
    assert not list(tmp_path.glob("clip.*.png"))


def test_a_loops_last_in_betweens_wrap_to_the_first_key(tmp_path: Path) -> None:
    keys = '[[keyframes]]\ntime = "1s"\nseed = 1\n[[keyframes]]\ntime = "2s"\nseed = 2\n'
    script = load_script(write_script(tmp_path, "demo", extra="duration = \"3s\"\n[path]\nloop = true", keyframes=keys))
    assert script.num_frames == 36
    tiles = sheet_frames(script, 3)
    assert tiles[4:] == [(24, 1), (30, None), (0, None), (6, None)]  # 24 -> 48 (frame 12, a period on)


def test_the_draft_keeps_temporal_smoothing_when_it_draws_every_frame(tmp_path: Path) -> None:
    script = load_script(_write(tmp_path, "demo", output="temporal_blur = 2"))
    result = preview(script, tmp_path, PreviewSettings(resolution=32, sheet=False, plot=False, device="cpu"))
    assert result.notes == ()
    G, timeline = load_animation(script)
    smoothed = np.concatenate(list(FramePipeline(timeline, G, batch_size=4, resolution=32, temporal_blur=2).frames(0, 25)))
    # The draft is a lossy H.264 encode: 29.5 dB on the trained demo faces (sharper edges than the
    # old colour fields' 30+), so the bound allows the codec's loss.
    assert psnr(np.stack(list(read_frames(result.draft))), smoothed) >= 28
    skipping = preview(script, tmp_path, PreviewSettings(resolution=32, sheet=False, plot=False, every=2, device="cpu"))
    assert any("temporal_blur" in note for note in skipping.notes)


def test_without_matplotlib_the_plot_is_skipped_or_refused_before_any_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    script = load_script(_write(tmp_path, "demo"))
    result = preview(script, tmp_path, PreviewSettings(resolution=16, every=6, device="cpu"))
    assert result.plot is None and result.sheet and result.draft
    assert any("matplotlib" in note for note in result.notes)
    out = tmp_path / "refused"
    out.mkdir()
    with pytest.raises(UsageError, match="needs matplotlib"):
        preview(script, out, PreviewSettings(resolution=16, plot=True, device="cpu"))
    assert list(out.iterdir()) == []


def test_cli_notes_keep_their_brackets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    result = invoke("preview", str(_write(tmp_path, "demo")), "--res", "16", "--no-draft")
    assert result.exit_code == 0, result.output
    assert "stylegan-renderer[preview]" in result.stderr


def test_grid_columns_widen_to_their_labels() -> None:
    from renderer.frames.images import image_grid

    tiles = [[np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8, 3), np.uint8)]]
    plain = image_grid(tiles)
    labelled = image_grid(tiles, column_labels=["target", "reconstruction (31.7 dB)"])
    assert plain.shape[1] == 2 * (8 + 4) + 4  # no labels: the tiles set the width
    assert labelled.shape[1] > 2 * 100  # each column as wide as the longer label


def test_a_keyframe_at_the_end_time_is_shown_by_the_last_frame(tmp_path: Path) -> None:
    from tests.test_script import END_ON_THIRD

    path = tmp_path / "end.toml"
    path.write_text(END_ON_THIRD)
    script = load_script(path)
    tiles = sheet_frames(script, between=1)
    assert max(frame for frame, _ in tiles) == script.num_frames - 1
    result = preview(script, tmp_path, PreviewSettings(resolution=16, device="cpu", plot=False))
    assert result.sheet is not None and result.sheet.exists()


def test_the_track_plot_shows_the_camera_when_it_moves(tmp_path: Path) -> None:
    script = load_script(Path(__file__).parents[1] / "examples" / "widescreen.toml")
    G, timeline = load_animation(script)
    data = track_plot_data(script, FramePipeline(timeline, G, batch_size=1))
    labels = [label for label, _ in data.camera]
    assert labels == ["zoom", "pan x", "pan y"]
    zoom, pan_x = data.camera[0][1], data.camera[1][1]
    np.testing.assert_allclose(zoom, timeline.tracks["zoom"](np.arange(script.num_frames)).ravel())
    assert zoom[0] == pytest.approx(1.0) and zoom.max() > 1.5  # the example zooms in and back out
    assert pan_x[0] < pan_x[-1]
    with_camera, without = tmp_path / "camera.png", tmp_path / "still.png"
    plot_tracks(data, with_camera)
    plot_tracks(dataclasses.replace(data, camera=[]), without)
    assert Image.open(with_camera).height > Image.open(without).height  # one more panel


def test_a_still_camera_adds_no_panel() -> None:
    still = {"zoom": np.ones((5, 1)), "pan": np.zeros((5, 2))}
    assert camera_curves(still) == []
    moving = {"rotate": np.linspace(0, 10, 5)[:, None], "translate": np.zeros((5, 2))}
    assert [label for label, _ in camera_curves(moving)] == ["translate x", "translate y", "rotate (deg)"]
