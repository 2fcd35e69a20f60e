"""N-model and channel blends in scripts (no torch): `[models] extra`, `[masks.NAME]`, named blends.

A blend may name its models: `blend = { transfer = 0.3, toon = { 4 = 1, 64 = 0 } }` gives each named
model its weight per resolution (any blend form: a number, a swap table, a {resolution: weight}
table) and the base the rest, `1 - sum`, at every resolution. A model's entry may instead be
`{ weight = <form>, mask = "NAME" }`: a channel blend, where the weight applies only to the channels
the mask selects at each resolution (mask values in [0, 1] per feature channel), so alpha depends
on resolution *and* channel index (Pinkney & Adler's "further work").

`[masks.NAME]` says which channels, one of:
- `file = "mask.npz"`: an array per resolution (keys "4", "8", ...; [channels] values in [0, 1]);
- `channels = { 64 = "0-15", 128 = [0, 3, 5] }`: channel ranges or lists per resolution;
- `select = "drift" | "stable"`, `fraction = 0.5`: per resolution, the channels whose weights the
  model's fine-tuning moved the most ("drift") or the least ("stable") relative to the base.
`resolutions = [64, 128]` limits a mask to those resolutions. Resolutions a mask does not cover
blend every channel.

Each distinct (model, mask) is one component of the blend (models.channels builds a channel-masked
copy of the model from the base, so a channel blend becomes an ordinary per-resolution blend of
the base and that copy, which the batched per-frame path renders exactly).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from renderer.blendspec import alpha_by_resolution, describe_blend, is_resolution

MASK_KEYS = ("file", "channels", "select", "fraction", "resolutions")
SELECTIONS = ("drift", "stable")
ENTRY_KEYS = ("weight", "mask")
RESERVED = ("base", "swap", "low", "width", "weight", "mask")


@dataclasses.dataclass(frozen=True)
class MaskSpec:
    """Which channels of each resolution a channel blend takes (see the module docstring)."""

    name: str
    file: Path | None = None
    channels: tuple[tuple[int, tuple[int, ...]], ...] = ()  # (resolution, channel indices)
    select: str | None = None
    fraction: float = 0.5
    resolutions: tuple[int, ...] | None = None  # None: every resolution the form covers


@dataclasses.dataclass(frozen=True)
class ModelBlend:
    """A blend that names its models: ((model name, mask name or None, blend form), ...)."""

    parts: tuple[tuple[str, str | None, Any], ...]

    def describe(self) -> str:
        return ", ".join(f"{name} {describe_blend(form)}{f' on mask {mask}' if mask else ''}" for name, mask, form in self.parts)


def component_of(spec: Any) -> list[tuple[tuple[str, str | None], Any]]:
    """A keyframe's blend as ((model, mask), form) pairs; a plain spec is the transfer model's."""
    if isinstance(spec, ModelBlend):
        return [((name, mask), form) for name, mask, form in spec.parts]
    return [(("transfer", None), spec)]


def is_model_blend(value: Any, names: tuple[str, ...]) -> bool:
    """Whether a blend table names models (rather than a swap or a {resolution: alpha} table)."""
    return isinstance(value, Mapping) and any(str(k) in names for k in value)


def parse_model_blend(check: Any, value: Mapping[str, Any], where: str, names: tuple[str, ...], masks: Mapping[str, MaskSpec]) -> ModelBlend:
    parts = []
    for key, entry in value.items():
        name = str(key)
        if name not in names:
            hint = "; the base takes what the others leave" if name == "base" else ""
            raise check.error(where, f"unknown model '{name}'; a named blend takes {', '.join(names)}{hint}")
        mask = None
        form = entry
        if isinstance(entry, Mapping) and ("weight" in entry or "mask" in entry):
            check.keys(entry, ENTRY_KEYS, f"{where}.{name}")
            form = entry.get("weight", 1.0)
            if "mask" in entry:
                mask = entry["mask"]
                if not isinstance(mask, str) or mask not in masks:
                    known = ", ".join(masks) or "none defined; add a [masks.NAME] table"
                    raise check.error(f"{where}.{name}.mask", f"unknown mask {mask!r}; masks: {known}")
        spec = form
        if isinstance(form, Mapping):
            spec = {int(k) if is_resolution(k) else k: v for k, v in form.items()}
            if "swap" in spec:
                spec = {"low": "transfer", **spec}
        try:
            alpha_by_resolution(spec, [4])
        except ValueError as e:
            raise check.error(f"{where}.{name}", str(e)) from None
        parts.append((name, mask, spec if isinstance(spec, Mapping) else float(spec)))
    return ModelBlend(tuple(parts))


def parse_extra_models(check: Any, value: Any) -> tuple[tuple[str, str], ...]:
    """`extra = {name = path, ...}` or a list of paths (named by file stem): ((name, resolved path), ...)."""
    if isinstance(value, list):
        items = [(Path(v).stem if isinstance(v, str) else "", v) for v in value]
    elif isinstance(value, Mapping):
        items = list(value.items())
    else:
        raise check.error("models.extra", f"must be a table {{name = path}} or a list of paths, got {value!r}")
    extras = []
    for name, path in items:
        where = f"models.extra.{name}" if name else "models.extra"
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", str(name)) or name in RESERVED or name == "transfer":
            raise check.error(where, f"model name {name!r} must be a word (not {', '.join(('transfer', *RESERVED))})")
        if any(name == n for n, _ in extras):
            raise check.error(where, f"two extra models are named '{name}'")
        extras.append((str(name), check.model(path, where)))
    return tuple(extras)


def parse_masks(check: Any, table: Mapping[str, Any]) -> dict[str, MaskSpec]:
    masks = {}
    for name, raw in table.items():
        where = f"masks.{name}"
        item = check.table(raw, where)
        check.keys(item, MASK_KEYS, where)
        given = [k for k in ("file", "channels", "select") if k in item]
        if len(given) != 1:
            raise check.error(where, "give exactly one of file, channels or select")
        values: dict[str, Any] = {"name": str(name)}
        if "file" in item:
            file = item["file"]
            if not isinstance(file, str) or not file.endswith(".npz"):
                raise check.error(f"{where}.file", "must be the path of an .npz with an array per resolution (keys \"4\", \"8\", ...)")
            path = check.base_dir / file
            if not path.is_file():
                raise check.error(f"{where}.file", f"mask file '{file}' not found (looked in {check.base_dir})")
            values["file"] = path
        if "channels" in item:
            ranges = []
            for res, spec in check.table(item["channels"], f"{where}.channels").items():
                if not is_resolution(res):
                    raise check.error(f"{where}.channels", f"{res!r} is not a resolution (4, 8, 16, ...)")
                ranges.append((int(res), _channel_list(check, spec, f"{where}.channels.{res}")))
            values["channels"] = tuple(sorted(ranges))
        if "select" in item:
            values["select"] = check.choice(item["select"], SELECTIONS, f"{where}.select")
            values["fraction"] = check.number(item.get("fraction", 0.5), f"{where}.fraction", positive=True, maximum=1)
        elif "fraction" in item:
            raise check.error(f"{where}.fraction", "goes with select = \"drift\" or \"stable\"")
        if "resolutions" in item:
            res = item["resolutions"]
            if not isinstance(res, list) or not res or not all(is_resolution(r) for r in res):
                raise check.error(f"{where}.resolutions", f"must be a list of resolutions like [64, 128], got {res!r}")
            values["resolutions"] = tuple(sorted(int(r) for r in res))
        masks[str(name)] = MaskSpec(**values)
    return masks


def _channel_list(check: Any, spec: Any, where: str) -> tuple[int, ...]:
    if isinstance(spec, str):
        indices: list[int] = []
        for part in spec.split(","):
            match = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
            if not match or int(match.group(2) or match.group(1)) < int(match.group(1)):
                raise check.error(where, f"channels must look like \"0-15\" or \"0-3,8\", got {spec!r}")
            indices += range(int(match.group(1)), int(match.group(2) or match.group(1)) + 1)
        return tuple(indices)
    if isinstance(spec, list) and spec and all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in spec):
        return tuple(spec)
    raise check.error(where, f"channels must be a range like \"0-15\" or a list of indices, got {spec!r}")


__all__ = ["MaskSpec", "ModelBlend", "component_of", "is_model_blend", "parse_extra_models", "parse_masks", "parse_model_blend"]
