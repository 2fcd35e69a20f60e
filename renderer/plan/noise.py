"""Noise settings of a script: constant, or animated noise maps smooth in time (no torch).

`noise = "const" | "random" | "loop"`, or a table:

    [noise]
    mode = "random"       # const: the model's stored maps (the default, as before)
                          # random: new maps drawn every `every`, blended smoothly in between
                          #   (looping with the path when path.loop is set)
                          # loop: the same, repeating every `period` (default: the video's length)
    every = "0.5s"        # time between independent maps
    period = "4s"         # loop only
    seed = 0
    strength = { coarse = 1, middle = "0:(1), 2s:(0)", fine = 0.5 }

`strength` multiplies the model's trained noise strength per layer group (coarse 4-8 px, middle
16-32 px, fine 64 px and up): a number or a schedule keyframed like psi, in any mode. The maps of
animated noise are a pure function of (seed, layer, frame), so any chunking and any segment gives
the same frames (renderer.frames.noise makes them).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from renderer.plan.layers import LAYER_GROUPS
from renderer.plan.script import Schedule, parse_schedule
from renderer.plan.seeds import MAX_SEED

NOISE_KINDS = ("const", "random", "loop")
NOISE_KEYS = ("mode", "every", "period", "seed", "strength")
DEFAULT_EVERY_S = 1.0


@dataclasses.dataclass(frozen=True)
class NoiseSettings:
    mode: str = "const"
    every: float = 0.0  # frames between independent maps (animated modes)
    period: float | None = None  # frames after which the maps repeat; None: never
    seed: int = 0
    strength: tuple[tuple[str, Schedule], ...] = ()  # (layer group, multiplier schedule)

    @property
    def animated(self) -> bool:
        return self.mode != "const"


def parse_noise(
    check: Any, raw: Any, frame_of: Any, *, fps: float, bpm: float | None, num_frames: int, loop: bool
) -> NoiseSettings:
    """The script's `noise` (a mode name or a table), checked; times after the video are errors."""
    table = {"mode": raw} if isinstance(raw, str) else check.table(raw, "noise")
    check.keys(table, NOISE_KEYS, "noise")
    mode = check.choice(table.get("mode", "const"), NOISE_KINDS, "noise.mode" if not isinstance(raw, str) else "noise")
    if mode == "const":
        for key in ("every", "period", "seed"):
            if key in table:
                raise check.error(f"noise.{key}", "is for animated noise: mode = \"random\" or \"loop\"")
    every = frame_of(table.get("every", DEFAULT_EVERY_S), "noise.every")
    if mode != "const" and every < 1:
        raise check.error("noise.every", f"must be at least one frame, got {every:g} frames")
    period = None
    if "period" in table and mode != "loop":
        raise check.error("noise.period", "is for mode = \"loop\" (\"random\" loops with the path)")
    if mode == "loop":
        period = frame_of(table["period"], "noise.period") if "period" in table else float(num_frames)
        if period < every:
            raise check.error("noise.period", f"must be at least noise.every ({every:g} frames), got {period:g} frames")
    elif mode == "random" and loop:
        period = float(num_frames)
    seed = check.integer(table.get("seed", 0), "noise.seed", maximum=MAX_SEED)
    strength = []
    for group, value in check.table(table.get("strength", {}), "noise.strength").items():
        where = f"noise.strength.{group}"
        if group not in LAYER_GROUPS:
            raise check.error("noise.strength", f"unknown layer group '{group}'; accepted: {', '.join(LAYER_GROUPS)}")
        if isinstance(value, str):
            try:
                schedule = parse_schedule(value, fps=fps, bpm=bpm)
            except ValueError as e:
                raise check.error(where, str(e)) from None
            late = [f for f in schedule.frames if f >= num_frames]
            if late:
                raise check.error(where, f"times at frames {late} fall after the video's last frame {num_frames - 1}")
        else:
            schedule = Schedule((0,), (check.number(value, where),))
        strength.append((group, schedule))
    order = {g: i for i, g in enumerate(LAYER_GROUPS)}
    return NoiseSettings(
        mode=mode, every=every if mode != "const" else 0.0, period=period, seed=seed,
        strength=tuple(sorted(strength, key=lambda gs: order[gs[0]])),
    )


__all__ = ["NOISE_KINDS", "NoiseSettings", "parse_noise"]
