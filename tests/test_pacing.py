"""Even pacing end to end: the pacing pass, paced timelines, the cache, render, preview and validate.

Properties only (never a model's exact pixels): keyframes on their frames, chunk invariance, the
proxy image changing evenly (or as the target speed curve says), the cache reused and invalidated.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from renderer.cli import app
from renderer.frames.latents import resolve_keyframes
from renderer.frames.pacing import ProxyDistance, image_speed, measure_arc_length, measure_script, proxy_level
from renderer.jobs.pacing import pace_cache_path, pace_timeline
from renderer.jobs.render import RenderSettings, render
from renderer.models.checkpoints import load_generator
from renderer.models.stylegan2 import Generator, GeneratorConfig
from renderer.output.plots import TrackPlotData, plot_tracks
from renderer.plan.paths import ease
from renderer.plan.script import ScriptError, parse_script
from renderer.plan.timeline import plan_timeline
from tests.conftest import FIXTURES, needs_fixtures

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")


def tiny_generator(architecture: str = "skip") -> Generator:
    config = GeneratorConfig(z_dim=8, w_dim=8, img_resolution=32, channels={4: 16, 8: 16, 16: 8, 32: 8},
                             mapping_layers=2, architecture=architecture)  # type: ignore[arg-type]
    torch.manual_seed(3)
    return Generator(config).eval()


def walk(space: str = "w", interpolation: str = "cubic", *, pace: str = "even", keys: int = 6, gap: int = 8,
         easing: str = "linear", **path) -> object:
    return parse_script({
        "fps": 8, "models": {"base": "demo"},
        "path": {"space": space, "interpolation": interpolation, "easing": easing, "pace": pace,
                 "pace_resolution": 16, **path},
        "keyframes": [{"time": f"{i * gap}f", "seed": 10 + i} for i in range(keys)],
    })


def proxy_steps(timeline, G, resolution: int) -> np.ndarray:
    """Image change from each frame to the next, as the proxy sees it (float, no rounding)."""
    frames = np.arange(timeline.num_frames, dtype=np.float64)
    arc = measure_arc_length(timeline, G, frames, ProxyDistance(G, resolution))
    return np.diff(arc.length)


def segment_cvs(steps: np.ndarray, key_frames) -> list[float]:
    return [float(steps[a:b].std() / steps[a:b].mean()) for a, b in zip(key_frames[:-1], key_frames[1:], strict=True)]


def paced(script, G):
    keys = resolve_keyframes(script, G)
    timeline, pacing = pace_timeline(script, keys, G, models=[])
    return keys, timeline, pacing


# -- the script keys --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ({"pace": "smooth"}, r"path\.pace: 'smooth' is not accepted"),
        ({"pace_samples": 65}, r"path\.pace_samples: must be an integer from 1 to 64"),
        ({"pace_resolution": 48}, r"path\.pace_resolution: must be a power of two"),
        ({"pace_distance": "lpips"}, r"path\.pace_distance: 'lpips' is not accepted"),
        ({"pace_distance": "missing.pt"}, r"path\.pace_distance: perceptual network 'missing.pt' not found"),
    ],
)
def test_bad_pace_settings_are_one_line_errors(path, message):
    with pytest.raises(ScriptError, match=message):
        parse_script({"models": {"base": "demo"}, "path": path, "keyframes": [{"time": 0, "seed": 1}]})


def test_walk_mode_refuses_beat_timed_keyframes():
    data = {"bpm": 120, "models": {"base": "demo"}, "path": {"pace": "even-walk"},
            "keyframes": [{"time": 0, "seed": 1}, {"time": "4b", "seed": 2}]}
    with pytest.raises(ScriptError, match=r"^path\.pace: \"even-walk\" moves keyframe times, but keyframes\[1\].*timed in beats"):
        parse_script(data)
    data["path"]["pace"] = "even"
    assert parse_script(data).path.pace == "even"


# -- paced timelines ---------------------------------------------------------------------------


@pytest.mark.parametrize(("space", "interpolation"), [("w", "cubic"), ("w", "linear"), ("z", "slerp")])
def test_even_pace_evens_the_image_change_and_keeps_keyframes(space, interpolation):
    G = tiny_generator()
    script = walk(space, interpolation, keys=4, gap=12)
    keys, timeline, _ = paced(script, G)
    before = plan_timeline(script, keys)
    key_frames = [k.frame for k in script.keyframes]
    latents = timeline.chunk(0, timeline.num_frames).latents
    np.testing.assert_allclose(latents[key_frames], keys.latents, atol=1e-5)  # keyframes on their frames
    after_cv = segment_cvs(proxy_steps(timeline, G, 16), key_frames)
    before_cv = segment_cvs(proxy_steps(before, G, 16), key_frames)
    assert max(after_cv) <= 0.05, after_cv
    assert np.mean(after_cv) < np.mean(before_cv)


@pytest.mark.slow
@needs_fixtures
@pytest.mark.parametrize(("space", "interpolation"), [("w", "cubic"), ("z", "slerp")])
def test_even_pace_on_a_fixture_model(space, interpolation):
    G = load_generator(FIXTURES / "nvidia_base.pkl")
    script = walk(space, interpolation, keys=4, gap=12)
    script = dataclasses.replace(script, path=dataclasses.replace(script.path, pace_resolution=G.img_resolution))
    keys, timeline, _ = paced(script, G)
    key_frames = [k.frame for k in script.keyframes]
    assert max(segment_cvs(proxy_steps(timeline, G, G.img_resolution), key_frames)) <= 0.05


def test_paced_timeline_is_the_same_in_any_chunking():
    G = tiny_generator()
    _, timeline, _ = paced(walk(smooth=0.3), G)
    whole = timeline.chunk(0, timeline.num_frames)
    parts = [timeline.chunk(a, min(a + 7, timeline.num_frames)) for a in range(0, timeline.num_frames, 7)]
    assert np.array_equal(whole.latents, np.concatenate([p.latents for p in parts]))
    assert np.array_equal(whole.psi, np.concatenate([p.psi for p in parts]))


def test_easing_applies_to_the_image_arc_length():
    G = tiny_generator()
    script = walk(easing="ease-in-out", keys=3)
    _, timeline, _ = paced(script, G)
    steps = proxy_steps(timeline, G, 16)
    for a in (0, 8):
        done = np.concatenate([[0.0], np.cumsum(steps[a : a + 8])])
        np.testing.assert_allclose(done / done[-1], ease(np.arange(9) / 8, "ease-in-out"), atol=0.03)


def test_target_speed_curve_shapes_the_image_change():
    G = tiny_generator()
    script = walk(keys=3)
    keys = resolve_keyframes(script, G)
    speed = np.where(np.arange(script.num_frames) % 8 < 4, 1.0, 3.0)
    timeline, _ = pace_timeline(script, keys, G, models=[], speed=speed)
    steps = proxy_steps(timeline, G, 16)
    for a in (0, 8):  # each segment keeps its own total change; within it, change follows the curve
        ratio = steps[a : a + 8] / speed[a : a + 8]
        assert ratio.std() / ratio.mean() < 0.05


def test_walk_mode_evens_the_whole_walk():
    G = tiny_generator()
    script = walk(pace="even-walk", keys=4, gap=10)
    keys, timeline, _ = paced(script, G)
    steps = proxy_steps(timeline, G, 16)
    assert timeline.key_frames[0] == 0 and timeline.key_frames[-1] == 30
    latents = timeline.chunk(0, timeline.num_frames).latents
    np.testing.assert_allclose(latents[timeline.key_frames], keys.latents, atol=1e-5)
    assert steps.std() / steps.mean() <= 0.05


def test_latent_pace_is_the_plain_timeline():
    G = tiny_generator()
    script = walk(pace="latent")
    keys = resolve_keyframes(script, G)
    timeline = plan_timeline(script, keys)
    assert timeline.warp is None
    unset = dataclasses.replace(script, path=dataclasses.replace(script.path, pace="latent"))
    assert np.array_equal(timeline.chunk(0, 20).latents, plan_timeline(unset, keys).chunk(0, 20).latents)


def test_loop_is_paced_through_its_closing_segment():
    G = tiny_generator()
    script = walk(keys=3, loop=True)
    keys, timeline, _ = paced(script, G)
    frames = np.arange(timeline.num_frames + 1, dtype=np.float64)  # frame T is frame 0 again
    arc = measure_arc_length(timeline, G, frames, ProxyDistance(G, 16))
    steps = np.diff(arc.length)
    assert max(segment_cvs(steps, [0, 8, 16, 24])) <= 0.05


# -- distances and proxies ---------------------------------------------------------------------


class TinyFeatures(torch.nn.Module):
    """Stands in for NVIDIA's vgg16.pt: same call, a few conv features."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(3, 4, 3)

    def forward(self, images: torch.Tensor, resize_images: bool = False, return_lpips: bool = True) -> torch.Tensor:
        return torch.relu(self.conv(images / 255.0)).flatten(1)


@pytest.mark.parametrize("distance", ["features", "perceptual"])
def test_feature_distances_measure_a_path(tmp_path, distance):
    G = tiny_generator()
    setting = "features"
    features = None
    if distance == "perceptual":
        from renderer.jobs.projector import load_perceptual

        network = tmp_path / "vgg16.pt"
        torch.jit.script(TinyFeatures()).save(str(network))
        setting = str(network)
        features = load_perceptual(network).features
    script = walk(keys=3, pace_distance=setting)
    keys = resolve_keyframes(script, G)
    arc = measure_script(script, keys, G, features=features)
    assert arc.length[-1] > 0 and len(arc.positions) >= 16 * 4 + 1
    pixel = measure_script(dataclasses.replace(script, path=dataclasses.replace(script.path, pace_distance="pixel")), keys, G)
    assert not np.allclose(np.diff(arc.length) / arc.length[-1], np.diff(pixel.length) / pixel.length[-1])


def test_models_without_skip_outputs_measure_the_full_image_downscaled():
    G = tiny_generator("resnet")
    distance = ProxyDistance(G, 16)
    assert not distance.stops_early
    ws = G.mapping(torch.randn(2, 8))
    assert distance.embed(ws, None, "const").shape == (2, 3, 16, 16)
    assert proxy_level(G, 64) == 32 and proxy_level(G, 2) == 4


# -- the cache, render, validate, preview ------------------------------------------------------


def test_pacing_is_cached_by_the_path_hash(tmp_path):
    G = tiny_generator()
    script = walk(keys=3)
    keys = resolve_keyframes(script, G)
    cache = tmp_path / ".clip.mp4.pace.npz"
    first, pacing = pace_timeline(script, keys, G, models=[], cache=cache)
    assert cache.exists() and not pacing.reused
    again, reused = pace_timeline(script, keys, G, models=[], cache=cache)
    assert reused.reused and reused.key == pacing.key
    assert np.array_equal(first.chunk(0, first.num_frames).latents, again.chunk(0, again.num_frames).latents)
    # Easing acts after the measurement: the cache stays valid.
    eased = dataclasses.replace(script, path=dataclasses.replace(script.path, easing="ease-in"))
    assert pace_timeline(eased, keys, G, models=[], cache=cache)[1].reused
    # Another path measures anew.
    other = walk(keys=3, gap=9)
    assert not pace_timeline(other, resolve_keyframes(other, G), G, models=[], cache=cache)[1].reused


def _script_file(tmp_path: Path, **path) -> Path:
    lines = ["fps = 8", "[models]", 'base = "demo"', "[path]", 'pace = "even"', "pace_resolution = 16"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in path.items()]
    for i in range(3):
        lines += ["[[keyframes]]", f'time = "{i * 6}f"', f"seed = {i + 1}"]
    file = tmp_path / "walk.toml"
    file.write_text("\n".join(lines) + "\n")
    return file


def test_render_paces_every_segment_alike_and_keeps_the_cache(tmp_path):
    from renderer.plan.script import load_script

    script = load_script(_script_file(tmp_path))
    whole = render(script, RenderSettings(resolution=16, output={"file": str(tmp_path / "a"), "format": "png"}))
    split = render(script, RenderSettings(resolution=16, output={"file": str(tmp_path / "b"), "format": "png", "segment": "3f"}))
    a = sorted((tmp_path / "a").glob("*.png"))
    b = sorted((tmp_path / "b").glob("*.png"))
    assert len(a) == len(b) == 13 and split.segments_rendered > whole.segments_rendered
    assert all(x.read_bytes() == y.read_bytes() for x, y in zip(a, b, strict=True))  # chunked = whole
    assert pace_cache_path(tmp_path / "a").exists()
    sidecar = json.loads(whole.sidecar.read_text())
    assert sidecar["pace"]["pace"] == "even" and not sidecar["pace"]["reused"]
    assert "pace_s" in sidecar["timings"]
    again = render(script, RenderSettings(resolution=16, output={"file": str(tmp_path / "a"), "format": "png"}))
    assert json.loads(again.sidecar.read_text())["pace"]["reused"]


def test_validate_timeline_exports_the_frame_positions(tmp_path):
    file = _script_file(tmp_path)
    out = tmp_path / "tracks.npz"
    result = CliRunner().invoke(app, ["validate", str(file), "--timeline", str(out)])
    assert result.exit_code == 0, result.output
    assert "pace even" in result.output
    with np.load(out) as data:
        positions = data["path_position"]
        assert positions.shape == (13,) and np.all(np.diff(positions) > 0)
        assert positions[0] == 0 and positions[6] == 6 and positions[12] == 12


def test_track_plot_draws_image_speed_beside_latent_speed(tmp_path):
    t = np.arange(10) / 8.0
    data = TrackPlotData(time=t, psi=np.ones(10, np.float32), latent_speed=np.ones(9, np.float32),
                         key_times=[0.0, 1.0], key_labels=["#0", "#1"], image_speed=np.linspace(1, 2, 9, dtype=np.float32))
    path = plot_tracks(data, tmp_path / "tracks.png")
    assert path.stat().st_size > 1000


def test_image_speed_is_the_mean_absolute_change_of_consecutive_frames():
    frames = np.zeros((4, 2, 2, 3), np.uint8)
    frames[1] = 10
    frames[2] = 10
    frames[3] = 4
    speeds = image_speed([frames[:1], frames[1:3], frames[3:]])
    np.testing.assert_allclose(speeds, [10.0, 0.0, 6.0])
