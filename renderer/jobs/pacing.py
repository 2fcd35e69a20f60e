"""Even pacing for a render: the pacing pass, run once per path and cached beside the output.

The re-timing depends on the whole path, so it is computed once, before any frame is rendered, and
is then the same for every chunk and segment. The measured arc length is cached as
`.NAME.pace.npz` beside the output, under a hash of everything that shapes it (the keyframes as
resolved, the path's shape, the tracks that change the picture, the models, the pacing settings):
a resumed render, or another worker of a distributed one, reads the same timing instead of
measuring again, and a changed path measures anew.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from renderer import __version__
from renderer.frames.pacing import FeaturesFn, measure_script, measuring_plan, pace_warp
from renderer.models.synthesizer import NoiseMode, Synthesizer
from renderer.output.files import atomic_path
from renderer.output.manifest import file_sha256, model_sha256
from renderer.plan.retime import PACE_DISTANCES, ArcLength
from renderer.plan.script import Script
from renderer.plan.timeline import ResolvedKeyframes, Timeline, plan_timeline

# What the pacing pass does not depend on: easing and smoothing act after it, on the frames.
_UNMEASURED_PATH = ("easing", "smooth", "pin_keyframes", "lag", "pace")


@dataclasses.dataclass(frozen=True)
class Pacing:
    """How a timeline was paced: the measured arc length, where it is cached, and what it cost."""

    arc: ArcLength
    key: str  # sha256 of what the measurement depends on
    cache: Path | None
    reused: bool  # read from the cache instead of measured
    seconds: float  # the pacing pass (0 when reused)


def pace_cache_path(output: Path) -> Path:
    """Where a render to `output` keeps its pacing: `.NAME.pace.npz` beside it."""
    return output.parent / f".{output.name}.pace.npz"


def pace_key(
    script: Script, keys: ResolvedKeyframes, models: Sequence[str], noise_mode: NoiseMode, speed: NDArray | None = None
) -> str:
    """sha256 of everything the pacing pass measures: keyframes and their tracks, the path's shape,
    the models (by content), the pacing settings (a perceptual network by content), noise, and the
    target speed curve (its correction compares the frames it places)."""
    path = {k: v for k, v in dataclasses.asdict(script.path).items() if k not in _UNMEASURED_PATH}
    if script.path.pace_distance not in PACE_DISTANCES:
        path["pace_distance"] = file_sha256(script.path.pace_distance)
    keyframes = [
        {"frame": k.frame, "psi": k.psi, "truncation_cutoff": k.truncation_cutoff, "interpolation": k.interpolation}
        for k in script.keyframes
    ]
    plan = {
        "renderer": __version__, "num_frames": script.num_frames, "path": path, "keyframes": keyframes,
        "schedules": {name: dataclasses.asdict(s) for name, s in sorted(script.schedules.items())},
        "models": [model_sha256(m, __version__) for m in models], "noise_mode": noise_mode,
        "num_ws": keys.num_ws, "blend_resolutions": list(keys.blend_resolutions),
    }
    digest = hashlib.sha256(json.dumps(plan, sort_keys=True, default=str).encode())
    for array in (keys.latents, keys.blends, keys.pca_basis, speed):
        if array is not None:
            digest.update(np.ascontiguousarray(array, dtype=np.float64).tobytes())
    return digest.hexdigest()


def read_cached_arc(cache: Path, key: str) -> ArcLength | None:
    """The arc length cached under `key`, or None (missing, another path's, or unreadable)."""
    try:
        with np.load(cache, allow_pickle=False) as data:
            if str(data["key"]) != key:
                return None
            return ArcLength(np.asarray(data["positions"], dtype=np.float64), np.asarray(data["length"], dtype=np.float64))
    except (OSError, KeyError, ValueError, EOFError):
        return None


def write_cached_arc(cache: Path, key: str, arc: ArcLength) -> None:
    """Cache the arc length under `key` (atomically)."""
    with atomic_path(cache) as tmp, open(tmp, "wb") as f:
        np.savez(f, key=np.array(key), positions=arc.positions, length=arc.length)


def pace_timeline(
    script: Script,
    keys: ResolvedKeyframes,
    G: Synthesizer,
    *,
    models: Sequence[str],
    cache: Path | None = None,
    features: FeaturesFn | None = None,
    speed: NDArray | None = None,
    noise_mode: NoiseMode = "const",
    progress: Callable[[int, int], None] | None = None,
) -> tuple[Timeline, Pacing]:
    """The script's timeline paced by image change (script.path.pace "even" or "even-walk").

    Args:
        G: the generator its frames are rendered with (blended when the script blends), fp32
        models: the script's checkpoints (hashed into the cache key)
        cache: the cache file (pace_cache_path of the output); None: always measure, keep nothing
        features: a perceptual network's feature function when path.pace_distance names one
        speed: a target speed curve, float [T] relative image change per frame step (None: flat)
        progress: (samples done, total) during the pacing pass
    """
    key = pace_key(script, keys, models, noise_mode, speed)
    arc = read_cached_arc(cache, key) if cache is not None and cache.exists() else None
    reused, seconds = arc is not None, 0.0
    if arc is None:
        start = time.perf_counter()
        arc = measure_script(script, keys, G, features=features, speed=speed, noise_mode=noise_mode, progress=progress)
        seconds = time.perf_counter() - start
        if cache is not None:
            write_cached_arc(cache, key, arc)
    timeline = plan_timeline(script, keys, warp=pace_warp(script, arc, speed=speed))
    return timeline, Pacing(arc=arc, key=key, cache=cache, reused=reused, seconds=seconds)


__all__ = ["Pacing", "measuring_plan", "pace_cache_path", "pace_key", "pace_timeline", "read_cached_arc", "write_cached_arc"]
