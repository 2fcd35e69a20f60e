"""fit = "extend": a square StyleGAN2 synthesising a wider canvas natively, and the frames of every fit."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from renderer import load_generator
from renderer.errors import UsageError
from renderer.frames.framing import Framer, resize_image, window_image
from renderer.frames.images import to_uint8
from renderer.frames.pipeline import FramePipeline
from renderer.jobs.job import RenderSettings
from renderer.jobs.render import render
from renderer.jobs.stills import load_animation
from renderer.models.blending import alphas_to_model_weights, blend, blend_per_frame
from renderer.models.canvas import extend_canvas
from renderer.models.checkpoints import to_safetensors
from renderer.models.demo import build_demo
from renderer.models.stylegan2 import Generator, GeneratorConfig
from renderer.plan.framing import Fit, windows
from renderer.plan.script import load_script
from tests.test_render import write_script


def tiny(seed: int = 0, architecture: str = "skip") -> Generator:
    config = GeneratorConfig(z_dim=8, w_dim=8, img_resolution=32, channels={4: 8, 8: 8, 16: 8, 32: 8},
                             mapping_layers=2, architecture=architecture)  # type: ignore[arg-type]
    torch.manual_seed(seed)
    G = Generator(config)
    for layer in G._noise_layers():  # noise that shows, so a misplaced map would too
        layer.noise_strength.data.fill_(0.3)
    return G


def ws_of(G: Generator, n: int = 2, seed: int = 1) -> torch.Tensor:
    return G.mapping(torch.from_numpy(np.random.RandomState(seed).randn(n, G.z_dim)).float(), truncation_psi=0.7)


def column_jumps(image: np.ndarray) -> np.ndarray:
    """Mean absolute difference between each column and the next: [W - 1]."""
    return np.abs(np.diff(image.astype(np.float64), axis=1)).mean(axis=(0, 2))


def seam_ratio(image: np.ndarray, columns: list[int]) -> float:
    """The largest jump at the given columns (and their neighbours) over the image's typical (median) jump."""
    jumps = column_jumps(image)
    at = [jumps[c + d] for c in columns for d in (-1, 0) if 0 <= c + d < len(jumps)]
    return max(at) / np.median(jumps)


def test_a_square_grid_is_the_model_itself() -> None:
    G = tiny()
    assert extend_canvas(G, (4, 4)) is G


def test_extension_grows_every_level_and_shares_the_weights() -> None:
    G = tiny()
    E = extend_canvas(G, (4, 7))
    ws = ws_of(G)
    assert E.synthesis(ws).shape == (2, 3, 32, 56)
    for level in (4, 8, 16):
        assert E.synthesis(ws, max_resolution=level).shape == (2, 3, level, level * 7 // 4)
    assert extend_canvas(G, (9, 4)).synthesis(ws).shape == (2, 3, 72, 32)
    assert G.synthesis.b4.const.shape[-2:] == (4, 4) and G.grid == (4, 4) and E.grid == (4, 7)
    assert E.synthesis.b32.conv1.weight.data_ptr() == G.synthesis.b32.conv1.weight.data_ptr()
    # The stored maps sit where the square was (one cell = 8 px at 32 px in from the left), in
    # fixed noise: the same every call ("const" noise is constant over time).
    noise = E.synthesis.b32.conv1.noise_const
    assert noise.shape == (32, 56) and torch.equal(noise[:, 8:40], G.synthesis.b32.conv1.noise_const)
    torch.testing.assert_close(E.synthesis(ws), E.synthesis(ws), rtol=0, atol=0)
    assert E.synthesis(ws, noise_mode="random").shape == (2, 3, 32, 56)
    with pytest.raises(ValueError, match="already extended"):
        E.extended((4, 8))


@pytest.mark.parametrize("padding", ["reflect", "symmetric", "tile"])
def test_the_constant_grows_by_its_padding(padding: str) -> None:
    G = tiny()
    const = G.synthesis.b4.const
    grown = extend_canvas(G, (4, 8), padding).synthesis.b4.const
    assert torch.equal(grown[:, :, 2:6], const)
    expected = {"reflect": [2, 1, 0, 1, 2, 3, 2, 1], "symmetric": [1, 0, 0, 1, 2, 3, 3, 2], "tile": [2, 3, 0, 1, 2, 3, 0, 1]}
    assert torch.equal(grown, const[:, :, expected[padding]])


def test_blends_extend_static_and_per_frame_alike() -> None:
    base, transfer = tiny(0), tiny(1)
    ws = ws_of(base, 3)
    alphas = torch.tensor([[0.0, 0.2, 0.6, 1.0], [0.5] * 4, [1.0, 0.5, 0.0, 0.0]])
    per_frame = extend_canvas(blend_per_frame([base, transfer]), (4, 6))
    images = per_frame.synthesis(ws, model_weights=alphas_to_model_weights(alphas))
    for i in range(3):
        spec = dict(zip([4, 8, 16, 32], alphas[i].tolist(), strict=True))
        static = extend_canvas(blend(base, transfer, spec), (4, 6))
        torch.testing.assert_close(images[i : i + 1], static.synthesis(ws[i : i + 1]), rtol=0, atol=2e-5)
    # A constant blend runs the plain block with the blended, extended tensors.
    same = alphas_to_model_weights(alphas[1:2].repeat(3, 1))
    static = extend_canvas(blend(base, transfer, 0.5), (4, 6))
    torch.testing.assert_close(per_frame.synthesis(ws, model_weights=same), static.synthesis(ws), rtol=0, atol=2e-5)
    early = per_frame.synthesis(ws, model_weights=same, max_resolution=16)
    torch.testing.assert_close(early, static.synthesis(ws, max_resolution=16), rtol=0, atol=2e-5)


def test_every_checkpoint_format_extends_to_the_same_canvas(fixtures: Path, tmp_path: Path) -> None:
    native = tmp_path / "base.safetensors"
    native.write_bytes(to_safetensors(load_generator(fixtures / "nvidia_base.pkl")))
    paths = [fixtures / "nvidia_base.pkl", fixtures / "tf_base.pkl", fixtures / "rosinality_base.pt", native]
    models = [load_generator(p) for p in paths]
    ws = torch.from_numpy(np.load(fixtures / "ref_nvidia_base.npz")["ws_psi0_7"])
    images = [extend_canvas(G, (4, 6)).synthesis(ws) for G in models]
    res = models[0].img_resolution
    assert images[0].shape[-2:] == (res, res * 6 // 4)
    for image in images[1:]:
        torch.testing.assert_close(image, images[0], rtol=0, atol=1e-4)


def test_a_family_without_extension_is_refused_in_one_line() -> None:
    class Square:
        family = "stylegan3"

    with pytest.raises(UsageError, match='^stylegan3 models cannot synthesise wider canvases .*"crop", "pad" or "blur-pad"$'):
        extend_canvas(Square(), (4, 7))  # type: ignore[arg-type]
    assert extend_canvas(Square(), (4, 4)) is not None  # a square frame asks nothing of the family


def test_an_extended_picture_has_no_seams_at_the_old_square() -> None:
    """The acceptance measure: at the square's old left and right borders no column jumps more than
    3x the image's typical column difference; two squares side by side fail the same measure."""
    G = build_demo("demo")
    ws = ws_of(G, 2, seed=4)
    wide = to_uint8(extend_canvas(G, (4, 7)).synthesis(ws)).numpy()  # 256 x 448; the square at 64..320
    for image in wide:
        ratio = seam_ratio(image, [64, 320])
        print(f"demo model, 4 x 7 canvas: largest jump at the old borders / median jump = {ratio:.2f}")
        assert ratio <= 3.0
    square = to_uint8(G.synthesis(ws)).numpy()
    assert seam_ratio(np.concatenate([square[0], square[1]], axis=1), [256]) > 3.0


def test_a_square_frame_renders_as_before_with_every_fit(tmp_path: Path) -> None:
    """The square path is today's: synthesis, uint8, one OpenCV resize, whatever the fit."""
    script = load_script(write_script(tmp_path, "demo", size=48))
    G, timeline = load_animation(script, device="cpu")
    ws = FramePipeline(timeline, G, batch_size=2).ws(timeline.chunk(0, 2))
    raw = to_uint8(G.synthesis(ws, max_resolution=64)).numpy()
    expected = np.stack([cv2.resize(f, (48, 48), interpolation=cv2.INTER_AREA) for f in raw])
    for mode in ("extend", "crop", "pad", "blur-pad"):
        pipeline = FramePipeline(timeline, G, batch_size=2, size=48, resolution=64, fit=Fit(mode=mode))  # type: ignore[arg-type]
        assert np.array_equal(np.concatenate(list(pipeline.frames(0, 2))), expected), mode


def test_each_fit_fills_a_wide_frame(tmp_path: Path) -> None:
    script = load_script(write_script(tmp_path, "demo"))
    G, timeline = load_animation(script, device="cpu")
    square = np.concatenate(list(FramePipeline(timeline, G, batch_size=1, resolution=32).frames(0, 1)))[0]
    frames = {}
    for mode in ("extend", "crop", "pad", "blur-pad"):
        fit = Fit(mode=mode, color=(10, 200, 30))  # type: ignore[arg-type]
        pipeline = FramePipeline(timeline, G, batch_size=1, size=(64, 36), resolution=32, fit=fit)
        frames[mode] = np.concatenate(list(pipeline.frames(0, 1)))[0]
        assert frames[mode].shape == (36, 64, 3) and pipeline.frame_shape == (36, 64, 3)
    # crop: the middle 32 x 18 of the square (the frame's aspect), scaled to 64 x 36.
    assert np.array_equal(frames["crop"], resize_image(square[7:25], (64, 36)))
    # pad: the square at 36 px in the middle, the letterbox colour either side.
    assert np.array_equal(frames["pad"][:, 14:50], resize_image(square, (36, 36)))
    assert np.all(frames["pad"][:, :14] == (10, 200, 30)) and np.all(frames["pad"][:, 50:] == (10, 200, 30))
    # blur-pad: the same square over a smooth background of its own colours.
    assert np.array_equal(frames["blur-pad"][:, 14:50], frames["pad"][:, 14:50])
    side = frames["blur-pad"][:, :14].astype(np.float64)
    assert np.abs(np.diff(side, axis=0)).mean() < np.abs(np.diff(frames["crop"].astype(np.float64), axis=0)).mean()
    # extend: the 32 x 56 canvas (4 x 7 cells) through its 56 x 32 window, scaled to 64 x 36.
    canvas = np.concatenate(list(FramePipeline(timeline, G, batch_size=1, size=(56, 32), resolution=32).frames(0, 1)))[0]
    assert np.array_equal(frames["extend"], resize_image(canvas, (64, 36)))


def test_the_extended_canvas_keeps_the_square_in_its_middle() -> None:
    G = build_demo("demo")
    ws = ws_of(G, 2, seed=4)
    square = to_uint8(G.synthesis(ws, max_resolution=64)).numpy().astype(np.float64)
    wide = to_uint8(extend_canvas(G, (4, 7)).synthesis(ws, max_resolution=64)).numpy().astype(np.float64)
    middle = wide[:, :, 16:80]  # one cell (16 px at 64 px) in from the left
    assert np.abs(middle - square).mean() < 0.5 * np.abs(square[0] - square[1]).mean()


def test_moving_windows_glide_between_whole_pixels() -> None:
    rng = np.random.RandomState(0)
    canvas = cv2.GaussianBlur(rng.randint(0, 255, (40, 80, 3)).astype(np.uint8), (0, 0), 2)
    framer = Framer(Fit(canvas=(2, 1)), (40, 80), (40, 40))
    still = framer.frames(canvas[None])[0]
    assert np.array_equal(still, canvas[:, 20:60])
    # Sub-pixel windows land between the whole-pixel ones, and whole-pixel pans match crops.
    pans = np.array([[-1.0, 0.0], [-0.975, 0.0], [-0.95, 0.0]])  # x0 = 0, 0.5, 1 px
    a, half, b = framer.frames(np.repeat(canvas[None], 3, 0), np.ones(3), pans)
    assert np.abs(a.astype(int) - canvas[:, :40]).max() <= 1 and np.abs(b.astype(int) - canvas[:, 1:41]).max() <= 1
    between = (canvas[:, :40].astype(float) + canvas[:, 1:41]) / 2
    assert np.abs(half - between).mean() < np.abs(a.astype(float) - between).mean()
    # A zoomed window is the crop resized up.
    zoomed = window_image(canvas, np.array([20.0, 10.0, 20.0, 20.0]), (40, 40), exact=False)
    assert np.abs(zoomed.astype(int) - resize_image(canvas[10:30, 20:40], (40, 40))).mean() < 3


def test_a_wide_timeline_pipeline_matches_itself_in_any_split(tmp_path: Path) -> None:
    keys = """
[[keyframes]]
time = 0
seed = 1
pan = "left"
[[keyframes]]
time = "1s"
seed = 2
pan = "right"
zoom = 2
"""
    script = load_script(write_script(tmp_path, "demo", keyframes=keys, extra='size = [40, 24]\nfit = { mode = "extend", canvas = "2:1" }'))
    G, timeline = load_animation(script, device="cpu")
    assert "pan" in timeline.tracks and "zoom" in timeline.tracks
    pipeline = FramePipeline(timeline, G, batch_size=3, size=script.size, resolution=16, fit=script.fit)
    whole = np.concatenate(list(pipeline.frames(0, 8)))
    parts = np.concatenate([*pipeline.frames(0, 3), *pipeline.frames(3, 8)])
    sampled = np.concatenate(list(pipeline.frames_at(np.arange(0, 8))))
    assert whole.shape == (8, 24, 40, 3) and np.array_equal(whole, parts) and np.array_equal(whole, sampled)
    assert not np.array_equal(whole[0], whole[7])


def one_frame_1080p(folder: Path, mode: str) -> Path:
    """A one-frame script like examples/widescreen.toml at its full 1920 x 1080, with the given fit."""
    path = folder / f"wide_{mode}.toml"
    path.write_text(f"""fps = 24
size = "1080p"
fit = {{ mode = "{mode}", canvas = "2:1" }}
[models]
base = "demo"
[[keyframes]]
time = 0
seed = 3
psi = 0.7
""")
    return path


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["extend", "crop", "pad", "blur-pad"])
def test_a_1920x1080_render_with_each_fit(mode: str, tmp_path: Path) -> None:
    """The acceptance render: a full-size 16:9 frame from the 256 px demo model, for each fit; the
    extended one has no seam at the old square's borders (by the column-jump measure)."""
    script = load_script(one_frame_1080p(tmp_path, mode))
    out = tmp_path / mode
    render(script, RenderSettings(device="cpu", output={"file": out}))
    frame = np.asarray(Image.open(out / "frame000000.png"))
    assert frame.shape == (1080, 1920, 3) and frame.std() > 5
    if mode == "extend":
        # The canvas is 256 x 512 (4 x 8 cells), the square at x = 128..384; the frame is the
        # centred 16:9 window of it, scaled 1920 / 455.1.
        x0, _, w, _ = windows(script.fit, (256, 512), (1920, 1080))[0]
        borders = [round((x - x0) * 1920 / w) for x in (128, 384)]
        ratio = seam_ratio(frame, borders)
        print(f"1920 x 1080 extend frame: largest jump at the old borders {borders} / median jump = {ratio:.2f}")
        assert ratio <= 3.0


def test_a_job_rounds_odd_sizes_only_when_asked(tmp_path: Path) -> None:
    from renderer.jobs.job import resolve_job
    from renderer.plan.script import ScriptError

    rounded = load_script(write_script(tmp_path, "demo", extra="size = [101, 57]", output='even_size = "round"'))
    job = resolve_job(rounded)
    assert job.size == (100, 56) and job.encoder.even_size == "round"
    assert resolve_job(rounded, RenderSettings(output={"file": tmp_path / "frames"})).size == (101, 57)  # PNGs
    frames = load_script(write_script(tmp_path, "demo", extra="size = [101, 57]", output='format = "png"'))
    assert resolve_job(frames).size == (101, 57)
    with pytest.raises(ScriptError, match="size: 101x57 cannot be encoded as yuv420p"):
        resolve_job(frames, RenderSettings(output={"file": tmp_path / "clip.mp4"}))


def test_animated_noise_grows_with_an_extended_canvas(tmp_path: Path) -> None:
    """Animated noise maps are as wide as the canvas's layers (they replace the stored maps)."""
    from renderer.jobs.job import RenderSettings
    from renderer.jobs.render import render
    from renderer.output.ffmpeg import read_frames
    from renderer.plan.script import load_script

    path = tmp_path / "wide.toml"
    path.write_text('fps = 8\nsize = [64, 36]\nnoise = "random"\n[models]\nbase = "demo"\n'
                    '[[keyframes]]\ntime = 0\nseed = 1\n[[keyframes]]\ntime = 1\nseed = 2\n')
    result = render(load_script(path), RenderSettings(device="cpu", resolution=32))
    frames = list(read_frames(result.output))
    assert len(frames) == 9 and frames[0].shape == (32, 56, 3)  # --res 32: the 16:9 frame at that level
