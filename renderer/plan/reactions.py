"""Audio reactions: features of a song mapped onto what already moves (no torch).

A script's `[[reactions]]` each name one target and a table saying which audio feature drives it
and how:

    [[reactions]]
    psi = { feature = "low.onset", range = [0.5, 1.0], decay = 0.2 }

The feature (renderer.audio) is measured at the video's frame rate, shaped into an envelope in
[0, 1] (percentile, gamma, attack, decay, smooth, causal, clip) and mapped linearly onto `range`.
Targets, each composed on top of the keyframe path:

- psi: truncation psi equals the mapped value (on `layers`, else every layer);
- pulse: w moves toward a target latent (seed / latent / z / w) by the mapped amount, easing back;
- speed: the path advances between keyframes at the mapped speed (renderer.plan.speed), and
  keyframes stay on their frames;
- blend: the transfer model's alpha gains the mapped value at the resolutions of `layers`;
- noise: the StyleGAN2 noise inputs of `layers` are scaled by the mapped value (1: as trained);
- chroma: w moves toward the mix of 12 latents (`seeds`, C to B) weighted by the chroma vector.

Every envelope is a fixed array over the whole video, computed once, so reactions are exact in
any chunking.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from renderer.audio.envelope import EnvelopeSettings, shape_envelope
from renderer.audio.features import DEFAULT_BANDS, FEATURE_FORMS, analyze_file, check_bands, feature_names
from renderer.plan.tracks import Track

REACTION_TARGETS = ("psi", "pulse", "speed", "blend", "noise", "chroma")
ENVELOPE_KEYS = ("percentile", "gamma", "attack", "decay", "smooth", "causal", "clip")
COMMON_KEYS = ("feature", "audio", "range", "layers", *ENVELOPE_KEYS)
TARGET_KEYS: dict[str, tuple[str, ...]] = {
    "psi": COMMON_KEYS,
    "pulse": (*COMMON_KEYS, "seed", "latent", "z", "w"),
    "speed": COMMON_KEYS,
    "blend": COMMON_KEYS,
    "noise": COMMON_KEYS,
    "chroma": (*COMMON_KEYS, "seeds"),
}
DEFAULT_RANGE: dict[str, tuple[float, float]] = {
    "psi": (0.5, 1.0), "pulse": (0.0, 0.5), "speed": (0.25, 2.0), "blend": (0.0, 1.0), "noise": (0.0, 2.0),
    "chroma": (0.0, 0.5),
}
DEFAULT_FEATURE = {
    "psi": "low.onset", "pulse": "low.onset", "speed": "rms", "blend": "mid.onset", "noise": "high.onset", "chroma": "chroma",
}
HITS = ("onset", "percussive", "beat", "section")  # features made of hits: a release by default
DEFAULT_DECAY = 0.25  # seconds: a hit eases back over about a quarter second
DEFAULT_SMOOTH = {"rms": 0.1, "chroma": 0.25}  # seconds: loudness and harmony are smoothed a little


@dataclasses.dataclass(frozen=True)
class AudioSettings:
    """The [audio] table: the song that features are measured on, and the bands in Hz."""

    file: Path | None = None  # None: output.audio
    bands: Mapping[str, tuple[float, float]] = dataclasses.field(default_factory=lambda: dict(DEFAULT_BANDS))


@dataclasses.dataclass(frozen=True)
class Reaction:
    """One [[reactions]] entry, validated; `audio` resolved to a file."""

    index: int
    target: str  # one of REACTION_TARGETS
    feature: str  # a name from renderer.audio.features.feature_names
    audio: Path
    offset: float  # seconds into the audio at frame 0 (output.audio_offset)
    range: tuple[float, float]  # the envelope's 0 and 1 map onto these
    envelope: EnvelopeSettings
    layers: str | tuple[int, ...] | None = None  # None: every layer
    source: Any = None  # pulse: the target LatentSource
    seeds: tuple[int, ...] = ()  # chroma: 12 seeds, C to B

    def where(self) -> str:
        return f"reactions[{self.index}].{self.target}"


def parse_audio_table(check: Any, table: Mapping[str, Any], output_audio: Path | None) -> AudioSettings:
    """The [audio] table: file (relative to the script) and bands {name = [low, high]} in Hz."""
    check.keys(table, ("file", "bands"), "audio")
    file = output_audio
    if "file" in table:
        file = _audio_file(check, table["file"], "audio.file")
    bands: Mapping[str, tuple[float, float]] = dict(DEFAULT_BANDS)
    if "bands" in table:
        try:
            bands = check_bands(check.table(table["bands"], "audio.bands"))
        except ValueError as e:
            raise check.error("audio.bands", str(e)) from None
    return AudioSettings(file=file, bands=bands)


def parse_reactions(
    check: Any, raw: Any, audio: AudioSettings, *, offset: float, transfer: str | None, space: str
) -> tuple[Reaction, ...]:
    """The [[reactions]] list, each checked (one-line errors naming reactions[i].target.key)."""
    if not isinstance(raw, list):
        raise check.error("reactions", "must be a list of [[reactions]] tables")
    names = feature_names(audio.bands)
    reactions = []
    for index, item in enumerate(raw):
        where = f"reactions[{index}]"
        item = check.table(item, where)
        check.keys(item, REACTION_TARGETS, where)
        if len(item) != 1:
            raise check.error(where, f"give exactly one target: {', '.join(REACTION_TARGETS)}")
        target, spec = next(iter(item.items()))
        where = f"{where}.{target}"
        spec = check.table(spec, where)
        check.keys(spec, TARGET_KEYS[target], where)
        feature = spec.get("feature", DEFAULT_FEATURE[target])
        if not isinstance(feature, str) or feature not in names:
            raise check.error(f"{where}.feature", f"{feature!r} is not a feature; accepted: {FEATURE_FORMS} (bands: {', '.join(audio.bands)})")
        if (feature == "chroma") != (target == "chroma"):
            raise check.error(f"{where}.feature", "the chroma vector drives only a chroma reaction, which reads nothing else")
        file = _audio_file(check, spec["audio"], f"{where}.audio") if "audio" in spec else audio.file
        if file is None:
            raise check.error(where, "needs audio: set output.audio, [audio] file, or this reaction's own audio")
        value_range = _range(check, spec.get("range", list(DEFAULT_RANGE[target])), f"{where}.range")
        if target in ("pulse", "chroma", "blend") and not all(0 <= v <= 1 for v in value_range):
            raise check.error(f"{where}.range", f"is an amount from 0 to 1, got {list(value_range)}")
        if target == "noise" and min(value_range) < 0:
            raise check.error(f"{where}.range", f"noise factors must be >= 0 (1 is the trained strength), got {list(value_range)}")
        if target == "speed" and min(value_range) <= 0:
            raise check.error(f"{where}.range", f"speeds must be > 0 (1 is the keyframes' own pace), got {list(value_range)}")
        layers = None
        if "layers" in spec:
            if target == "speed" and space == "z":
                raise check.error(f"{where}.layers", "layers are w-space; with path.space = \"z\" speed re-times the whole path")
            layers = _layers(check, spec["layers"], f"{where}.layers")
        if target in ("pulse", "chroma") and space != "w":
            raise check.error(where, "moves per-layer w; it needs path.space = \"w\"")
        if target == "blend" and transfer is None:
            raise check.error(where, "blending needs a transfer model: add models.transfer")
        source, seeds = None, ()
        if target == "pulse":
            source = check.latent(spec, where)
        if target == "chroma":
            seeds = _seeds(check, spec.get("seeds"), f"{where}.seeds")
        reactions.append(Reaction(
            index=index, target=target, feature=feature, audio=file, offset=offset, range=value_range,
            envelope=_envelope(check, spec, feature, where), layers=layers, source=source, seeds=seeds,
        ))
    return tuple(reactions)


def _audio_file(check: Any, value: Any, where: str) -> Path:
    if not isinstance(value, str) or not value:
        raise check.error(where, "must be the path of an audio file (wav, mp3, flac, m4a, ...)")
    file = check.base_dir / value
    if not file.is_file():
        raise check.error(where, f"audio file '{value}' not found (looked in {check.base_dir})")
    return file


def _range(check: Any, value: Any, where: str) -> tuple[float, float]:
    if not (isinstance(value, list) and len(value) == 2):
        raise check.error(where, f"must be [low, high], got {value!r}")
    return (check.number(value[0], where), check.number(value[1], where))


def _layers(check: Any, value: Any, where: str) -> str | tuple[int, ...]:
    from renderer.plan.script import parse_layers  # the script module imports this one

    try:
        return parse_layers(value)
    except ValueError as e:
        raise check.error(where, str(e)) from None


def _seeds(check: Any, value: Any, where: str) -> tuple[int, ...]:
    if not (isinstance(value, list) and len(value) == 12):
        raise check.error(where, "needs 12 seeds, one per pitch class from C to B")
    return tuple(check.integer(v, f"{where}[{i}]") for i, v in enumerate(value))


def _envelope(check: Any, spec: Mapping[str, Any], feature: str, where: str) -> EnvelopeSettings:
    kind = feature.rpartition(".")[2]
    values: dict[str, Any] = {
        "decay": DEFAULT_DECAY if kind in HITS else 0.0,
        "smooth": DEFAULT_SMOOTH.get(kind, 0.0),
    }
    if "gamma" in spec:
        values["gamma"] = check.number(spec["gamma"], f"{where}.gamma", positive=True)
    if "percentile" in spec:
        values["percentile"] = check.number(spec["percentile"], f"{where}.percentile", positive=True, maximum=100)
    for key in ("attack", "decay", "smooth"):
        if key in spec:
            values[key] = check.number(spec[key], f"{where}.{key}", minimum=0, maximum=60)
    for key in ("causal", "clip"):
        if key in spec:
            values[key] = check.boolean(spec[key], f"{where}.{key}")
    return EnvelopeSettings(**values)


# ---------------------------------------------------------------------------------------------
# Envelopes and tracks


def reaction_envelope(
    reaction: Reaction, *, fps: float, num_frames: int, bands: Mapping[str, tuple[float, float]]
) -> NDArray[np.float64]:
    """The reaction's shaped feature in [0, 1] (with clip) over the video: [T], or [T, 12] for chroma."""
    percussive = reaction.feature.endswith("percussive")
    features = analyze_file(
        reaction.audio, fps=fps, offset=reaction.offset, num_frames=num_frames, bands=bands, percussive=percussive
    )
    return shape_envelope(features.feature(reaction.feature), reaction.envelope, fps=fps)


def mapped_values(reaction: Reaction, envelope: NDArray) -> NDArray[np.float64]:
    """The envelope mapped linearly onto the reaction's range: low + (high - low) * envelope."""
    low, high = reaction.range
    return low + (high - low) * np.asarray(envelope, dtype=np.float64)


class FrameValues:
    """A track of values fixed per whole frame [T, ...]: frame f reads row f (wrapped when looping,
    clamped otherwise); a fractional frame reads its nearest."""

    radius = 0

    def __init__(self, values: NDArray, *, loop: bool) -> None:
        self.values, self.loop = np.asarray(values, dtype=np.float64), loop

    def __call__(self, frames: NDArray[np.float64]) -> NDArray:
        index = np.rint(np.asarray(frames, dtype=np.float64)).astype(np.int64)
        n = len(self.values)
        index = np.mod(index, n) if self.loop else np.clip(index, 0, n - 1)
        return self.values[index]


class LayersSet:
    """A track with some of its columns replaced by another track's: psi [n] -> [n, num_ws] with
    `layers` taken from `values` ([n])."""

    def __init__(self, base: Track, values: Track, layers: Sequence[int], num_layers: int) -> None:
        self.base, self.values, self.layers, self.num_layers = base, values, list(layers), num_layers
        self.radius = max(base.radius, values.radius)

    def __call__(self, frames: NDArray[np.float64]) -> NDArray:
        base = np.asarray(self.base(frames), dtype=np.float64)
        out = np.broadcast_to(base[:, None], (len(frames), self.num_layers)).copy() if base.ndim == 1 else base.copy()
        out[:, self.layers] = np.asarray(self.values(frames))[:, None]
        return out


class TowardTarget:
    """w moved toward a target by a per-frame amount on some layers: w + a (target - w).

    target: [num_ws, w_dim] fixed, or a Track of [n, num_ws, w_dim] (the chroma mix).
    """

    def __init__(self, track: Track, amount: Track, target: NDArray | Track, layers: Sequence[int]) -> None:
        self.track, self.amount, self.target, self.layers = track, amount, target, list(layers)
        self.radius = max(track.radius, amount.radius, getattr(target, "radius", 0))

    def __call__(self, frames: NDArray[np.float64]) -> NDArray:
        w = np.array(self.track(frames), dtype=np.float64)
        a = np.asarray(self.amount(frames), dtype=np.float64)[:, None, None]
        target = self.target(frames) if callable(self.target) else np.asarray(self.target)[None]
        layers = self.layers
        w[:, layers] += a * (target[:, layers] - w[:, layers])
        return w


class ChromaMix:
    """The 12 pitch-class latents weighted by a chroma envelope [T, 12]: [n, num_ws, w_dim]; a
    silent frame (all weights 0) mixes them equally."""

    radius = 0

    def __init__(self, weights: Track, latents: NDArray) -> None:
        self.weights, self.latents = weights, np.asarray(latents, dtype=np.float64)  # [12, num_ws, w_dim]

    def __call__(self, frames: NDArray[np.float64]) -> NDArray:
        c = np.asarray(self.weights(frames), dtype=np.float64)
        total = c.sum(axis=1, keepdims=True)
        c = np.where(total > 0, c / np.where(total > 0, total, 1.0), 1.0 / 12)
        return np.einsum("nk,kld->nld", c, self.latents)


class AddToColumns:
    """A track of alphas [n, R] with a per-frame value added to some columns, clipped to [0, 1]."""

    def __init__(self, base: Track, values: Track, columns: Sequence[int]) -> None:
        self.base, self.values, self.columns = base, values, list(columns)
        self.radius = max(base.radius, values.radius)

    def __call__(self, frames: NDArray[np.float64]) -> NDArray:
        out = np.array(self.base(frames), dtype=np.float64)
        out[:, self.columns] += np.asarray(self.values(frames))[:, None]
        return np.clip(out, 0.0, 1.0)


__all__ = [
    "REACTION_TARGETS",
    "AddToColumns",
    "AudioSettings",
    "ChromaMix",
    "FrameValues",
    "LayersSet",
    "Reaction",
    "TowardTarget",
    "mapped_values",
    "parse_audio_table",
    "parse_reactions",
    "reaction_envelope",
]
