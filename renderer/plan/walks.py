"""Generated walks: `[[walks]]` tables that fill a time span with seeded keyframes (no torch).

Two kinds:

- `kind = "seeds"` (the default): a keyframe every `every` from `start` to `end`, its latent a seed
  drawn from `seed` (a seeded stream of seeds), the next of a `seeds` list (cycled), or the next
  file of a `latents` folder of .npy / .npz latents (sorted by name; shuffled when `seed` is given).
- `kind = "loop"`: a smooth random loop, a Fourier series of `harmonics` random z directions with
  period `period` (default: the walk's span), sampled every `every`. Mapped into W (space "w") it
  is a smooth loop in W; with `path.loop` and a period that divides the video, the seam is as
  smooth as the rest.

The generated keyframes are ordinary `Keyframe`s (merged with the typed ones by time), so they are
validated, interpolated, previewed and shown by `renderer validate` like typed keyframes; their
place in errors and tables reads "walks[0] #3".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from renderer.plan.paths import EASINGS, INTERPOLATIONS
from renderer.plan.seeds import MAX_SEED

WALK_KINDS = ("seeds", "loop")
WALK_KEYS = (
    "kind", "start", "end", "every", "seed", "seeds", "latents", "period", "harmonics",
    "psi", "truncation_cutoff", "interpolation", "easing",
)
LATENT_SUFFIXES = (".npy", ".npz")
MAX_HARMONICS = 16


def walk_seeds(seed: int, count: int) -> list[int]:
    """`count` seeds drawn from the stream of `seed`: the same list for the same seed, always."""
    return [int(s) for s in np.random.RandomState(seed).randint(0, 2**31 - 1, size=count)]


def loop_z(seed: int, z_dim: int, phase: float, harmonics: int) -> NDArray[np.float64]:
    """A point of the seeded Fourier loop in z at `phase` (in periods; 1 is 0 again): float64 [z_dim].

    `sum_k (a_k cos(2 pi k phase) + b_k sin(2 pi k phase)) / k`, a_k and b_k standard normal, scaled
    so each component has unit variance, as a z drawn the NVIDIA way has: a smooth periodic path on
    about the shell the mapping network was trained on.
    """
    coefs = np.random.RandomState(seed).randn(2 * harmonics, z_dim)
    k = np.arange(1, harmonics + 1, dtype=np.float64)
    angle = 2 * math.pi * k * phase
    weights = np.concatenate([np.cos(angle), np.sin(angle)]) / np.concatenate([k, k])
    return weights @ coefs / math.sqrt(float(np.sum(1.0 / k**2)))


def expand_walks(
    check: Any,
    raw: Any,
    frame_of: Callable[..., float],
    *,
    duration: float | None,
    loop: bool,
    fps: float,
) -> list[Any]:
    """Every `[[walks]]` table's keyframes (renderer.plan.script.Keyframe, unsorted).

    Args:
        check: the script's validation helper (its one-line errors)
        duration: the script's duration in frames, if it gives one (a walk's default end)
        loop: path.loop: a keyframe at the very end of a looping video is its first keyframe again
    """
    from renderer.plan.script import Keyframe  # the schema imports this module

    if not isinstance(raw, list):
        raise check.error("walks", "must be a list of [[walks]] tables")
    keys: list[Keyframe] = []
    for index, item in enumerate(raw):
        for number, (frame, source, extra) in enumerate(_walk_keys(check, index, item, frame_of, duration, loop)):
            keys.append(Keyframe(index=-1, frame=frame, time=frame / fps, source=source, label=f"walks[{index}] #{number}", **extra))
    return keys


def _walk_keys(
    check: Any, index: int, item: Any, frame_of: Callable[..., float], duration: float | None, loop: bool
) -> list[tuple[int, Any, dict[str, Any]]]:
    from renderer.plan.script import LatentSource

    where = f"walks[{index}]"
    table = check.table(item, where)
    check.keys(table, WALK_KEYS, where)
    kind = check.choice(table.get("kind", "seeds"), WALK_KINDS, f"{where}.kind")
    start = frame_of(table.get("start", 0), f"{where}.start")
    if "end" in table:
        end = frame_of(table["end"], f"{where}.end")
    elif duration is not None:
        end = duration
    else:
        raise check.error(where, "needs an 'end' time (or a duration at the top of the script)")
    if end <= start:
        raise check.error(f"{where}.end", f"must be after the start (frame {start:g}), got frame {end:g}")
    if "every" not in table:
        raise check.error(where, "needs 'every': the time between its keyframes, like \"4b\" or \"2s\"")
    every = frame_of(table["every"], f"{where}.every")
    if every < 1:
        raise check.error(f"{where}.every", f"must be at least one frame, got {every:g} frames")
    times = start + every * np.arange(int(math.floor((end - start) / every + 1e-9)) + 1)
    frames = np.round(times).astype(np.int64)
    if loop and duration is not None:
        frames = frames[frames < round(duration)]  # the loop's closing keyframe is its first
    count = len(frames)

    extra: dict[str, Any] = {}
    if "psi" in table:
        extra["psi"] = check.number(table["psi"], f"{where}.psi")
    if "truncation_cutoff" in table:
        extra["truncation_cutoff"] = check.integer(table["truncation_cutoff"], f"{where}.truncation_cutoff")
    extra["interpolation"] = check.choice(table["interpolation"], INTERPOLATIONS, f"{where}.interpolation") if "interpolation" in table else None
    extra["easing"] = check.choice(table["easing"], EASINGS, f"{where}.easing") if "easing" in table else None
    extra.setdefault("psi", None)
    extra.setdefault("truncation_cutoff", None)

    if kind == "loop":
        for key in ("seeds", "latents"):
            if key in table:
                raise check.error(f"{where}.{key}", "a loop walk is drawn from one 'seed'; seeds and latents are for kind = \"seeds\"")
        seed = check.integer(table.get("seed", 0), f"{where}.seed", maximum=MAX_SEED)
        period = frame_of(table["period"], f"{where}.period") if "period" in table else end - start
        harmonics = check.integer(table.get("harmonics", 2), f"{where}.harmonics", minimum=1, maximum=MAX_HARMONICS)
        if period <= 0:
            raise check.error(f"{where}.period", "must be a positive duration")
        if period / every < 2 * harmonics + 1:
            raise check.error(
                f"{where}.every",
                f"{period / every:g} keyframes per period cannot follow {harmonics} harmonics; "
                f"need at least {2 * harmonics + 1} (a smaller 'every' or fewer harmonics)",
            )
        sources = [
            LatentSource("loop", seed=seed, phase=float(np.mod((t - start) / period, 1.0)), harmonics=harmonics)
            for t in times[:count]
        ]
    else:
        for key in ("period", "harmonics"):
            if key in table:
                raise check.error(f"{where}.{key}", "is for kind = \"loop\"")
        sources = _seed_sources(check, where, table, count)
    return [(int(f), s, extra) for f, s in zip(frames, sources, strict=True)]


def _seed_sources(check: Any, where: str, table: dict[str, Any], count: int) -> list[Any]:
    from renderer.plan.script import LatentSource

    given = [k for k in ("seeds", "latents") if k in table]
    if len(given) > 1:
        raise check.error(where, "give one of seed, seeds or latents")
    if "seeds" in table:
        if "seed" in table:
            raise check.error(where, "give one of seed, seeds or latents (a seed shuffles only a latents folder)")
        seeds = table["seeds"]
        if not isinstance(seeds, list) or not seeds:
            raise check.error(f"{where}.seeds", "must be a non-empty list of seeds")
        checked = [check.integer(s, f"{where}.seeds", maximum=MAX_SEED) for s in seeds]
        return [LatentSource("seed", seed=checked[i % len(checked)]) for i in range(count)]
    seed = check.integer(table["seed"], f"{where}.seed", maximum=MAX_SEED) if "seed" in table else None
    if "latents" in table:
        files = _latent_files(check, f"{where}.latents", table["latents"])
        if seed is not None:
            files = [files[i] for i in np.random.RandomState(seed).permutation(len(files))]
        return [LatentSource("file", file=files[i % len(files)]) for i in range(count)]
    return [LatentSource("seed", seed=s) for s in walk_seeds(seed or 0, count)]


def _latent_files(check: Any, where: str, value: Any) -> Sequence[Path]:
    if not isinstance(value, str) or not value:
        raise check.error(where, "must be the path of a folder of .npy / .npz latents")
    folder = check.base_dir / value
    if not folder.is_dir():
        raise check.error(where, f"folder '{value}' not found (looked in {check.base_dir})")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in LATENT_SUFFIXES and p.is_file())
    if not files:
        raise check.error(where, f"folder '{value}' holds no .npy or .npz latents")
    return files


__all__ = ["WALK_KINDS", "expand_walks", "loop_z", "walk_seeds"]
