"""Blend specs -> per-resolution alphas (Pinkney & Adler 2020). No torch.

At the bottom of the package, beside renderer.errors: the script parser (renderer.plan) checks the
specs a script writes, and the static blends of renderer.models take the same specs.

A blend spec says how much of the transferred model each resolution takes:
`p = (1 - alpha(r)) * p_base + alpha(r) * p_transfer` for every synthesis tensor of resolution r.
The forms, as written at a keyframe or given to `renderer.blend`:

- a number: the same alpha at every resolution;
- `{"swap": R}`: the paper's layer swap, alpha 1 where r <= R and 0 above (`"low": "transfer"`, the
  default); `"low": "base"` reverses it; `"width": W` replaces the step by a logistic ramp in log2(r);
- `{4: 1.0, 8: 1.0, 16: 0.5}`: explicit alphas, absent resolutions interpolated in log2(r) and held
  at the ends.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

BlendSpec = float | Mapping[Any, Any]  # a number, a swap table or a {resolution: alpha} table
LOW_CHOICES = ("transfer", "base")


def is_resolution(value: object) -> bool:
    """A block resolution: a power of two from 4 up (as int or digit string)."""
    text = str(value)
    return text.isdigit() and int(text) >= 4 and int(text) & (int(text) - 1) == 0


def swap_alphas(resolutions: Sequence[int], swap: float, *, low: str = "transfer", width: float | None = None) -> NDArray[np.float64]:
    """The layer swap: the low resolutions (r <= swap) from the `low` model, the rest from the other.

    With `width` (in octaves) the step becomes a logistic ramp in log2(r). It is centred half an
    octave above the swap resolution, between the last swapped level and the first kept one, so a
    width tending to zero gives back the step exactly.
    """
    if low not in LOW_CHOICES:
        raise ValueError(f"low must be one of {LOW_CHOICES}, not {low!r}")
    log_r = np.log2(np.asarray(resolutions, dtype=np.float64))
    if width is None:
        from_low = (log_r <= math.log2(swap)).astype(np.float64)
    else:
        if not width > 0:
            raise ValueError(f"width must be a positive number of octaves, not {width!r}")
        centre = math.log2(swap) + 0.5
        from_low = 0.5 * (1.0 - np.tanh((log_r - centre) / (2.0 * width)))  # logistic, overflow-free
    return from_low if low == "transfer" else 1.0 - from_low


def table_alphas(resolutions: Sequence[int], table: Mapping[int, float]) -> NDArray[np.float64]:
    """Explicit alphas; resolutions not in the table are interpolated in log2(r), held at the ends."""
    if not table:
        raise ValueError("an alpha table needs at least one resolution")
    keys = sorted(table)
    known = np.log2(np.asarray(keys, dtype=np.float64))
    values = np.asarray([table[k] for k in keys], dtype=np.float64)
    return np.interp(np.log2(np.asarray(resolutions, dtype=np.float64)), known, values)


def alpha_by_resolution(spec: BlendSpec, resolutions: Sequence[int]) -> NDArray[np.float64]:
    """The alpha of each resolution in `resolutions` (float64 [R]) for any spec form.

    A table's keys are powers of two, or any of `resolutions` (StyleGAN3 layer sizes such as 36 or 52).

    Raises:
        ValueError: the spec is not one of the forms (message says which part is wrong).
    """
    if isinstance(spec, bool):
        raise ValueError("a blend must be a number, a swap table or a {resolution: alpha} table, not a boolean")
    if isinstance(spec, (int, float, np.floating, np.integer)):
        if not math.isfinite(float(spec)):
            raise ValueError(f"blend alpha must be finite, not {spec}")
        return np.full(len(resolutions), float(spec))
    if not isinstance(spec, Mapping):
        raise ValueError(f"a blend must be a number or a table, not {type(spec).__name__}")
    if "swap" in spec:
        unknown = set(spec) - {"swap", "low", "width"}
        if unknown:
            raise ValueError(f"a swap blend takes swap, low and width; unknown: {', '.join(map(str, sorted(unknown, key=str)))}")
        swap = spec["swap"]
        if isinstance(swap, bool) or not isinstance(swap, (int, float)) or swap < 1:
            raise ValueError(f"swap must be a number >= 1: the last resolution taken from the low model, like 16; not {swap!r}")
        width = spec.get("width")
        if width is not None and (isinstance(width, bool) or not isinstance(width, (int, float))):
            raise ValueError(f"width must be a positive number of octaves, not {width!r}")
        return swap_alphas(resolutions, float(swap), low=spec.get("low", "transfer"), width=width)
    table: dict[int, float] = {}
    sizes = [int(r) for r in resolutions if not is_resolution(r)]  # a StyleGAN3 model's layer sizes
    for key, value in spec.items():
        if not is_resolution(key) and not (str(key).isdigit() and int(str(key)) in sizes):
            also = f" nor one of this model's layer sizes {sorted(set(sizes))}" if sizes else ""
            raise ValueError(f"{key!r} is not a resolution (4, 8, 16, ...){also} nor 'swap'")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"the alpha of resolution {key} must be a number, not {value!r}")
        table[int(key)] = float(value)
    return table_alphas(resolutions, table)


def parse_alpha_table(text: str) -> dict[int, float]:
    """`"4=1,8=1,16=0.5"` -> {4: 1.0, 8: 1.0, 16: 0.5} (the CLI's --alphas)."""
    table: dict[int, float] = {}
    for item in text.replace(" ", "").split(","):
        if not item:
            continue
        res, sep, value = item.partition("=")
        if not sep or not is_resolution(res):
            raise ValueError(f"{item!r}: write resolution=alpha, like 4=1,8=1,16=0.5")
        try:
            table[int(res)] = float(value)
        except ValueError:
            raise ValueError(f"{item!r}: {value!r} is not a number") from None
    if not table:
        raise ValueError("no resolution=alpha pairs given (like 4=1,8=1,16=0.5)")
    return table


def make_spec(
    *,
    alpha: float | None = None,
    swap: int | None = None,
    low: str = "transfer",
    width: float | None = None,
    alphas: str | None = None,
) -> BlendSpec:
    """One blend spec from the CLI's options: exactly one of alpha, swap (with low, width) or alphas."""
    given = [name for name, value in (("--alpha", alpha), ("--swap", swap), ("--alphas", alphas)) if value is not None]
    if len(given) != 1:
        raise ValueError("give one of --swap R, --alphas \"4=1,8=0.5\" or --alpha A" + (f" (got {', '.join(given)})" if given else ""))
    if swap is None and (width is not None or low != "transfer"):
        raise ValueError("--low and --width shape a --swap blend; add --swap R")
    if alpha is not None:
        return float(alpha)
    if alphas is not None:
        return parse_alpha_table(alphas)
    spec: dict[str, Any] = {"swap": swap, "low": low}
    if width is not None:
        spec["width"] = width
    alpha_by_resolution(spec, [4])  # validate low, width and swap now
    return spec


def model_weights(specs: Sequence[BlendSpec], resolutions: Sequence[int], *, atol: float = 1e-6) -> NDArray[np.float64]:
    """Per-model weights per resolution for an N-model blend: float64 [M, R], each column summing to 1.

    Each model's spec is any blend form (a number or a {resolution: weight} table, usually).
    """
    if len(specs) < 2:
        raise ValueError("blending needs at least two models")
    weights = np.stack([alpha_by_resolution(s, resolutions) for s in specs])
    check_column_sums(weights, resolutions, atol=atol)
    return weights


def check_column_sums(weights: NDArray[np.floating], resolutions: Sequence[int], *, atol: float = 1e-6) -> None:
    """ValueError naming the resolutions whose model weights [M, R] do not sum to 1."""
    sums = weights.sum(axis=0)
    bad = [f"{r}: {s:g}" for r, s in zip(resolutions, sums, strict=True) if abs(s - 1.0) > atol]
    if bad:
        raise ValueError(f"model weights must sum to 1 at every resolution; they sum to {', '.join(bad)}")


def describe_blend(spec: BlendSpec | None) -> str:
    """A short human summary: "base", "alpha 0.5", "swap 16, width 1", "4:1 8:1 16:0.5"."""
    if spec is None:
        return "base"
    if hasattr(spec, "describe"):  # a blend that names its models (renderer.plan.blends.ModelBlend)
        return str(spec.describe())
    if not isinstance(spec, Mapping):
        return f"alpha {float(spec):g}"
    if "swap" in spec:
        text = f"swap {spec['swap']:g}"
        text += f", width {spec['width']:g}" if spec.get("width") else ""
        return text + (", low base" if spec.get("low") == "base" else "")
    return " ".join(f"{int(r)}:{float(a):g}" for r, a in sorted(spec.items(), key=lambda kv: int(kv[0])))


__all__ = [
    "BlendSpec",
    "alpha_by_resolution",
    "check_column_sums",
    "describe_blend",
    "is_resolution",
    "make_spec",
    "model_weights",
    "parse_alpha_table",
    "swap_alphas",
    "table_alphas",
]
