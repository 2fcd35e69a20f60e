"""The pacing pass: how far the picture moves along a path, measured on cheap proxy images.

The path is sampled densely (K samples per output frame, renderer.plan.retime.sample_positions),
each sample is synthesised at a low level of the model (a skip network stops there, as a preview
does; other architectures render in full and are area-downscaled), and consecutive samples are
compared. The distance is the mean absolute pixel difference of the proxies (in 0-255 pixel
units, before rounding, so quantisation adds no noise), the mean absolute difference of the
generator's own feature maps at that level, or the L2 distance of a perceptual network's features
(NVIDIA's vgg16.pt, as the projector uses it). The running sum is the path's image arc length.

It measures the path as planned without easing, smoothing and layer lags (`measuring_plan`):
easing is applied to the arc length afterwards, and smoothing acts on the output frames.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray

from renderer.errors import UsageError
from renderer.frames.pipeline import FramePipeline
from renderer.models.blending import alphas_to_model_weights
from renderer.models.synthesizer import NoiseMode, Synthesizer
from renderer.plan.retime import ArcLength, FrameWarp, SpeedClock, sample_positions, walk_key_frames
from renderer.plan.script import Script
from renderer.plan.timeline import ResolvedKeyframes, Timeline, plan_timeline

FeaturesFn = Callable[[torch.Tensor], torch.Tensor]  # raw images [N, C, H, W] -> features [N, F]
BATCH = 32  # proxy samples per device batch: small images, so larger batches than frames


def measuring_plan(script: Script, keys: ResolvedKeyframes) -> Timeline:
    """The path the pacing pass measures: the script's, without easing, smoothing and layer lags."""
    path = dataclasses.replace(script.path, easing="linear", smooth=0.0, lag=(), pace="latent")
    keyframes = tuple(dataclasses.replace(k, easing=None) for k in script.keyframes)
    plain = dataclasses.replace(script, path=path, keyframes=keyframes)
    return plan_timeline(plain, dataclasses.replace(keys, layer_lags=()))


def path_knots(script: Script) -> NDArray[np.float64]:
    """The keyframes' path positions, with a loop's closing knot one period after the first."""
    knots = np.array([k.frame for k in script.keyframes], dtype=np.float64)
    return np.append(knots, knots[0] + script.num_frames) if script.path.loop else knots


def proxy_level(G: Synthesizer, size: int) -> int:
    """The model's level nearest `size` from below (its smallest when size is below every level)."""
    below = [r for r in G.levels if r <= size]
    return max(below) if below else min(G.levels)


class ProxyDistance:
    """Image distance of consecutive proxy samples: pixel, generator features, or a perceptual net.

    Args:
        G: the generator the frames are rendered with (blended when the script blends)
        resolution: proxy level in px (a level of G)
        distance: "pixel", "features", or "perceptual" (with `features`)
        features: a perceptual network's feature function, for "perceptual"
    """

    def __init__(self, G: Synthesizer, resolution: int, distance: str = "pixel", features: FeaturesFn | None = None) -> None:
        if resolution not in G.levels:
            raise UsageError(f"pacing proxy size must be one of the model's levels {list(G.levels)}, not {resolution}")
        if distance == "perceptual" and features is None:
            raise ValueError("a perceptual distance needs the network's feature function")
        self.G, self.resolution, self.distance, self.features = G, resolution, distance, features
        self.stops_early = resolution < G.img_resolution and G.can_stop_early
        self._captured: list[torch.Tensor] = []

    def embed(self, ws: torch.Tensor, weights: torch.Tensor | None, noise_mode: NoiseMode) -> torch.Tensor:
        """What is compared: [N, ...] per sample."""
        G = self.G
        level = self.resolution if self.stops_early else None
        with self._captured_features() if self.distance == "features" else contextlib.nullcontext():
            img = G.synthesis(ws, noise_mode=noise_mode, model_weights=weights, max_resolution=level)
        if self.distance == "features":
            return self._captured.pop()
        if img.shape[-1] != self.resolution:
            img = F.interpolate(img, size=(self.resolution, self.resolution), mode="area")
        if self.distance == "perceptual":
            assert self.features is not None
            return self.features(img).float()
        # Pixel units, clamped as to_uint8 clamps (a saturated pixel shows no change), not rounded.
        return (img.float() * 127.5 + 128).clamp(0, 255)

    def steps(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Distance of each row of a to the same row of b: [N]."""
        diff = (b - a).flatten(1)
        if self.distance == "perceptual":
            return diff.square().sum(dim=1).sqrt()
        return diff.abs().mean(dim=1)

    @contextlib.contextmanager
    def _captured_features(self) -> Iterator[None]:
        """Keep the feature maps of the block at the proxy level while synthesising."""
        blocks = [m for m in self.G.synthesis.modules() if getattr(m, "resolution", None) == self.resolution]  # type: ignore[attr-defined]

        def keep(module: torch.nn.Module, inputs: object, output: object) -> None:
            if isinstance(output, tuple):  # a block returns (features, rgb); its layers return tensors
                self._captured.append(output[0].float())

        handles = [m.register_forward_hook(keep) for m in blocks]
        try:
            yield
        finally:
            for handle in handles:
                handle.remove()
        if not self._captured:
            raise UsageError(f"this {self.G.architecture} model has no block at {self.resolution} px to take features from")


@torch.no_grad()
def measure_arc_length(
    timeline: Timeline,
    G: Synthesizer,
    positions: NDArray[np.float64],
    distance: ProxyDistance,
    *,
    noise_mode: NoiseMode = "const",
    batch_size: int = BATCH,
    progress: Callable[[int, int], None] | None = None,
) -> ArcLength:
    """The image arc length of `timeline`'s path at the sample `positions` (float frames).

    Args:
        timeline: the measuring plan (measuring_plan), evaluated at fractional positions
        G: the generator (blended when the timeline blends)
        positions: float [N] increasing sample positions
        distance: how consecutive samples are compared
        progress: (samples done, total) after each batch
    """
    pipeline = FramePipeline(timeline, G, batch_size=batch_size, noise_mode=noise_mode)
    steps: list[NDArray[np.float64]] = []
    last: torch.Tensor | None = None
    done = 0
    for chunk in _chunks(timeline, positions, batch_size):
        ws = pipeline.ws(chunk)
        weights = None if chunk.blend is None else alphas_to_model_weights(chunk.blend)
        embedded = distance.embed(ws, weights, noise_mode)
        if last is not None:
            embedded = torch.cat([last, embedded])
        steps.append(distance.steps(embedded[:-1], embedded[1:]).double().cpu().numpy())
        last = embedded[-1:]
        done += len(chunk.frames)
        if progress is not None:
            progress(done, len(positions))
    return ArcLength.from_steps(positions, np.concatenate(steps))


def _chunks(timeline: Timeline, positions: NDArray[np.float64], size: int) -> Iterator:
    for start in range(0, len(positions), size):
        yield timeline.at(positions[start : start + size])


def measure_script(
    script: Script,
    keys: ResolvedKeyframes,
    G: Synthesizer,
    *,
    features: FeaturesFn | None = None,
    speed: NDArray | None = None,
    noise_mode: NoiseMode = "const",
    batch_size: int = BATCH,
    progress: Callable[[int, int], None] | None = None,
) -> ArcLength:
    """The pacing pass of a script: its path sampled at path.pace_samples per frame and measured
    at path.pace_resolution with path.pace_distance ("pixel", "features", or a perceptual network
    whose feature function the caller loaded and passes as `features`), then corrected once by
    comparing the frames it paces one to the next (one more proxy per frame; `speed`, the target
    speed curve the timeline will be paced with, places those frames)."""
    settings = script.path
    kind = settings.pace_distance if settings.pace_distance in ("pixel", "features") else "perceptual"
    distance = ProxyDistance(G, proxy_level(G, settings.pace_resolution), kind, features)
    knots = path_knots(script)
    positions = sample_positions(knots, settings.pace_samples)
    plan = measuring_plan(script, keys)
    total = len(positions) + int(knots[-1] - knots[0]) + 1
    report = (lambda done, _: progress(done, total)) if progress is not None else None
    arc = measure_arc_length(plan, G, positions, distance, noise_mode=noise_mode, batch_size=batch_size, progress=report)
    # One correction: compare the paced frames themselves, one to the next, as a viewer sees them.
    frames = np.arange(knots[0], knots[-1] + 1, dtype=np.float64)
    at = pace_warp(script, arc, speed=speed)(frames)
    report = (lambda done, _: progress(len(positions) + done, total)) if progress is not None else None
    seen = measure_arc_length(plan, G, at, distance, noise_mode=noise_mode, batch_size=batch_size, progress=report)
    return arc.refined(at, np.diff(seen.length))


def pace_warp(script: Script, arc: ArcLength, *, speed: NDArray | None = None) -> FrameWarp:
    """The script's frame warp from its measured arc length: keyframes fixed ("even") or spread by
    arc length ("even-walk"), easing on the arc length, and an optional target speed curve
    (float [T], relative image change per frame step; None: flat)."""
    knots = path_knots(script)[: len(script.keyframes)]
    period = float(script.num_frames) if script.path.loop else None
    clock = SpeedClock(speed, script.num_frames, loop=script.path.loop) if speed is not None else None
    frame_knots = walk_key_frames(knots, arc, speed=clock, loop_period=period) if script.path.pace == "even-walk" else None
    return FrameWarp(knots, arc, frame_knots=frame_knots, easing=script.segment_easing(), speed=clock, loop_period=period)


class ImageSpeedMeter:
    """Mean absolute pixel difference of consecutive frames, fed uint8 batches in order."""

    def __init__(self) -> None:
        self.parts: list[NDArray[np.float32]] = []
        self.last: NDArray[np.float32] | None = None

    def add(self, batch: NDArray[np.uint8]) -> None:
        x = batch.astype(np.float32)
        if self.last is not None:
            x = np.concatenate([self.last, x])
        self.parts.append(np.abs(np.diff(x, axis=0)).mean(axis=(1, 2, 3)))
        self.last = x[-1:]

    @property
    def speeds(self) -> NDArray[np.float32]:
        """[frames seen - 1] the change from each frame to the next."""
        return np.concatenate(self.parts) if self.parts else np.zeros(0, dtype=np.float32)


def image_speed(frames: Iterable[NDArray[np.uint8]]) -> NDArray[np.float32]:
    """Mean absolute pixel difference of consecutive frames, from uint8 batches in order: [T - 1]."""
    meter = ImageSpeedMeter()
    for batch in frames:
        meter.add(batch)
    return meter.speeds


__all__ = [
    "ImageSpeedMeter",
    "ProxyDistance",
    "image_speed",
    "measure_arc_length",
    "measure_script",
    "measuring_plan",
    "pace_warp",
    "path_knots",
    "proxy_level",
]
