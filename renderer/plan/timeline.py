"""A script's per-frame tracks (latents, psi, truncation cutoff, blend, ...), produced lazily in chunks.

No torch: `plan_timeline` takes the keyframes already resolved to plain arrays (seed -> w needs the
mapping network; see `renderer.frames.latents`) and builds one Track per control from the script.
A Timeline is then just frames, fps, loop, a latent track and named tracks; `chunk(start, stop)`
evaluates them, and since every track is exact in any chunking, so is the timeline.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

from renderer.plan.camera import camera_tracks
from renderer.plan.noise import NoiseSettings
from renderer.plan.paths import Easing, Interpolation, KeyframePath
from renderer.plan.reactions import (
    AddToColumns,
    ChromaMix,
    FrameValues,
    LayersSet,
    TowardTarget,
    mapped_values,
    reaction_envelope,
)
from renderer.plan.retime import FrameWarp
from renderer.plan.script import Schedule, Script
from renderer.plan.speed import SpeedWarped, retime
from renderer.plan.tracks import (
    Column,
    Lagged,
    LayerGroups,
    PcaRestricted,
    Pinned,
    Renormalized,
    Retimed,
    Rounded,
    Smoothed,
    Stacked,
    Track,
)


@dataclasses.dataclass(frozen=True)
class TimelineChunk:
    """The tracks of frames [start, stop)."""

    frames: NDArray[np.int64]  # [n]
    time: NDArray[np.float64]  # [n] seconds
    latents: NDArray[np.float32]  # [n, z_dim] (space "z") or [n, num_ws, w_dim] (space "w", before truncation)
    tracks: Mapping[str, NDArray] = dataclasses.field(default_factory=dict)  # name -> [n, ...]

    @property
    def psi(self) -> NDArray[np.float32]:
        """[n] truncation psi."""
        return self.tracks["psi"]

    @property
    def truncation_cutoff(self) -> NDArray[np.int64] | None:
        """[n] layers below this index are truncated; None: every layer."""
        return self.tracks.get("truncation_cutoff")

    @property
    def blend(self) -> NDArray[np.float32] | None:
        """[n, R] alpha of the transfer model per block resolution; None: no blend."""
        return self.tracks.get("blend")

    @property
    def noise(self) -> NDArray[np.float32] | None:
        """[n, num_ws] factors on the noise strength of the conv layer each w drives; None: as trained."""
        return self.tracks.get("noise")

    @property
    def camera(self) -> tuple[NDArray[np.float32], NDArray[np.float32]] | None:
        """translate [n, 2] (image widths) and rotate [n] (degrees); None: the camera does not move."""
        if "translate" not in self.tracks:
            return None
        return self.tracks["translate"], self.tracks["rotate"]


def chunk_rows(chunk: TimelineChunk, rows: NDArray[np.int64]) -> TimelineChunk:
    """The chunk's frames at the given row positions."""
    return TimelineChunk(
        frames=chunk.frames[rows], time=chunk.time[rows], latents=chunk.latents[rows],
        tracks={name: values[rows] for name, values in chunk.tracks.items()},
    )


def concat_chunks(chunks: Sequence[TimelineChunk]) -> TimelineChunk:
    """Chunks joined in order into one (they hold the same tracks)."""
    return TimelineChunk(
        frames=np.concatenate([c.frames for c in chunks]),
        time=np.concatenate([c.time for c in chunks]),
        latents=np.concatenate([c.latents for c in chunks]),
        tracks={name: np.concatenate([c.tracks[name] for c in chunks]) for name in chunks[0].tracks},
    )


class Timeline:
    """The resolved, per-frame form of a script: a latent track and named tracks over its frames.

    Args:
        num_frames: frames in the video
        fps: frames per second (the chunk's `time` is frame / fps)
        loop: whether the video wraps (frame num_frames is frame 0 again)
        space: "z" or "w", the space of the latent track
        latents: the latent Track: [n, z_dim] or [n, num_ws, w_dim]
        tracks: named Tracks ("psi" [n] is required; "truncation_cutoff", "blend", "translate" [n, 2]
            and "rotate" [n] (the camera), ...)
        key_frames: [K] the keyframes' frames (for plots and exports)
        blend_resolutions: the block resolutions of the "blend" track's columns
        keys: the resolved keyframes it was planned from, if any (what a resume key hashes)
        directions: [D, num_ws, w_dim] offsets of the "directions" track's D amounts
        warp: the pacing (renderer.plan.retime) that places its frames on the path, if any
    """

    def __init__(
        self,
        *,
        num_frames: int,
        fps: float,
        loop: bool,
        space: str,
        latents: Track,
        tracks: Mapping[str, Track],
        key_frames: NDArray[np.int64],
        blend_resolutions: Sequence[int] = (),
        keys: ResolvedKeyframes | None = None,
        directions: NDArray[np.float32] | None = None,
        noise: NoiseSettings | None = None,
        warp: FrameWarp | None = None,
    ) -> None:
        if "psi" not in tracks:
            raise ValueError("a timeline needs a psi track")
        self.num_frames = num_frames
        self.fps = fps
        self.loop = loop
        self.space = space
        self.latents = latents
        self.tracks = dict(tracks)
        self.key_frames = np.asarray(key_frames, dtype=np.int64)
        self.blend_resolutions = tuple(blend_resolutions)
        self.keys = keys
        # [D, num_ws, w_dim]: what a unit amount of each direction adds to the truncated ws
        # (zero outside its layers); the "directions" track [n, D] says how much, per frame.
        self.directions = directions
        # Animated noise, or strength multipliers per layer group (the "noise_strength" track
        # [n, G], one column per group of noise.strength); None: the stored maps.
        self.noise = noise if noise is not None and (noise.animated or noise.strength) else None
        self.warp = warp

    @property
    def blends(self) -> bool:
        """Whether frames blend models (a "blend" or "model_blend" track), so a blended generator must render them."""
        return "blend" in self.tracks or "model_blend" in self.tracks

    @property
    def blend_components(self) -> tuple[tuple[str, str | None], ...]:
        """The models blended with the base, by name and mask, in the order of "model_blend"'s axis 1
        (empty for the two-model "blend" track)."""
        return self.keys.blend_components if self.keys is not None else ()

    def chunk(self, start: int, stop: int) -> TimelineChunk:
        """Tracks of frames [start, stop), the same whatever chunking the caller uses."""
        if not 0 <= start < stop <= self.num_frames:
            raise ValueError(f"frames [{start}, {stop}) are outside the timeline's 0..{self.num_frames}")
        frames = np.arange(start, stop, dtype=np.int64)
        f = frames.astype(np.float64)
        tracks = {name: _stored(track(f)) for name, track in self.tracks.items()}
        return TimelineChunk(frames=frames, time=f / self.fps, latents=self.latents(f).astype(np.float32), tracks=tracks)

    def at(self, positions: NDArray[np.float64]) -> TimelineChunk:
        """Tracks at any positions (fractional frames, as a pacing pass samples them); `frames`
        holds the positions rounded down. Smoothed tracks take whole frames only."""
        f = np.asarray(positions, dtype=np.float64)
        tracks = {name: _stored(track(f)) for name, track in self.tracks.items()}
        return TimelineChunk(
            frames=np.floor(f).astype(np.int64), time=f / self.fps, latents=self.latents(f).astype(np.float32), tracks=tracks,
        )

    def chunks(self, size: int = 256) -> Iterator[TimelineChunk]:
        """The whole timeline, `size` frames at a time (memory independent of video length)."""
        for start in range(0, self.num_frames, size):
            yield self.chunk(start, min(start + size, self.num_frames))


def _stored(values: NDArray) -> NDArray:
    """Whole-number tracks stay int64; every other track is kept as float32."""
    return values if np.issubdtype(values.dtype, np.integer) else values.astype(np.float32)


# ---------------------------------------------------------------------------------------------
# From a script and its resolved keyframes to tracks


@dataclasses.dataclass(frozen=True)
class ResolvedReaction:
    """A reaction's model-dependent parts, resolved against the model (renderer.frames.latents)."""

    layers: tuple[int, ...]  # the w layers it acts on (every layer when the script names none)
    columns: tuple[int, ...] = ()  # blend: the columns of blend_resolutions those layers draw
    target: NDArray[np.float64] | None = None  # pulse: [num_ws, w_dim]; chroma: [12, num_ws, w_dim]


@dataclasses.dataclass(frozen=True)
class ResolvedKeyframes:
    """A script's keyframes as plain arrays, resolved against a model (renderer.frames.latents)."""

    latents: NDArray[np.float64]  # [K, z_dim] (space "z") or [K, num_ws, w_dim] (space "w")
    num_ws: int | None = None  # the model's, for w-space layer groups
    layer_lags: tuple[tuple[tuple[int, ...], float], ...] = ()  # (layers, lag in frames), w space
    pca_basis: NDArray[np.float64] | None = None  # [w_dim, k] orthonormal columns
    blends: NDArray[np.float64] | None = None  # [K, R] transfer alpha per keyframe and resolution
    blend_resolutions: tuple[int, ...] = ()  # the R block resolutions of blends' columns
    reactions: tuple[ResolvedReaction, ...] = ()  # one per script.reactions, in order
    directions: NDArray[np.float64] | None = None  # [D, num_ws, w_dim] per unit amount of each direction track
    model_blends: NDArray[np.float64] | None = None  # [K, C, R] weight of each blend component (N models, channel masks)
    blend_components: tuple[tuple[str, str | None], ...] = ()  # the C components: (model name, mask name or None)


def plan_timeline(script: Script, keys: ResolvedKeyframes, *, warp: FrameWarp | None = None) -> Timeline:
    """The script's timeline: one track per control, built once from the resolved keyframes.

    With a `warp` (even pacing, renderer.plan.retime), every keyframed track is played on its
    clock (the warp holds the easing) and keyframes are shown at its frames; schedules keep theirs.
    """
    if keys.blends is not None and keys.blends.shape != (len(script.keyframes), len(keys.blend_resolutions)):
        raise ValueError(f"blends must be [keyframes, resolutions], got {list(keys.blends.shape)}")
    if len(keys.reactions) != len(script.reactions):
        raise ValueError(f"{len(script.reactions)} reactions, but {len(keys.reactions)} resolved")
    plan = _TrackPlan(script, keys, warp)
    tracks: dict[str, Track] = {"psi": plan.scalar("psi")}
    if (cutoff := plan.scalar("truncation_cutoff")) is not None:
        tracks["truncation_cutoff"] = cutoff
    if keys.blends is not None:
        tracks["blend"] = plan.keyed(keys.blends, [script.path.track_interpolation] * plan.segments)
    elif any(r.target == "blend" for r in script.reactions):  # the base model, until the music says otherwise
        tracks["blend"] = FrameValues(np.zeros((1, len(keys.blend_resolutions))), loop=False)
    if keys.model_blends is not None:
        # The base's weight is what the components leave: 1 - their sum, whatever the interpolation.
        tracks["model_blend"] = plan.keyed(keys.model_blends, [script.path.track_interpolation] * plan.segments)
    if script.directions:
        tracks["directions"] = Stacked([plan.schedule(d.amount) for d in script.directions])
    noise = script.noise
    if noise is not None and noise.strength:
        tracks["noise_strength"] = Stacked([plan.schedule(schedule) for _, schedule in noise.strength])
    if script.has_camera:
        tracks.update(plan.input_transform())
    tracks.update(plan.camera())  # "zoom" and "pan": the window over the canvas
    tracks = {name: plan.smoothed(track) for name, track in tracks.items()}
    if "truncation_cutoff" in tracks:
        tracks["truncation_cutoff"] = Rounded(tracks["truncation_cutoff"])
    latents = plan.latents()
    if script.reactions:
        latents = _react(plan, latents, tracks)
    return Timeline(
        num_frames=script.num_frames, fps=script.fps, loop=script.path.loop, space=script.path.space,
        latents=latents, tracks=tracks, key_frames=plan.key_frames.astype(np.int64),
        blend_resolutions=keys.blend_resolutions, keys=keys,
        directions=None if keys.directions is None else keys.directions.astype(np.float32),
        noise=noise, warp=warp,
    )


def reaction_track_name(index: int, target: str) -> str:
    """The timeline track holding reaction `index`'s mapped values: "reaction0.psi"."""
    return f"reaction{index}.{target}"


def _react(plan: _TrackPlan, latents: Track, tracks: dict[str, Track]) -> Track:
    """The reactions composed on top of the keyframe tracks, in script order (speed is already in
    the latent path); each reaction's mapped values become a track of their own, for plots and exports."""
    script, keys, loop = plan.script, plan.keys, plan.script.path.loop
    for reaction, resolved, envelope in zip(script.reactions, keys.reactions, plan.envelopes, strict=True):
        if reaction.target == "chroma":
            values = FrameValues(envelope, loop=loop)
            amount = FrameValues(np.full(len(envelope), reaction.range[1]), loop=loop)
            assert resolved.target is not None
            latents = TowardTarget(latents, amount, ChromaMix(values, resolved.target), resolved.layers)
            tracks[reaction_track_name(reaction.index, "chroma")] = values
            continue
        values = FrameValues(mapped_values(reaction, envelope), loop=loop)
        tracks[reaction_track_name(reaction.index, reaction.target)] = values
        if reaction.target == "psi":
            if reaction.layers is None:
                tracks["psi"] = values
            else:
                assert keys.num_ws is not None
                tracks["psi"] = LayersSet(tracks["psi"], values, resolved.layers, keys.num_ws)
        elif reaction.target == "blend":
            tracks["blend"] = AddToColumns(tracks["blend"], values, resolved.columns)
        elif reaction.target == "noise":
            assert keys.num_ws is not None
            base = tracks.get("noise", FrameValues(np.ones((1, keys.num_ws)), loop=False))
            tracks["noise"] = LayersSet(base, values, resolved.layers, keys.num_ws)
        elif reaction.target == "pulse":
            assert resolved.target is not None
            latents = TowardTarget(latents, values, resolved.target, resolved.layers)
    return latents


class _TrackPlan:
    """The script's path settings turned into tracks."""

    def __init__(self, script: Script, keys: ResolvedKeyframes, warp: FrameWarp | None = None) -> None:
        self.script, self.keys, self.warp = script, keys, warp
        self.path_frames = np.array([k.frame for k in script.keyframes], dtype=np.float64)
        # The frames that show the keyframes: where they are on the path, unless pacing moved them.
        self.key_frames = self.path_frames if warp is None else warp.key_frames()
        self.segments = script.num_segments
        self.interpolation = script.segment_interpolation()
        self.easing: list[Easing] = script.segment_easing() if warp is None else ["linear"] * self.segments
        self.period = float(script.num_frames) if script.path.loop else None
        self.sigma = script.path.smooth * script.fps
        self.envelopes = [
            reaction_envelope(r, fps=script.fps, num_frames=script.num_frames, bands=script.audio.bands)
            for r in script.reactions
        ]
        self.retimings = self._retimings()

    def _retimings(self) -> list[tuple[NDArray[np.int64], NDArray[np.float64] | None]]:
        """(layers, positions) of the speed reactions: layers sharing the same speed reactions
        share one re-timing (None: not re-timed); in z space one group holds everything."""
        script, keys = self.script, self.keys
        width = keys.num_ws if script.path.space == "w" and keys.num_ws is not None else 1
        speeds = [(i, r) for i, r in enumerate(script.reactions) if r.target == "speed"]
        members = np.zeros((width, len(speeds)), dtype=bool)
        for column, (i, _) in enumerate(speeds):
            layers = keys.reactions[i].layers if width > 1 else (0,)
            members[list(layers), column] = True
        groups = []
        for pattern in np.unique(members, axis=0):
            layers = np.flatnonzero((members == pattern).all(axis=1))
            if not pattern.any():
                groups.append((layers, None))
                continue
            speed = np.ones(script.num_frames)
            for column in np.flatnonzero(pattern):
                i, reaction = speeds[column]
                speed = speed * mapped_values(reaction, self.envelopes[i])
            positions = retime(speed, self.key_frames.astype(np.int64), num_frames=script.num_frames, loop=script.path.loop)
            groups.append((layers, positions))
        return groups

    def retimed(self, track: Track, positions: NDArray[np.float64] | None) -> Track:
        """The track re-timed by a speed reaction's positions, or the track itself."""
        return track if positions is None else SpeedWarped(track, positions, period=self.period)

    def keyed(self, values: NDArray, kinds: Sequence[Interpolation]) -> Track:
        """A path through the keyframes with the script's easings (or its pacing) and the given kinds."""
        path = KeyframePath(self.path_frames, values, interpolation=kinds, easing=self.easing, loop_period=self.period)
        return path if self.warp is None else Retimed(path, self.warp)

    def smoothed(self, raw: Track) -> Track:
        """The script's temporal smoothing of a track (and its keyframe pinning), or the track itself."""
        if self.sigma <= 0:
            return raw
        smooth = Smoothed(raw, sigma=self.sigma, num_frames=self.script.num_frames, loop=self.script.path.loop)
        if not self.script.path.pin_keyframes:
            return smooth
        return Pinned(smooth, raw, self.key_frames, num_frames=self.script.num_frames, loop_period=self.period)

    def scalar(self, name: str) -> Track | None:
        """psi or the truncation cutoff: from a schedule, else from the keyframes (inheriting
        values); None when the script sets no such track."""
        script = self.script
        kind = script.path.track_interpolation
        schedule = script.schedules.get(name)
        if schedule is not None:
            return self.schedule(schedule)
        if name == "psi":
            values = np.array(script.keyframe_psi(), dtype=np.float64)
        else:
            given = [k.truncation_cutoff for k in script.keyframes]
            if all(v is None for v in given):
                return None
            values = np.array([self.keys.num_ws if v is None else v for v in given], dtype=np.float64)
        return Column(self.keyed(values[:, None], [kind] * self.segments))

    def schedule(self, schedule: Schedule, transform: Callable[[NDArray], NDArray] | None = None) -> Track:
        """A schedule's scalar track [n], with the path's track interpolation and loop (its values
        mapped by `transform` before they are interpolated)."""
        kind = self.script.path.track_interpolation
        keys = np.array(schedule.frames, dtype=np.float64)
        values = np.array(schedule.values, dtype=np.float64)[:, None]
        if transform is not None:
            values = transform(values)
        segments = len(keys) if self.script.path.loop and len(keys) > 1 else len(keys) - 1
        path = KeyframePath(
            keys, values, interpolation=[kind] * segments, easing=["linear"] * segments,
            loop_period=self.period if segments == len(keys) else None,
        )
        return Column(path)

    def input_transform(self) -> dict[str, Track]:
        """StyleGAN3's camera tracks: translate [n, 2] and rotate [n], interpolated like psi."""
        kind = self.script.path.track_interpolation
        translate, rotate = self.script.keyframe_camera()
        tracks: dict[str, Track] = {"translate": self.keyed(np.array(translate, dtype=np.float64), [kind] * self.segments)}
        scheduled = self.scalar("rotate") if "rotate" in self.script.schedules else None
        tracks["rotate"] = scheduled or Column(self.keyed(np.array(rotate, dtype=np.float64)[:, None], [kind] * self.segments))
        return tracks

    def named_schedule(self, name: str, transform: Callable[[NDArray], NDArray] | None = None) -> Track | None:
        """The schedule `tracks.NAME` as a scalar track; None when the script has no such schedule."""
        schedule = self.script.schedules.get(name)
        return None if schedule is None else self.schedule(schedule, transform)

    def camera(self) -> dict[str, Track]:
        """The window's zoom and pan tracks (renderer.plan.camera), keyed like psi; none when unset."""
        script = self.script
        kind = script.path.track_interpolation
        return camera_tracks(
            [k.zoom for k in script.keyframes], [k.pan for k in script.keyframes], script.fit.anchor,
            keyed=lambda values: self.keyed(values, [kind] * self.segments), scheduled=self.named_schedule,
        )

    def latents(self) -> Track:
        """The latent path: z on the Gaussian shell, or w+ with layer lags and the PCA restriction."""
        keys = self.keys
        if self.script.path.space == "z":
            # Splines and lines cut inside the Gaussian shell; bring every frame back onto it, with
            # the norm interpolated linearly between keyframes (held on holds).
            norm_kinds: list[Interpolation] = ["hold" if k == "hold" else "linear" for k in self.interpolation]
            positions = self.retimings[0][1]
            norms = Column(self.retimed(self.keyed(np.linalg.norm(keys.latents, axis=-1)[:, None], norm_kinds), positions))
            raw: Track = Renormalized(self.retimed(self.keyed(keys.latents, self.interpolation), positions), norms)
            smoothed = self.smoothed(raw)
            return raw if smoothed is raw else Renormalized(smoothed, norms)
        assert keys.num_ws is not None
        lag_of = np.zeros(keys.num_ws)
        for layers, lag in keys.layer_lags:
            lag_of[list(layers)] = lag
        groups = []
        for speed_layers, positions in self.retimings:
            for lag in np.unique(lag_of[speed_layers]):
                layers = speed_layers[lag_of[speed_layers] == lag]
                values = keys.latents[:, layers]
                path: Track = self.keyed(values, self.interpolation)
                if keys.pca_basis is not None:
                    # Keep the straight line between keyframes; restrict the curve's deviation from it
                    # to the top principal directions of W, so keyframes are still reached exactly.
                    path = PcaRestricted(path, self.keyed(values, ["linear"] * self.segments), keys.pca_basis)
                # A speed reaction re-times the path; a lagging layer reaches each keyframe `lag` frames later.
                groups.append((layers, Lagged(self.retimed(path, positions), float(lag))))
        return self.smoothed(LayerGroups(keys.latents.shape[1:], groups))
