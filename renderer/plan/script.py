"""Keyframe scripts: load TOML / JSON / YAML, validate strictly, turn every time into a frame.

No torch here: checking a latent file against a model's dimensions happens in `renderer.plan.timeline`.
Every mistake raises one `ScriptError` whose message names the file, the place (key, or keyframe
index and time) and what is accepted.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from renderer.blendspec import alpha_by_resolution, is_resolution
from renderer.builtin import BUILTIN_MODELS
from renderer.errors import RendererError
from renderer.plan.encoding import (
    CODECS,
    EVEN_SIZES,
    OUTPUT_KINDS,
    SUFFIXES,
    VIDEO_KINDS,
    X264_PRESETS,
    EncoderSettings,
    chroma_step,
)
from renderer.plan.framing import MAX_SIDE, Fit, parse_fit, parse_pan, parse_size, parse_zoom
from renderer.plan.layers import LAYER_GROUPS
from renderer.plan.paths import EASINGS, INTERPOLATIONS, Easing, Interpolation
from renderer.plan.reactions import AudioSettings, Reaction, parse_audio_table, parse_reactions
from renderer.plan.retime import PACE_DISTANCES, PACES, Pace
from renderer.plan.seeds import MAX_SEED

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


SPACES = ("z", "w")
MAX_FPS = 1000  # frames per second
MAX_SIZE = MAX_SIDE  # output side in pixels (8K)
MAX_FRAMES = 10_000_000  # about 46 hours at 60 fps: beyond it a duration is a typo
LATENT_KEYS = ("seed", "latent", "z", "w")
CAMERA_KEYS = ("translate", "rotate")  # StyleGAN3's input transform, keyframed like psi
MAX_TRANSLATE = 100.0  # image widths: beyond it a camera offset is a typo
MAX_ROTATE = 36_000.0  # degrees: a hundred turns



class ScriptError(RendererError):
    """A keyframe script is malformed; the message names the file and the place."""

    exit_code = 2


# ---------------------------------------------------------------------------------------------
# The parsed script


@dataclasses.dataclass(frozen=True)
class LatentSource:
    """Where a keyframe's latent comes from: exactly one of a seed, a file, or literal values."""

    kind: str  # "seed", "file", "z", "w", or "loop" (a generated walk's, renderer.plan.walks)
    seed: int | None = None
    file: Path | None = None
    values: tuple[Any, ...] | None = None  # nested lists as written, for "z" / "w"
    phase: float = 0.0  # "loop": where on the seeded loop, in periods
    harmonics: int = 0  # "loop": its Fourier harmonics

    def describe(self) -> str:
        if self.kind == "seed":
            return f"seed {self.seed}"
        if self.kind == "loop":
            return f"loop of seed {self.seed} at {self.phase:.3f}"
        if self.kind == "file":
            assert self.file is not None
            return f"file {self.file.name}"
        return f"{self.kind} literal"


@dataclasses.dataclass(frozen=True)
class StyleMix:
    """At a keyframe, the layers `layers` take their latent from another source (w space)."""

    layers: str | tuple[int, ...]  # a group name, or explicit layer indices
    source: LatentSource


@dataclasses.dataclass(frozen=True)
class Keyframe:
    index: int
    frame: int
    time: float  # seconds, frame / fps
    source: LatentSource
    psi: float | None  # None: inherit (see Script.keyframe_psi)
    truncation_cutoff: int | None
    interpolation: Interpolation | None  # override for the segment that starts here
    easing: Easing | None
    mix: tuple[StyleMix, ...] = ()
    blend: Any = None  # validated blend spec, used by model blending
    zoom: float | None = None  # the window's zoom (renderer.plan.framing); None: inherit
    pan: tuple[float, float] | None = None  # the window's position, -1..1 each; None: inherit
    label: str | None = None  # where it was written: "keyframes[2]", "walks[0] #3"; None: keyframes[index]
    in_beats: bool = False  # its time was written in beats ("16b"): pacing must not move it
    translate: tuple[float, float] | None = None  # camera (StyleGAN3): image widths, x right and y down; None: inherit
    rotate: float | None = None  # camera (StyleGAN3): degrees; None: inherit

    def where(self) -> str:
        return f"{self.label or f'keyframes[{self.index}]'} (t={self.time:g}s)"

    def describe_source(self) -> str:
        """The latent source and its style mixes, as shown to users: "seed 3 + mix seed 7"."""
        text = self.source.describe() + "".join(f" + mix {m.source.describe()}" for m in self.mix)
        return text + (f" ({self.label})" if self.label and self.label.startswith("walks") else "")


@dataclasses.dataclass(frozen=True)
class PathSettings:
    space: str = "w"
    interpolation: Interpolation = "cubic"
    easing: Easing = "linear"
    loop: bool = False
    smooth: float = 0.0  # Gaussian sigma in seconds
    pin_keyframes: bool = False  # after smoothing, bend the path back through the keyframes
    pca: int | None = None  # keep motion between keyframes in the top-k directions of W
    lag: tuple[tuple[str | tuple[int, ...], float], ...] = ()  # (layers, lag in frames)
    track_interpolation: Interpolation = "pchip"  # psi and truncation-cutoff tracks
    pace: Pace = "latent"  # "even": frames placed so the image changes evenly (renderer.plan.retime)
    pace_samples: int = 4  # pacing pass: samples per output frame
    pace_resolution: int = 64  # pacing pass: proxy image size in px (a level of the model)
    pace_distance: str = "pixel"  # "pixel", "features", or the path of a perceptual network (.pt)


@dataclasses.dataclass(frozen=True)
class OutputSettings:
    """The [output] table: where the video goes and how it is encoded and post-processed."""

    file: Path | None = None  # None: <script name>.<format> beside the script
    format: str = "mp4"  # the default output's type when no file is given: mp4, webm, gif, png (a folder)
    codec: str = "h264"  # h264, h265, h264-nvenc, h265-nvenc, vp9 (.webm)
    crf: int = 18
    preset: str = "medium"
    pix_fmt: str = "yuv420p"
    even_size: str = "error"  # or "pad": one black row/column, never a rescale
    audio: Path | None = None
    audio_offset: float = 0.0  # seconds into the audio where the video starts (negative: audio starts later)
    temporal_blur: float = 0.0  # Gaussian sigma over time, in frames
    blur: float = 0.0  # spatial Gaussian sigma, in output pixels
    segment: float = 4.0  # seconds per resumable segment
    title: str | None = None


@dataclasses.dataclass(frozen=True)
class Schedule:
    """A scalar track given as a Deforum-style schedule string: (frame, value) pairs."""

    frames: tuple[int, ...]
    values: tuple[float, ...]


@dataclasses.dataclass(frozen=True)
class Script:
    file: Path | None
    fps: float
    bpm: float | None
    num_frames: int
    size: tuple[int, int] | None  # (width, height) in px; None: the model's square
    base_model: str
    transfer_model: str | None
    path: PathSettings
    keyframes: tuple[Keyframe, ...]
    schedules: Mapping[str, Schedule]  # "psi", "truncation_cutoff"
    output: OutputSettings = OutputSettings()
    blend: Any = None  # the blend before the first keyframe that sets one; None: the base model (0)
    presets: tuple[str, ...] = ()  # applied in order, under the script's own settings
    origins: Mapping[str, str] = dataclasses.field(default_factory=dict)  # "output.crf" -> "preset share"
    audio: AudioSettings = AudioSettings()  # the song features are measured on, and its bands
    reactions: tuple[Reaction, ...] = ()  # audio features driving psi, pulses, speed, blend, chroma
    beat_times: tuple[float, ...] = ()  # seconds of the detected beats (beats = "detected"), else ()
    added_presets: tuple[str, ...] = ()  # those of `presets` the caller added (-p), not the script
    fit: Fit = Fit()  # how the model's square images fill a frame of another aspect
    directions: tuple[Any, ...] = ()  # renderer.plan.directions.DirectionTrack: [[directions]]
    noise: Any = None  # renderer.plan.noise.NoiseSettings; None: the stored maps, as the render's noise_mode says
    extra_models: tuple[tuple[str, str], ...] = ()  # [models] extra: (name, checkpoint) for named blends
    masks: Mapping[str, Any] = dataclasses.field(default_factory=dict)  # [masks.NAME]: renderer.plan.blends.MaskSpec

    @property
    def duration(self) -> float:
        return self.num_frames / self.fps

    @property
    def needs_models_to_check(self) -> bool:
        """Whether checking the script goes beyond the script: a checkpoint file to read, or latents
        (files, literals, loops), directions or channel masks to check against a model. Seeds on
        built-in models need none of that."""
        sources = [s for k in self.keyframes for s in (k.source, *(m.source for m in k.mix))]
        models = [self.base_model, *([self.transfer_model] if self.transfer_model else []),
                  *(path for _, path in self.extra_models)]
        return (any(m not in BUILTIN_MODELS for m in models) or any(s.kind != "seed" for s in sources)
                or bool(self.directions) or bool(self.masks) or self.has_camera)  # camera: the model's family

    @property
    def num_segments(self) -> int:
        """Keyframe segments: one between each pair of keyframes, and a closing one when looping."""
        return len(self.keyframes) if self.path.loop else len(self.keyframes) - 1

    def segment_interpolation(self) -> list[Interpolation]:
        """Each segment's interpolation kind: its first keyframe's override, else the path's."""
        return [self.keyframes[i].interpolation or self.path.interpolation for i in range(self.num_segments)]

    def segment_easing(self) -> list[Easing]:
        """Each segment's easing: its first keyframe's override, else the path's."""
        return [self.keyframes[i].easing or self.path.easing for i in range(self.num_segments)]

    def keyframe_psi(self) -> list[float]:
        """psi at each keyframe: its own value, else the previous keyframe's, else 1.0."""
        return self._carried("psi", 1.0)

    @property
    def has_camera(self) -> bool:
        """Whether the script moves the camera (translate / rotate: StyleGAN3's input transform)."""
        return "rotate" in self.schedules or any(k.translate is not None or k.rotate is not None for k in self.keyframes)

    def keyframe_camera(self) -> tuple[list[tuple[float, float]], list[float]]:
        """translate and rotate at each keyframe: its own, else the previous keyframe's, else 0."""
        return self._carried("translate", (0.0, 0.0)), self._carried("rotate", 0.0)

    def keyframe_blends(self) -> list[Any] | None:
        """Blend spec at each keyframe: its own, else the previous keyframe's, else the script's
        top-level `blend`, else 0.0 (the base model); None when nothing blends."""
        if self.blend is None and all(key.blend is None for key in self.keyframes):
            return None
        return self._carried("blend", 0.0 if self.blend is None else self.blend)

    def _carried(self, field: str, default: Any) -> list[Any]:
        """A keyframe field, each unset value carried over from the keyframe before."""
        values, current = [], default
        for key in self.keyframes:
            value = getattr(key, field)
            current = value if value is not None else current
            values.append(current)
        return values

    def beat(self, frame: float) -> float | None:
        if self.beat_times:
            return detected_beat(frame / self.fps, self.beat_times, self.bpm)
        return frame / self.fps * self.bpm / 60 if self.bpm else None


def format_clock(seconds: float) -> str:
    """Seconds as m:ss.ff, the way times are shown to users."""
    return f"{int(seconds // 60)}:{seconds % 60:05.2f}"


# ---------------------------------------------------------------------------------------------
# Small parsers


def _did_you_mean(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1)
    return f"; did you mean '{close[0]}'?" if close else f"; accepted: {', '.join(choices)}"


_TIME_UNIT = re.compile(r"^\s*([-+]?\d+(?:\.\d*)?|[-+]?\.\d+)\s*([sfb]?)\s*$")
_CLOCK = re.compile(r"^\s*(?:(\d+):)?(\d+):(\d+(?:\.\d*)?)\s*$")
TIME_FORMS = 'seconds (2.5 or "2.5s"), frames ("48f"), beats ("16b", needs bpm) or "m:ss.s"'


def parse_time(
    value: Any, *, fps: float, bpm: float | None, bare: str = "s", beat_times: Sequence[float] = ()
) -> float:
    """A time as written in a script -> a frame position (float).

    Args:
        value: a number (unit `bare`), or a string "2.5s", "48f", "16b", "1:02.5", "1:00:02"
        bare: the unit of bare numbers: "s" (seconds) or "f" (frames, as in Deforum schedules)
        beat_times: seconds of detected beats: "16b" is detected beat 16 (the first is "0b"),
            fractions between beats, beyond the last one at the tempo `bpm`; () for a bpm grid
    Raises:
        ValueError with a message saying what is accepted
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"a time must be {TIME_FORMS}, got {value!r}")
    if isinstance(value, (int, float)):
        number, unit = float(value), bare
    else:
        clock = _CLOCK.match(value)
        if clock:
            hours, minutes, seconds = clock.groups()
            return (int(hours or 0) * 3600 + int(minutes) * 60 + float(seconds)) * fps
        match = _TIME_UNIT.match(value)
        if not match:
            raise ValueError(f"a time must be {TIME_FORMS}, got {value!r}")
        number, unit = float(match.group(1)), match.group(2) or bare
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"a time must be finite and >= 0, got {value!r}")
    if unit == "f":
        return number
    if unit == "b":
        if beat_times:
            return beat_seconds(number, beat_times, bpm) * fps
        if not bpm:
            raise ValueError(f"beat time {value!r} needs bpm at the top of the script")
        return number * 60 / bpm * fps
    return number * fps


def beat_seconds(beat: float, beat_times: Sequence[float], bpm: float | None) -> float:
    """Seconds of a (fractional) detected beat: linear between beats, at the tempo past the last."""
    times = np.asarray(beat_times, dtype=np.float64)
    last = len(times) - 1
    if beat <= last:
        return float(np.interp(beat, np.arange(len(times)), times))
    period = 60.0 / bpm if bpm else (float(np.mean(np.diff(times))) if last else 0.5)
    return float(times[-1] + (beat - last) * period)


def detected_beat(seconds: float, beat_times: Sequence[float], bpm: float | None) -> float:
    """The (fractional) detected beat at a time: the inverse of beat_seconds (negative before beat 0)."""
    times = np.asarray(beat_times, dtype=np.float64)
    period = 60.0 / bpm if bpm else (float(np.mean(np.diff(times))) if len(times) > 1 else 0.5)
    if seconds < times[0]:
        return float((seconds - times[0]) / period)
    if seconds > times[-1]:
        return float(len(times) - 1 + (seconds - times[-1]) / period)
    return float(np.interp(seconds, times, np.arange(len(times))))


_SCHEDULE_ITEM = re.compile(r"\s*([^:,()]+?)\s*:\s*\(\s*(.*?)\s*\)\s*(?:,|$)")


def parse_schedule(text: str, *, fps: float, bpm: float | None) -> Schedule:
    """A Deforum-style schedule "0:(0.7), 8s:(1.0)"; bare times are frames, values plain numbers."""
    items, pos = [], 0
    while pos < len(text.strip()):
        match = _SCHEDULE_ITEM.match(text, pos)
        if not match:
            raise ValueError(f"schedule {text!r} must look like \"0:(0.7), 8s:(1.0)\"")
        time, raw = match.groups()
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"schedule value {raw!r} is not a number (expressions are not evaluated)") from None
        items.append((round(parse_time(time, fps=fps, bpm=bpm, bare="f")), value))
        pos = match.end()
    if not items:
        raise ValueError("a schedule needs at least one time:(value) pair")
    frames = [f for f, _ in items]
    if any(b <= a for a, b in zip(frames, frames[1:], strict=False)):
        raise ValueError(f"schedule {text!r}: times must strictly increase")
    return Schedule(tuple(frames), tuple(v for _, v in items))


def parse_layers(spec: Any) -> str | tuple[int, ...]:
    """Layers as written: "coarse" / "middle" / "fine", "4-7", 5, or a list of indices."""
    if isinstance(spec, str):
        if spec in LAYER_GROUPS:
            return spec
        match = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", spec)
        if match:
            lo = int(match.group(1))
            hi = int(match.group(2) or lo)
            if hi >= lo:
                return tuple(range(lo, hi + 1))
    elif isinstance(spec, int) and not isinstance(spec, bool) and spec >= 0:
        return (spec,)
    elif isinstance(spec, list) and spec and all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in spec):
        return tuple(spec)
    raise ValueError(f"layers must be {', '.join(LAYER_GROUPS)}, a range like \"4-7\", an index or a list, got {spec!r}")


# ---------------------------------------------------------------------------------------------
# Loading


def load_script(path: str | Path, *, presets: Sequence[str] = ()) -> Script:
    """Read and validate a script file (.toml, .json, .yaml / .yml).

    Args:
        presets: preset names (or .toml paths) added after the script's own `preset` list.
            Precedence: defaults < presets, in order < the script's own keys (< CLI flags, applied
            by the caller); `Script.origins` says where each setting came from.
    """
    path = Path(path)
    return parse_script(_read_data(path), file=path, base_dir=path.parent, presets=presets)


def _read_data(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScriptError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ScriptError(f"{path}: cannot read ({e})") from None
    return _parse_text(text, path)


# ---------------------------------------------------------------------------------------------
# Presets: partial scripts shipped in renderer/presets/ (or a user's own .toml)

def _presets_dir() -> Path:
    """The shipped presets: the top-level `presets/` folder, installed as the package `renderer.presets`."""
    try:
        import renderer.presets as shipped  # a folder of .toml files: a namespace package

        return Path(next(iter(shipped.__path__)))
    except (ImportError, StopIteration):  # a source tree that was not installed
        return Path(__file__).resolve().parents[2] / "presets"


PRESETS_DIR = _presets_dir()
MERGED_TABLES = ("path", "output")  # merged key by key; every other key is replaced whole


def available_presets() -> dict[str, Path]:
    """The shipped presets by name."""
    return {p.stem: p for p in sorted(PRESETS_DIR.glob("*.toml"))}


def load_preset(name: str, *, base_dir: Path = Path(".")) -> dict[str, Any]:
    """A preset's settings (its description removed), checked to hold only preset keys.

    Args:
        name: a shipped preset's name, or the path of a .toml file (relative to base_dir)
    """
    shipped = available_presets()
    if name in shipped:
        file = shipped[name]
    elif name.endswith(".toml"):
        file = base_dir / name
        if not file.is_file():
            raise ScriptError(f"preset file '{name}' not found (looked in {base_dir})")
    else:
        hint = "; an encoder speed goes in [output] preset (--encoder-preset)" if name in X264_PRESETS else ""
        raise ScriptError(f"unknown preset '{name}'{_did_you_mean(name, list(shipped))}{hint}")
    data = _read_data(file)
    check = _Checker(file, file.parent)
    check.keys(data, PRESET_KEYS, "preset")
    data.pop("description", None)
    output = data.get("output")
    if isinstance(output, dict):
        # A preset's own files are relative to the preset, not to the script using it.
        data["output"] = {k: str(file.parent / v) if k in ("file", "audio") and isinstance(v, str) else v
                          for k, v in output.items()}
    return data


def preset_description(name: str) -> str:
    """The first line of a shipped preset's description."""
    data = _read_data(available_presets()[name])
    return str(data.get("description", "")).strip().splitlines()[0] if data.get("description") else ""


def merge_settings(layers: Sequence[tuple[str, Mapping[str, Any]]]) -> tuple[dict[str, Any], dict[str, str]]:
    """Layer settings, later over earlier: [output] and [path] key by key, everything else whole.

    Returns:
        the merged data, and the origin of each setting ("output.crf" -> "preset share")
    """
    merged: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for origin, data in layers:
        for key, value in data.items():
            if key in MERGED_TABLES and isinstance(value, Mapping) and isinstance(merged.get(key, {}), Mapping):
                merged[key] = {**merged.get(key, {}), **value}
                origins.update({f"{key}.{sub}": origin for sub in value})
            else:
                merged[key] = value
                origins[key] = origin
    return merged, origins


def resolved_settings(script: Script) -> list[tuple[str, Any, str]]:
    """(key, value, origin) of every setting outside the keyframes and tracks, as resolved: origin
    is "script", "preset NAME" or "default" (flags on the command line are the caller's to add)."""
    def origin(key: str) -> str:
        return script.origins.get(key) or script.origins.get(key.split(".")[0]) or "default"

    values: list[tuple[str, Any]] = [
        ("fps", script.fps), ("bpm", script.bpm), ("duration", f"{script.num_frames} frames"),
        ("size", "x".join(map(str, script.size)) if script.size else None), ("fit", script.fit.describe()),
        ("blend", script.blend),
        ("models.base", script.base_model), ("models.transfer", script.transfer_model),
        *([("models.extra", dict(script.extra_models))] if script.extra_models else []),
    ]
    values += [(f"path.{f.name}", getattr(script.path, f.name)) for f in dataclasses.fields(PathSettings)]
    values += [(f"output.{f.name}", getattr(script.output, f.name)) for f in dataclasses.fields(OutputSettings)]
    rows = []
    for key, value in values:
        where = origin(key)
        if key == "duration" and "duration" not in script.origins:
            where = "from the keyframes"
        rows.append((key, value, where))
    return rows


def _preset_names(check: _Checker, value: Any) -> list[str]:
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
        raise check.error("preset", f"must be a preset name or a list of them, got {value!r}")
    return names


def _parse_text(text: str, path: Path) -> dict[str, Any]:
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            data = tomllib.loads(text)
        elif suffix == ".json":
            data = json.loads(text)
        elif suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            raise ScriptError(f"{path}: unknown script type '{suffix}'; use .toml, .json or .yaml")
    except tomllib.TOMLDecodeError as e:
        raise ScriptError(f"{path}: invalid TOML: {e}") from None
    except json.JSONDecodeError as e:
        raise ScriptError(f"{path}: invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}") from None
    except ImportError:
        raise ScriptError(f"{path}: YAML scripts need PyYAML (pip install pyyaml)") from None
    except Exception as e:  # yaml.YAMLError, whose import is optional
        if type(e).__module__.startswith("yaml"):
            raise ScriptError(f"{path}: invalid YAML: {' '.join(str(e).split())}") from None
        raise
    if not isinstance(data, dict):
        raise ScriptError(f"{path}: a script is a table of keys (fps, models, path, keyframes, ...)")
    return data


TOP_KEYS = (
    "preset", "fps", "bpm", "duration", "size", "fit", "blend", "models", "path", "keyframes", "tracks", "output",
    "beats", "audio", "reactions", "walks", "directions", "noise", "masks",
)
OUTPUT_KEYS = (
    "file", "format", "codec", "crf", "preset", "pix_fmt", "even_size", "audio", "audio_offset",
    "temporal_blur", "blur", "segment", "title",
)
PRESET_KEYS = ("description", "fps", "size", "fit", "blend", "path", "output")  # what a preset file may set
MODEL_KEYS = ("base", "transfer", "extra")
PATH_KEYS = (
    "space", "interpolation", "easing", "loop", "smooth", "pin_keyframes", "pca", "lag", "track_interpolation",
    "pace", "pace_samples", "pace_resolution", "pace_distance",
)
MAX_PACE_SAMPLES = 64

KEYFRAME_KEYS = ("time", *LATENT_KEYS, "psi", "truncation_cutoff", "interpolation", "easing", "mix", "blend", "zoom", "pan", *CAMERA_KEYS)
TRACK_KEYS = ("psi", "truncation_cutoff", "zoom", "pan_x", "pan_y", "rotate")
SCHEDULED_FIELDS = {"pan_x": "pan", "pan_y": "pan"}  # a schedule's keyframe field, where the names differ


class _Checker:
    """Validation helpers that know the file and build the one-line errors."""

    def __init__(self, file: Path | None, base_dir: Path) -> None:
        self.file = file
        self.base_dir = base_dir
        self.origins: Mapping[str, str] = {}  # setting -> "preset NAME" / "script", once presets are merged
        self.model_names: tuple[str, ...] = ()  # the models a named blend may name
        self.masks: Mapping[str, Any] = {}  # [masks.NAME] tables, for channel blends

    def error(self, where: str, message: str) -> ScriptError:
        prefix = f"{self.file}: " if self.file else ""
        origin = self.origins.get(where) or self.origins.get(where.split(".")[0], "")
        suffix = f" (set by {origin})" if origin.startswith("preset") else ""
        return ScriptError(f"{prefix}{where}: {message}{suffix}")

    def keys(self, table: Mapping[str, Any], allowed: Sequence[str], where: str) -> None:
        for key in table:
            if key not in allowed:
                raise self.error(where, f"unknown key '{key}'{_did_you_mean(str(key), allowed)}")

    def table(self, value: Any, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.error(where, f"must be a table, got {type(value).__name__}")
        return value

    def number(
        self, value: Any, where: str, *, positive: bool = False, minimum: float | None = None, maximum: float | None = None
    ) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise self.error(where, f"must be a number, got {value!r}")
        if positive and value <= 0:
            raise self.error(where, f"must be > 0, got {value!r}")
        if minimum is not None and value < minimum:
            raise self.error(where, f"must be >= {minimum:g}, got {value!r}")
        if maximum is not None and value > maximum:
            raise self.error(where, f"must be at most {maximum:g}, got {value!r}")
        return float(value)

    def integer(self, value: Any, where: str, *, minimum: int = 0, maximum: int | None = None) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.error(where, f"must be an integer >= {minimum}, got {value!r}")
        if maximum is not None and value > maximum:
            raise self.error(where, f"must be an integer from {minimum} to {maximum}, got {value!r}")
        return value

    def choice(self, value: Any, choices: Sequence[str], where: str) -> str:
        if not isinstance(value, str) or value not in choices:
            hint = _did_you_mean(str(value), choices) if isinstance(value, str) else f"; accepted: {', '.join(choices)}"
            raise self.error(where, f"{value!r} is not accepted{hint}")
        return value

    def boolean(self, value: Any, where: str) -> bool:
        if not isinstance(value, bool):
            raise self.error(where, f"must be true or false, got {value!r}")
        return value

    def model(self, value: Any, where: str) -> str:
        if not isinstance(value, str) or not value:
            raise self.error(where, f"must be a checkpoint path or a built-in name ({', '.join(BUILTIN_MODELS)})")
        if value in BUILTIN_MODELS:
            return value
        resolved = self.base_dir / value
        if not resolved.exists():
            raise self.error(where, f"model file '{value}' not found (looked in {self.base_dir})")
        if resolved.is_dir():
            raise self.error(where, f"'{value}' is a folder; give a checkpoint file (.pkl, .pt, .safetensors)")
        return str(resolved)

    def latent(self, table: Mapping[str, Any], where: str) -> LatentSource:
        given = [k for k in LATENT_KEYS if k in table]
        if not given:
            raise self.error(where, f"no latent source; give one of {', '.join(LATENT_KEYS)}")
        if len(given) > 1:
            raise self.error(where, f"two latent sources ({' and '.join(given)}); give exactly one")
        key = given[0]
        value = table[key]
        if key == "seed":
            return LatentSource("seed", seed=self.integer(value, f"{where}.seed", maximum=MAX_SEED))
        if key == "latent":
            if not isinstance(value, str) or not value:
                raise self.error(f"{where}.latent", "must be the path of a .npy or .npz file")
            file = self.base_dir / value
            if file.suffix.lower() not in (".npy", ".npz"):
                raise self.error(f"{where}.latent", f"'{value}' must be a .npy or .npz file")
            if not file.exists():
                raise self.error(f"{where}.latent", f"latent file '{value}' not found (looked in {self.base_dir})")
            return LatentSource("file", file=file)
        if not isinstance(value, list) or not value:
            raise self.error(f"{where}.{key}", "must be a list of numbers (or a list of per-layer lists for w)")
        return LatentSource(key, values=tuple(value))


def parse_script(
    data: Mapping[str, Any], *, file: Path | None = None, base_dir: Path | None = None, presets: Sequence[str] = ()
) -> Script:
    """Validate a script already read into plain data (the TOML / JSON / YAML schema), with its
    presets (and those given here, after them) applied under its own settings."""
    check = _Checker(file, base_dir or (file.parent if file else Path.cwd()))
    check.keys(data, TOP_KEYS, "top level")
    names = [*_preset_names(check, data.get("preset", [])), *presets]
    layers = [(f"preset {name}", load_preset(name, base_dir=check.base_dir)) for name in names]
    own = {k: v for k, v in data.items() if k != "preset"}
    data, origins = merge_settings([*layers, ("script", own)])
    check.origins = origins
    return dataclasses.replace(_parse_merged(check, data), presets=tuple(names), origins=origins, added_presets=tuple(presets))


def _parse_merged(check: _Checker, data: Mapping[str, Any]) -> Script:
    file = check.file
    fps = check.number(data.get("fps", 30), "fps", positive=True, maximum=MAX_FPS)
    auto_bpm = data.get("bpm") == "auto"
    bpm = check.number(data["bpm"], "bpm", positive=True) if "bpm" in data and not auto_bpm else None
    beats = check.choice(data.get("beats", "grid"), ("grid", "detected"), "beats")
    size = _parse_size(check, data["size"]) if "size" in data else None
    try:
        fit = parse_fit(data.get("fit", "extend"))
    except ValueError as e:
        raise check.error("fit", str(e)) from None
    beat_times: tuple[float, ...] = ()

    def frame_of(value: Any, where: str, bare: str = "s") -> float:
        try:
            return parse_time(value, fps=fps, bpm=bpm, bare=bare, beat_times=beat_times)
        except ValueError as e:
            raise check.error(where, str(e)) from None

    # The output first: the song it muxes is the one beats are detected in.
    output = _parse_output(check, check.table(data.get("output", {}), "output"), frame_of, fps)
    audio = parse_audio_table(check, check.table(data.get("audio", {}), "audio"), output.audio)
    if auto_bpm or beats == "detected":
        bpm, beat_times = _detected_beats(check, audio, fps, output.audio_offset, "bpm" if auto_bpm else "beats")
        beat_times = beat_times if beats == "detected" else ()

    models = check.table(data.get("models", {}), "models")
    check.keys(models, MODEL_KEYS, "models")
    if "base" not in models:
        raise check.error("models", "needs 'base': a checkpoint path or a built-in name such as \"demo\"")
    base = check.model(models["base"], "models.base")
    transfer = check.model(models["transfer"], "models.transfer") if "transfer" in models else None
    extra_models: tuple[tuple[str, str], ...] = ()
    masks: dict[str, Any] = {}
    if "extra" in models or "masks" in data:
        from renderer.plan.blends import parse_extra_models, parse_masks

        extra_models = parse_extra_models(check, models["extra"]) if "extra" in models else ()
        masks = parse_masks(check, check.table(data.get("masks", {}), "masks"))
    check.model_names = (("transfer",) if transfer else ()) + tuple(name for name, _ in extra_models)
    check.masks = masks

    default_blend = _parse_blend(check, data["blend"], "blend", transfer) if "blend" in data else None
    path = _parse_path(check, check.table(data.get("path", {}), "path"), frame_of)
    schedules = _parse_tracks(check, check.table(data.get("tracks", {}), "tracks"), fps, bpm)

    raw_keys = data.get("keyframes", [] if "walks" in data else None)
    if not isinstance(raw_keys, list) or not (raw_keys or "walks" in data):
        raise check.error("keyframes", "the script needs at least one [[keyframes]] entry (or [[walks]])")
    keyframes: list[Keyframe] = []
    for index, raw in enumerate(raw_keys):
        key = _parse_keyframe(check, index, raw, frame_of, fps, transfer)
        if keyframes and key.frame <= keyframes[-1].frame:
            prev = keyframes[-1]
            raise check.error(
                key.where(),
                f"times must strictly increase: frame {key.frame} is not after keyframes[{prev.index}] "
                f"at frame {prev.frame} (t={prev.time:g}s)",
            )
        keyframes.append(key)
    if "walks" in data:
        keyframes = _merge_walks(check, data["walks"], keyframes, frame_of, path, fps, data.get("duration"))
    if path.pace == "even-walk" and any(k.in_beats for k in keyframes):
        key = next(k for k in keyframes if k.in_beats)
        raise check.error(
            "path.pace", f"\"even-walk\" moves keyframe times, but {key.where()} is timed in beats; use pace = \"even\""
        )
    for name in schedules:
        keyed = [k.index for k in keyframes if getattr(k, SCHEDULED_FIELDS.get(name, name)) is not None]
        if keyed:
            raise check.error(f"tracks.{name}", f"also set at keyframes {keyed}; give it in one place only")

    last = keyframes[-1].frame
    if path.loop and len(keyframes) < 2:
        raise check.error("path.loop", "a loop needs at least two keyframes")
    if "duration" in data:
        num_frames = round(frame_of(data["duration"], "duration"))
        # A keyframe at exactly the end time is where the path heads ("end on the third
        # keyframe"); the video stops just before it. One after the end is a mistake.
        if num_frames < last or (num_frames == last and path.loop):
            need = f"at least {last + 1} for a loop, which returns to its first keyframe" if path.loop else f"at least {last}"
            raise check.error("duration", f"{num_frames} frames end before the last keyframe (frame {last}); need {need}")
    elif path.loop:
        # The closing segment (last keyframe back to the first) is as long as the average segment.
        num_frames = last + round((last - keyframes[0].frame) / (len(keyframes) - 1))
    else:
        num_frames = last + 1  # the last keyframe is the last frame shown
    if num_frames > MAX_FRAMES:
        raise check.error("duration", f"{num_frames:,} frames ({num_frames / fps / 3600:.1f} h); a video may have at most {MAX_FRAMES:,}")
    for name, schedule in schedules.items():
        late = [f for f in schedule.frames if f >= num_frames]
        if late:
            raise check.error(f"tracks.{name}", f"times at frames {late} fall after the video's last frame {num_frames - 1}")
    reactions = ()
    if "reactions" in data:
        reactions = parse_reactions(
            check, data["reactions"], audio, offset=output.audio_offset, transfer=transfer, space=path.space
        )
        _check_reaction_audio(reactions, fps, num_frames)
    directions: tuple[Any, ...] = ()
    if "directions" in data:
        from renderer.plan.directions import parse_directions

        directions = parse_directions(check, data["directions"], fps=fps, bpm=bpm)
        for i, track in enumerate(directions):
            late = [f for f in track.amount.frames if f >= num_frames]
            if late:
                raise check.error(f"directions[{i}].amount", f"times at frames {late} fall after the video's last frame {num_frames - 1}")
    noise = None
    if "noise" in data:
        from renderer.plan.noise import parse_noise

        noise = parse_noise(check, data["noise"], frame_of, fps=fps, bpm=bpm, num_frames=num_frames, loop=path.loop)
    if size is not None:
        _check_even(check, size, output)
    return Script(
        fit=fit,
        audio=audio,
        reactions=reactions,
        beat_times=beat_times,
        extra_models=extra_models,
        masks=masks,
        noise=noise,
        directions=directions,
        output=output,
        blend=default_blend,
        file=file,
        fps=fps,
        bpm=bpm,
        num_frames=num_frames,
        size=size,
        base_model=base,
        transfer_model=transfer,
        path=path,
        keyframes=tuple(keyframes),
        schedules=schedules,
    )


def _parse_size(check: _Checker, value: Any) -> tuple[int, int]:
    try:
        return parse_size(value)
    except ValueError as e:
        raise check.error("size", str(e)) from None


def _check_even(check: _Checker, size: tuple[int, int], output: OutputSettings) -> None:
    """An odd size that the script's own video output cannot hold fails here, with even_size = "error"
    (a render to another kind, given on the command line, is checked when its job is resolved)."""
    kind = SUFFIXES.get(output.file.suffix.lower(), "png") if output.file is not None else output.format
    step = chroma_step(output.pix_fmt)
    if kind in VIDEO_KINDS and output.even_size == "error" and (size[0] % step[0] or size[1] % step[1]):
        raise check.error("size", odd_size_message(size, output.pix_fmt))


def odd_size_message(size: tuple[int, int], pix_fmt: str) -> str:
    step = chroma_step(pix_fmt)
    return (f"{size[0]}x{size[1]} cannot be encoded as {pix_fmt}, which needs a width that is a multiple of {step[0]} "
            f"and a height that is a multiple of {step[1]}; give an even size, or set output.even_size = "
            '"round" (a size rounded down) or "pad" (black rows/columns)')


def _detected_beats(
    check: _Checker, audio: AudioSettings, fps: float, offset: float, where: str
) -> tuple[float, tuple[float, ...]]:
    """The song's tempo and its beats in video seconds (those at or after the video's start)."""
    from renderer.audio.features import analyze_file  # decoding and analysis only when asked for

    if audio.file is None:
        raise check.error(where, "detecting the tempo and beats needs the song: set output.audio or [audio] file")
    features = analyze_file(audio.file, fps=fps, offset=offset, bands=audio.bands)
    times = tuple(float(t - offset) for t in features.beats if t - offset >= 0)
    if features.tempo <= 0 or len(times) < 2:
        raise check.error(where, f"no steady beat found in audio file {audio.file}; give bpm as a number")
    return features.tempo, times


def _check_reaction_audio(reactions: Sequence[Reaction], fps: float, num_frames: int) -> None:
    """AudioError (one line naming the file) when a reaction's song is not audio, is silent, or
    ends before the video does."""
    from renderer.audio.decode import load_audio
    from renderer.errors import AudioError

    for file in dict.fromkeys(r.audio for r in reactions):
        offset = next(r.offset for r in reactions if r.audio == file)
        duration = load_audio(file).duration
        needed = offset + (num_frames - 1) / fps
        if duration + 0.5 / fps < needed:
            raise AudioError(
                f"audio file {file}: {duration:.2f} s is shorter than the video it drives "
                f"({num_frames} frames at {fps:g} fps from {offset:g} s need {needed:.2f} s)"
            )
def _merge_walks(
    check: _Checker, raw: Any, typed: list[Keyframe], frame_of: Any, path: PathSettings, fps: float, duration: Any,
) -> list[Keyframe]:
    """The typed keyframes and those of the [[walks]], in time order, indexed in that order."""
    from renderer.plan.walks import expand_walks

    frames = round(frame_of(duration, "duration")) if duration is not None else None
    generated = expand_walks(check, raw, frame_of, duration=frames, loop=path.loop, fps=fps)
    merged = sorted(typed + generated, key=lambda k: k.frame)
    for a, b in zip(merged, merged[1:], strict=False):
        if a.frame == b.frame:
            first, second = sorted((a, b), key=lambda k: k.label is not None and k.label.startswith("walks"))
            raise check.error(second.where(), f"falls on frame {a.frame}, where {first.where()} is; move one or change the walk's start or every")
    return [dataclasses.replace(k, index=i, label=k.label or f"keyframes[{k.index}]") for i, k in enumerate(merged)]


def _parse_output(check: _Checker, table: dict[str, Any], frame_of: Any, fps: float) -> OutputSettings:
    check.keys(table, OUTPUT_KEYS, "output")
    values: dict[str, Any] = {}
    for key in ("file", "preset", "pix_fmt", "title"):
        if key in table:
            if not isinstance(table[key], str) or not table[key]:
                raise check.error(f"output.{key}", f"must be a non-empty string, got {table[key]!r}")
            values[key] = table[key]
    if "file" in values:
        values["file"] = check.base_dir / values["file"]
    if "format" in table:
        values["format"] = check.choice(table["format"], OUTPUT_KINDS, "output.format")
    if "codec" in table:
        values["codec"] = check.choice(table["codec"], CODECS, "output.codec")
    if "even_size" in table:
        values["even_size"] = check.choice(table["even_size"], EVEN_SIZES, "output.even_size")
    if "crf" in table:
        values["crf"] = check.integer(table["crf"], "output.crf")
    if "audio" in table:
        if not isinstance(table["audio"], str) or not table["audio"]:
            raise check.error("output.audio", "must be the path of an audio file (wav, mp3, flac, ...)")
        audio = check.base_dir / table["audio"]
        if not audio.is_file():
            raise check.error("output.audio", f"audio file '{table['audio']}' not found (looked in {check.base_dir})")
        values["audio"] = audio
    if "audio_offset" in table:
        raw = table["audio_offset"]
        if isinstance(raw, str):
            values["audio_offset"] = _signed_frames(frame_of, raw, "output.audio_offset") / fps
        else:
            values["audio_offset"] = check.number(raw, "output.audio_offset")
    for key in ("temporal_blur", "blur"):
        if key in table:
            values[key] = check.number(table[key], f"output.{key}", minimum=0)
    if "segment" in table:
        values["segment"] = frame_of(table["segment"], "output.segment") / fps
        if values["segment"] <= 0:
            raise check.error("output.segment", "must be a positive duration, like \"4s\"")
    output = OutputSettings(**values)
    try:  # the encoder's own checks (crf range, preset names, ...), so a script fails at validation
        encoder_settings(output)
    except RendererError as e:
        raise check.error("output", str(e)) from None
    return output


TIMED_OUTPUT_KEYS = ("segment", "audio_offset")  # may be written as times ("4s", "48f", "16b")


def apply_output_overrides(
    output: OutputSettings, overrides: Mapping[str, Any], *, fps: float | None = None, bpm: float | None = None
) -> OutputSettings:
    """[output] settings with `overrides` (the library's settings or the command line's flags)
    applied key by key, checked exactly as a script's [output] table is.

    Paths are used as given (relative to the current folder). Without `fps` (no script yet),
    times written as strings are left for the check that has the script.
    Raises:
        ScriptError naming the key, e.g. "output.blur: must be a number, got 'x'"
    """
    check = _Checker(None, Path.cwd())
    table = {k: str(v) if isinstance(v, Path) else v for k, v in overrides.items()}
    if fps is None:
        table = {k: v for k, v in table.items() if not (k in TIMED_OUTPUT_KEYS and isinstance(v, str))}

    def frame_of(value: Any, where: str, bare: str = "s") -> float:
        try:
            return parse_time(value, fps=fps or 1.0, bpm=bpm, bare=bare)
        except ValueError as e:
            raise check.error(where, str(e)) from None

    given = _parse_output(check, table, frame_of, fps or 1.0)
    values = {k: Path(overrides[k]) if k in ("file", "audio") else getattr(given, k) for k in table}
    merged = dataclasses.replace(output, **values)
    try:  # the overrides together with the script's own settings (a preset for this codec, ...)
        encoder_settings(merged)
    except RendererError as e:
        raise check.error("output", str(e)) from None
    return merged


def encoder_settings(output: OutputSettings) -> EncoderSettings:
    """The ffmpeg settings of an [output] table."""
    return EncoderSettings(
        codec=output.codec,  # type: ignore[arg-type]
        crf=output.crf,
        preset=output.preset,
        pix_fmt=output.pix_fmt,
        even_size=output.even_size,  # type: ignore[arg-type]
    )


def _parse_path(check: _Checker, table: dict[str, Any], frame_of: Any) -> PathSettings:
    check.keys(table, PATH_KEYS, "path")
    defaults = PathSettings()
    lag: list[tuple[str | tuple[int, ...], float]] = []
    raw_lag = check.table(table.get("lag", {}), "path.lag")
    for layers, time in raw_lag.items():
        where = f"path.lag.{layers}"
        try:
            parsed = parse_layers(layers)
        except ValueError as e:
            raise check.error(where, str(e)) from None
        lag.append((parsed, _signed_frames(frame_of, time, where)))  # negative: those layers lead
    pca = table.get("pca")
    settings = PathSettings(
        space=check.choice(table.get("space", defaults.space), SPACES, "path.space"),
        interpolation=check.choice(table.get("interpolation", defaults.interpolation), INTERPOLATIONS, "path.interpolation"),  # type: ignore[arg-type]
        easing=check.choice(table.get("easing", defaults.easing), EASINGS, "path.easing"),  # type: ignore[arg-type]
        loop=check.boolean(table.get("loop", defaults.loop), "path.loop"),
        smooth=check.number(table.get("smooth", defaults.smooth), "path.smooth", minimum=0),
        pin_keyframes=check.boolean(table.get("pin_keyframes", defaults.pin_keyframes), "path.pin_keyframes"),
        pca=check.integer(pca, "path.pca", minimum=1) if pca is not None else None,
        lag=tuple(lag),
        track_interpolation=check.choice(  # type: ignore[arg-type]
            table.get("track_interpolation", defaults.track_interpolation), INTERPOLATIONS, "path.track_interpolation"
        ),
        **_parse_pace(check, table, defaults),
    )
    if settings.space == "z" and (settings.lag or settings.pca):
        raise check.error("path", "lag and pca act on per-layer w; they need space = \"w\"")
    return settings


def _parse_pace(check: _Checker, table: dict[str, Any], defaults: PathSettings) -> dict[str, Any]:
    """The path's pacing keys: pace, and how the pacing pass measures (samples, proxy size, distance)."""
    values: dict[str, Any] = {"pace": check.choice(table.get("pace", defaults.pace), PACES, "path.pace")}
    if "pace_samples" in table:
        values["pace_samples"] = check.integer(table["pace_samples"], "path.pace_samples", minimum=1, maximum=MAX_PACE_SAMPLES)
    if "pace_resolution" in table:
        size = check.integer(table["pace_resolution"], "path.pace_resolution", minimum=4, maximum=MAX_SIZE)
        if size & (size - 1):
            raise check.error("path.pace_resolution", f"must be a power of two >= 4 (a level of the model), got {size}")
        values["pace_resolution"] = size
    if "pace_distance" in table:
        distance = table["pace_distance"]
        if not isinstance(distance, str) or not distance:
            raise check.error("path.pace_distance", f"must be {', '.join(PACE_DISTANCES)} or the path of a perceptual network (.pt)")
        if distance not in PACE_DISTANCES:
            if not distance.endswith(".pt"):
                raise check.error(
                    "path.pace_distance",
                    f"{distance!r} is not accepted; use {', '.join(PACE_DISTANCES)} or a perceptual network file (.pt, like vgg16.pt)",
                )
            network = check.base_dir / distance
            if not network.is_file():
                raise check.error("path.pace_distance", f"perceptual network '{distance}' not found (looked in {check.base_dir})")
            distance = str(network)
        values["pace_distance"] = distance
    return values


def _parse_tracks(check: _Checker, table: dict[str, Any], fps: float, bpm: float | None) -> dict[str, Schedule]:
    check.keys(table, TRACK_KEYS, "tracks")
    schedules = {}
    for name, text in table.items():
        if not isinstance(text, str):
            raise check.error(f"tracks.{name}", f"must be a schedule string like \"0:(0.7), 8s:(1.0)\", got {text!r}")
        try:
            schedules[name] = parse_schedule(text, fps=fps, bpm=bpm)
            for value in schedules[name].values:
                if name == "zoom":
                    parse_zoom(value)
                elif name in ("pan_x", "pan_y") and not -1 <= value <= 1:
                    raise ValueError(f"pan values run from -1 (left/top) to 1 (right/bottom), got {value:g}")
        except ValueError as e:
            raise check.error(f"tracks.{name}", str(e)) from None
    return schedules


def _parse_keyframe(
    check: _Checker, index: int, raw: Any, frame_of: Any, fps: float, transfer: str | None
) -> Keyframe:
    where = f"keyframes[{index}]"
    table = check.table(raw, where)
    if "time" not in table:
        raise check.error(where, f"needs a 'time': {TIME_FORMS}")
    frame = round(frame_of(table["time"], f"{where}.time"))
    where = f"keyframes[{index}] (t={frame / fps:g}s)"
    check.keys(table, KEYFRAME_KEYS, where)
    source = check.latent(table, where)
    psi = check.number(table["psi"], f"{where}.psi") if "psi" in table else None
    cutoff = check.integer(table["truncation_cutoff"], f"{where}.truncation_cutoff") if "truncation_cutoff" in table else None
    interpolation = (
        check.choice(table["interpolation"], INTERPOLATIONS, f"{where}.interpolation") if "interpolation" in table else None
    )
    easing = check.choice(table["easing"], EASINGS, f"{where}.easing") if "easing" in table else None
    mixes = []
    raw_mix = table.get("mix", [])
    for j, item in enumerate(raw_mix if isinstance(raw_mix, list) else [raw_mix]):
        mix_where = f"{where}.mix[{j}]"
        item = check.table(item, mix_where)
        check.keys(item, ("layers", *LATENT_KEYS), mix_where)
        if "layers" not in item:
            raise check.error(mix_where, "needs 'layers': coarse, middle, fine, a range like \"4-7\" or a list")
        try:
            layers = parse_layers(item["layers"])
        except ValueError as e:
            raise check.error(f"{mix_where}.layers", str(e)) from None
        mixes.append(StyleMix(layers, check.latent(item, mix_where)))
    blend = _parse_blend(check, table["blend"], f"{where}.blend", transfer) if "blend" in table else None
    translate = _parse_translate(check, table["translate"], f"{where}.translate") if "translate" in table else None
    rotate = (check.number(table["rotate"], f"{where}.rotate", minimum=-MAX_ROTATE, maximum=MAX_ROTATE)
              if "rotate" in table else None)
    camera: dict[str, Any] = {}
    for key, parse in (("zoom", parse_zoom), ("pan", parse_pan)):
        try:
            camera[key] = parse(table[key]) if key in table else None
        except ValueError as e:
            raise check.error(f"{where}.{key}", str(e)) from None
    return Keyframe(
        zoom=camera["zoom"],
        pan=camera["pan"],
        index=index,
        frame=frame,
        time=frame / fps,
        source=source,
        psi=psi,
        truncation_cutoff=cutoff,
        interpolation=interpolation,  # type: ignore[arg-type]
        easing=easing,  # type: ignore[arg-type]
        mix=tuple(mixes),
        blend=blend,
        in_beats=_in_beats(table["time"]),
        translate=translate,
        rotate=rotate,
    )


def _in_beats(value: Any) -> bool:
    """Whether a time is written in beats ("16b")."""
    match = _TIME_UNIT.match(value) if isinstance(value, str) else None
    return bool(match and match.group(2) == "b")


def _parse_translate(check: _Checker, value: Any, where: str) -> tuple[float, float]:
    """A camera offset [x, y] in image widths (x to the right, y down)."""
    if (not isinstance(value, list) or len(value) != 2
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value)):
        raise check.error(where, f"must be [x, y]: two numbers in image widths, like [0.1, -0.05]; got {value!r}")
    if max(abs(v) for v in value) > MAX_TRANSLATE:
        raise check.error(where, f"must be [x, y] with each from -{MAX_TRANSLATE:g} to {MAX_TRANSLATE:g} image widths; got {value!r}")
    return float(value[0]), float(value[1])


def _signed_frames(frame_of: Any, value: Any, where: str) -> float:
    """A time that may be negative ("-0.25", "-6f", -0.25) in frames: frame_of of its size, signed."""
    if isinstance(value, str) and value.strip().startswith("-"):
        return -frame_of(value.strip()[1:], where)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
        return -frame_of(-value, where)
    return frame_of(value, where)


def _parse_blend(check: _Checker, value: Any, where: str, transfer: str | None) -> Any:
    """A blend spec (see renderer.blendspec): a number, {swap = R, low = ..., width = W} or
    {resolution = alpha}; returned with integer resolution keys and the default `low` filled in."""
    names = check.model_names
    words = [str(k) for k in value if not is_resolution(k) and k not in ("swap", "low", "width")] if isinstance(value, Mapping) else []
    if any(w in names for w in words) or (words and len(names) > 1):  # names models (a misspelt one too)
        from renderer.plan.blends import parse_model_blend

        return parse_model_blend(check, value, where, names, check.masks)
    if transfer is None:
        more = f" (or name the models: {{{names[0]} = 0.5}})" if names else ""
        raise check.error(where, f"blending needs a transfer model: add models.transfer{more}")
    spec = value
    if isinstance(value, Mapping):
        spec = {int(k) if is_resolution(k) or str(k).isdigit() else k: v for k, v in value.items()}
        if "swap" in spec:
            spec = {"low": "transfer", **spec}
    # Which sizes a table may name depends on the model (StyleGAN3 layer sizes such as 36): checked
    # against it when the keyframes are resolved. Here, any whole size from 4 up.
    sizes = [k for k in spec if isinstance(k, int) and k >= 4] if isinstance(spec, Mapping) else []
    try:
        alpha_by_resolution(spec, [4, *sizes])  # the library's own checks, so scripts accept what it accepts
    except ValueError as e:
        raise check.error(where, str(e)) from None
    return spec if isinstance(spec, Mapping) else float(spec)


__all__ = [
    "Keyframe",
    "LatentSource",
    "OutputSettings",
    "PathSettings",
    "Schedule",
    "Script",
    "ScriptError",
    "StyleMix",
    "load_script",
    "parse_layers",
    "parse_schedule",
    "parse_script",
    "parse_time",
]
