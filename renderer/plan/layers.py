"""Which w layers a name or a list means: coarse, middle and fine groups (Karras et al.), no torch."""

from __future__ import annotations

LAYER_GROUPS = ("coarse", "middle", "fine")  # resolutions 4-8, 16-32, 64 and up


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
