"""Per-frame tracks of a script (latents, psi, truncation cutoff), produced lazily in chunks.

No torch: the keyframe latents arrive already resolved (see `renderer.frames.latents.build_timeline`).
Every stage before smoothing is a pure function of the frame index, and smoothing only looks at a
fixed window around each frame, so a chunk's values do not depend on how the video is chunked.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence

import numpy as np
from numpy.typing import NDArray

from renderer.plan.paths import Easing, Interpolation, lerp_track, renormalize, sample_track
from renderer.plan.script import LAYER_GROUPS, Script
from renderer.plan.smoothing import smooth_frames


@dataclasses.dataclass(frozen=True)
class TimelineChunk:
    """The tracks of frames [start, stop)."""

    frames: NDArray[np.int64]  # [n]
    time: NDArray[np.float64]  # [n] seconds
    latents: NDArray[np.float32]  # [n, z_dim] (space "z") or [n, num_ws, w_dim] (space "w", before truncation)
    psi: NDArray[np.float32]  # [n]
    truncation_cutoff: NDArray[np.int64] | None  # [n]; None: every layer is truncated
    blend: NDArray[np.float32] | None = None  # [n, R] alpha of the transfer model per block resolution; None: no blend


TRACKS = ("psi", "truncation_cutoff", "blend")  # the per-frame tracks besides the latents


def chunk_rows(chunk: TimelineChunk, rows: NDArray[np.int64]) -> TimelineChunk:
    """The chunk's frames at the given row positions."""
    return TimelineChunk(**{
        field.name: None if (value := getattr(chunk, field.name)) is None else value[rows]
        for field in dataclasses.fields(chunk)
    })


def concat_chunks(chunks: Sequence[TimelineChunk]) -> TimelineChunk:
    """Chunks joined in order into one (tracks that are None stay None)."""
    return TimelineChunk(**{
        field.name: None if getattr(chunks[0], field.name) is None
        else np.concatenate([getattr(c, field.name) for c in chunks])
        for field in dataclasses.fields(TimelineChunk)
    })


def layer_resolution(index: int, img_resolution: int) -> int:
    """The resolution whose conv (or final ToRGB) w index `index` drives."""
    return min(2 ** ((index + 1) // 2 + 2), img_resolution)


def group_layers(group: str, num_ws: int, img_resolution: int) -> tuple[int, ...]:
    """Layer indices of a named group: coarse (4-8 px), middle (16-32 px), fine (64 px and up)."""
    bounds = {"coarse": (4, 8), "middle": (16, 32), "fine": (64, 1 << 30)}[group]
    return tuple(i for i in range(num_ws) if bounds[0] <= layer_resolution(i, img_resolution) <= bounds[1])


def resolve_layers(spec: str | tuple[int, ...], num_ws: int, img_resolution: int) -> tuple[int, ...]:
    """A layer spec from the script (group name or indices) -> indices, checked against num_ws."""
    if isinstance(spec, str):
        assert spec in LAYER_GROUPS
        return group_layers(spec, num_ws, img_resolution)
    bad = [i for i in spec if i >= num_ws]
    if bad:
        raise ValueError(f"layers {bad} do not exist: this model has {num_ws} (0-{num_ws - 1})")
    return spec


class Timeline:
    """The resolved, per-frame form of a script."""

    def __init__(
        self,
        script: Script,
        key_latents: NDArray[np.float64],  # [K, z_dim] or [K, num_ws, w_dim]
        *,
        layer_lags: Sequence[tuple[tuple[int, ...], float]] = (),  # (layers, lag in frames), w space
        pca_basis: NDArray[np.float64] | None = None,  # [w_dim, k] orthonormal columns
        num_ws: int | None = None,
        key_blends: NDArray[np.float64] | None = None,  # [K, R] transfer alpha per keyframe and resolution
        blend_resolutions: Sequence[int] = (),  # the R block resolutions of key_blends' columns
    ) -> None:
        self.script = script
        self.space = script.path.space
        self.fps = script.fps
        self.num_frames = script.num_frames
        self.loop = script.path.loop
        self.key_frames = np.array([k.frame for k in script.keyframes], dtype=np.float64)
        self.key_latents = key_latents
        self.num_ws = num_ws
        self.pca_basis = pca_basis
        self.key_blends = key_blends
        self.blend_resolutions = tuple(blend_resolutions)
        if key_blends is not None and key_blends.shape != (len(script.keyframes), len(self.blend_resolutions)):
            raise ValueError(f"key_blends must be [keyframes, resolutions], got {list(key_blends.shape)}")
        segments = len(script.keyframes) if self.loop else len(script.keyframes) - 1
        keys = script.keyframes
        self.interpolation: list[Interpolation] = [
            keys[i].interpolation or script.path.interpolation for i in range(segments)
        ]
        self.easing: list[Easing] = [keys[i].easing or script.path.easing for i in range(segments)]
        self._period = float(self.num_frames) if self.loop else None
        self._lags = self._layer_lag_groups(layer_lags)
        self._sigma = script.path.smooth * script.fps
        self._pin = script.path.pin_keyframes and self._sigma > 0
        self._pin_errors = self._keyframe_errors() if self._pin else None

    # -- raw tracks: pure functions of the frame index -----------------------------------------

    def _layer_lag_groups(self, lags: Sequence[tuple[tuple[int, ...], float]]) -> list[tuple[NDArray, float]]:
        if self.space != "w":
            return [(np.arange(1), 0.0)]  # unused: z space samples the whole vector
        assert self.num_ws is not None
        lag_of = np.zeros(self.num_ws)
        for layers, lag in lags:
            lag_of[list(layers)] = lag
        return [(np.flatnonzero(lag_of == lag), float(lag)) for lag in np.unique(lag_of)]

    def _sample(self, values: NDArray, frames: NDArray, kinds: Sequence[Interpolation]) -> NDArray:
        return sample_track(
            self.key_frames, values, frames, interpolation=kinds, easing=self.easing, loop_period=self._period
        )

    def _norm_track(self, frames: NDArray) -> NDArray:
        """z space: the norm the path keeps, interpolated linearly between keyframes (held on holds)."""
        norms = np.linalg.norm(self.key_latents, axis=-1)[:, None]
        kinds: list[Interpolation] = ["hold" if k == "hold" else "linear" for k in self.interpolation]
        return self._sample(norms, frames, kinds)[:, 0]

    def _raw_latents(self, frames: NDArray) -> NDArray:
        if self.space == "z":
            z = self._sample(self.key_latents, frames, self.interpolation)
            # Splines and lines cut inside the Gaussian shell; bring every frame back onto it.
            return renormalize(z, self._norm_track(frames))
        out = np.empty((len(frames), *self.key_latents.shape[1:]))
        for layers, lag in self._lags:
            shifted = frames - lag  # a lagging layer reaches each keyframe `lag` frames later
            values = self.key_latents[:, layers]
            path = self._sample(values, shifted, self.interpolation)
            if self.pca_basis is not None:
                # Keep the straight line between keyframes; restrict the curve's deviation from it
                # to the top principal directions of W, so keyframes are still reached exactly.
                line = lerp_track(
                    self.key_frames, values, shifted, easing=self.easing, loop_period=self._period
                )
                deviation = (path - line) @ self.pca_basis
                path = line + deviation @ self.pca_basis.T
            out[:, layers] = path
        return out

    def _track(self, name: str, frames: NDArray) -> NDArray | None:
        """psi, truncation cutoff ([n]) or the blend alphas ([n, R]): from a schedule, else from the
        keyframes (inheriting values); None when the script has no such track."""
        kind = self.script.path.track_interpolation
        if name == "blend":
            if self.key_blends is None:
                return None
            return self._sample(self.key_blends, frames, [kind] * len(self.interpolation))
        schedule = self.script.schedules.get(name)
        if schedule is not None:
            keys = np.array(schedule.frames, dtype=np.float64)
            values = np.array(schedule.values, dtype=np.float64)[:, None]
            segments = len(keys) if self.loop and len(keys) > 1 else len(keys) - 1
            return sample_track(
                keys, values, frames, interpolation=[kind] * segments, easing=["linear"] * segments,
                loop_period=self._period if segments == len(keys) else None,
            )[:, 0]
        if name == "psi":
            values = np.array(self.script.keyframe_psi(), dtype=np.float64)
        else:
            given = [k.truncation_cutoff for k in self.script.keyframes]
            if all(v is None for v in given):
                return None
            values = np.array([self.num_ws if v is None else v for v in given], dtype=np.float64)
        return self._sample(values[:, None], frames, [kind] * len(self.interpolation))[:, 0]

    def _sampler(self, name: str):
        """`_track` as a function of integer frame indices, for smoothing windows."""
        return lambda idx: self._track(name, idx.astype(np.float64))

    # -- smoothing -------------------------------------------------------------------------------

    def _smoothed(self, sample, frames: NDArray) -> NDArray:
        start, stop = int(frames[0]), int(frames[-1]) + 1
        return smooth_frames(sample, start, stop, sigma=self._sigma, num_frames=self.num_frames, loop=self.loop)

    def _keyframe_errors(self) -> dict[str, NDArray]:
        """What smoothing moved each keyframe by, per track (for pin_keyframes)."""
        errors = {}
        keys = self.key_frames.astype(np.int64)
        smoothed = np.stack([self._smoothed(self._raw_latents, np.array([k]))[0] for k in keys])
        errors["latents"] = self._raw_latents(keys.astype(np.float64)) - smoothed
        for name in TRACKS:
            raw = self._track(name, keys.astype(np.float64))
            if raw is not None:
                track = self._sampler(name)
                errors[name] = raw - np.array([self._smoothed(track, np.array([k]))[0] for k in keys])
        return errors

    def _pinned(self, name: str, values: NDArray, frames: NDArray) -> NDArray:
        if self._pin_errors is None or name not in self._pin_errors:
            return values
        error = self._pin_errors[name]
        flat = error.reshape(len(error), -1)
        segments = len(self.interpolation)
        correction = sample_track(
            self.key_frames, flat, frames, interpolation=["pchip"] * segments, easing=["linear"] * segments,
            loop_period=self._period,
        )
        return values + correction.reshape(len(frames), *error.shape[1:])

    # -- public ------------------------------------------------------------------------------------

    def chunk(self, start: int, stop: int) -> TimelineChunk:
        """Tracks of frames [start, stop), the same whatever chunking the caller uses."""
        if not 0 <= start < stop <= self.num_frames:
            raise ValueError(f"frames [{start}, {stop}) are outside the timeline's 0..{self.num_frames}")
        frames = np.arange(start, stop, dtype=np.int64)
        f = frames.astype(np.float64)

        if self._sigma > 0:
            lat = self._pinned("latents", self._smoothed(lambda idx: self._raw_latents(idx.astype(np.float64)), frames), f)
            if self.space == "z":
                lat = renormalize(lat, self._norm_track(f))
            tracks = {
                name: self._pinned(name, self._smoothed(self._sampler(name), frames), f)
                for name in TRACKS
                if self._track(name, f[:1]) is not None
            }
        else:
            lat = self._raw_latents(f)
            tracks = {name: self._track(name, f) for name in TRACKS}
        psi, cutoff, blend = tracks["psi"], tracks.get("truncation_cutoff"), tracks.get("blend")
        assert psi is not None
        return TimelineChunk(
            frames=frames,
            time=f / self.fps,
            latents=lat.astype(np.float32),
            psi=psi.astype(np.float32),
            truncation_cutoff=None if cutoff is None else np.clip(np.rint(cutoff), 0, None).astype(np.int64),
            blend=None if blend is None else blend.astype(np.float32),
        )

    def chunks(self, size: int = 256) -> Iterator[TimelineChunk]:
        """The whole timeline, `size` frames at a time (memory independent of video length)."""
        for start in range(0, self.num_frames, size):
            yield self.chunk(start, min(start + size, self.num_frames))
