"""Direction tracks: `[[directions]]` in a script moves the ws along a latent direction (no torch).

`{ file = "dirs.npz", index = 0, amount = "0:(0), 2s:(3)", layers = "coarse" }`: the direction
`index` of a direction file (renderer.models.directions reads the layouts), on the given layers
(default: the layers the file was made for, else all), by an amount keyframed like psi: a number
or a Deforum-style schedule, interpolated with path.track_interpolation, looping and smoothed with
the path. The amounts are a track ("directions" [n, D]), so anything that makes tracks (audio,
later) can drive them.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from renderer.plan.script import Schedule, parse_layers, parse_schedule

DIRECTION_KEYS = ("file", "index", "amount", "layers")
DIRECTION_SUFFIXES = (".npy", ".npz")


@dataclasses.dataclass(frozen=True)
class DirectionTrack:
    """One direction of a file, on some layers, by an amount over time."""

    file: Path
    index: int
    amount: Schedule  # a constant is one (frame 0, value) pair
    layers: str | tuple[int, ...] | None = None  # None: the file's layers, else every layer


def parse_directions(check: Any, raw: Any, *, fps: float, bpm: float | None) -> tuple[DirectionTrack, ...]:
    """The script's [[directions]] tables, checked (the file's contents are checked against a model later)."""
    if not isinstance(raw, list):
        raise check.error("directions", "must be a list of [[directions]] tables")
    tracks = []
    for i, item in enumerate(raw):
        where = f"directions[{i}]"
        table = check.table(item, where)
        check.keys(table, DIRECTION_KEYS, where)
        if "file" not in table:
            raise check.error(where, "needs 'file': a .npy or .npz of directions (renderer directions MODEL -o dirs.npz)")
        name = table["file"]
        if not isinstance(name, str) or not name:
            raise check.error(f"{where}.file", "must be the path of a .npy or .npz file")
        file = check.base_dir / name
        if file.suffix.lower() not in DIRECTION_SUFFIXES:
            raise check.error(f"{where}.file", f"'{name}' must be a .npy or .npz file")
        if not file.is_file():
            raise check.error(f"{where}.file", f"direction file '{name}' not found (looked in {check.base_dir})")
        index = check.integer(table.get("index", 0), f"{where}.index")
        amount = table.get("amount", 1.0)
        if isinstance(amount, str):
            try:
                schedule = parse_schedule(amount, fps=fps, bpm=bpm)
            except ValueError as e:
                raise check.error(f"{where}.amount", str(e)) from None
        else:
            schedule = Schedule((0,), (check.number(amount, f"{where}.amount"),))
        layers = None
        if "layers" in table:
            try:
                layers = parse_layers(table["layers"])
            except ValueError as e:
                raise check.error(f"{where}.layers", str(e)) from None
        tracks.append(DirectionTrack(file=file, index=index, amount=schedule, layers=layers))
    return tuple(tracks)


__all__ = ["DIRECTION_KEYS", "DirectionTrack", "parse_directions"]
