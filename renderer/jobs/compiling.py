"""Whether a command's synthesis runs compiled: `--compile auto|on|off`, one policy for every command.

Compiling the synthesis (renderer.models.compiled) makes each frame cheaper (about 1.5-1.9x on a
CPU, benchmarks/RESULTS.md) but costs a one-off compile first: about a minute on a small CPU when
the cache is cold, a few seconds when an earlier process compiled the same configuration. `auto`
therefore compiles only when the frames' estimated saving repays that cost twice over:

- the eager cost of a frame is estimated from the network's convolution FLOPs at the frames' size
  and the device's assumed rate (a deliberately low CPU rate: a busy 2-core machine's); the
  estimate knows StyleGAN2's blocks only, so `auto` leaves StyleGAN3 eager (`on` compiles it);
- the compile cost from the number of blocks and whether the cache index says this configuration
  (architecture, batch, options, versions) was compiled before (warm) or not (cold).

So short renders, previews, tests and their tiny models never compile, a long render does, and a
second render of the same model starts fast. `on` compiles whatever the length; where compiling
is impossible (no C++ compiler on a CPU, a family or device inductor does not serve) both `on` and
`auto` run eagerly with a one-line notice. `off` never compiles.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Literal

from renderer.errors import UsageError
from renderer.models.compiled import CompileIndex, compile_cache_dir, compile_key, compile_support
from renderer.models.synthesizer import Synthesizer

CompileMode = Literal["auto", "on", "off"]
COMPILE_MODES: tuple[CompileMode, ...] = ("auto", "on", "off")

# Eager synthesis rate assumed by `auto` (FLOPs per second): measured on a loaded 2-core CPU at
# one thread (benchmarks/compile.py), and a conservative GPU figure.
EAGER_FLOPS = {"cpu": 6e10, "cuda": 5e12}
SPEEDUP = 1.5  # compiled over eager, the lower end of what benchmarks/compile.py measures
COLD_S_PER_BLOCK = 10.0  # a first compile, per synthesis block (measured 72-87 s for 7-9 blocks, loaded CPU)
WARM_S_PER_BLOCK = 1.0  # the same configuration loaded from the cache
MARGIN = 2.0  # the saving must repay the compile this many times over

_BLOCK = re.compile(r"(?:^|\.)b(\d+)\.")


@dataclasses.dataclass(frozen=True)
class CompilePlan:
    """What a command decided: compile or not, why (a phrase), and a notice for the user (one
    line) when the choice is not what they may expect (`on` or `auto` falling back to eager)."""

    mode: CompileMode
    enabled: bool
    reason: str
    key: str | None = None  # the configuration's compile_key when enabled
    notice: str | None = None


def check_compile_mode(mode: str) -> None:
    """UsageError (one line) for a mode that is not auto, on or off."""
    if mode not in COMPILE_MODES:
        raise UsageError(f"compile must be one of {', '.join(COMPILE_MODES)}, not {mode!r}")


def synthesis_flops(G: Synthesizer, level: int | None = None) -> float:
    """FLOPs of one frame's synthesis convolutions (2 x weights x output pixels per block, up to
    `level`), scaled by the canvas (an extended grid has more cells than 4 x 4)."""
    total = 0.0
    for name, weight in G.synthesis.named_parameters():
        match = _BLOCK.search(name)
        if match is None or weight.ndim < 4 or not name.endswith("weight"):
            continue
        res = int(match.group(1))
        if level is None or res <= level:
            total += 2.0 * weight.numel() * res * res
    rows, cols = getattr(G, "grid", (4, 4))
    return total * rows * cols / 16


def estimate_seconds(G: Synthesizer, *, frames: int, level: int | None, warm: bool) -> tuple[float, float]:
    """(eager seconds the compile would save over `frames` frames, the compile's seconds)."""
    rate = EAGER_FLOPS.get(G.device.type, EAGER_FLOPS["cpu"])
    eager = frames * synthesis_flops(G, level) / rate
    blocks = len([r for r in G.levels if level is None or r <= level])
    return eager * (1 - 1 / SPEEDUP), blocks * (WARM_S_PER_BLOCK if warm else COLD_S_PER_BLOCK)


def decide_compile(
    mode: CompileMode,
    G: Synthesizer,
    *,
    frames: int,
    batch_size: int,
    noise_mode: str = "const",
    level: int | None = None,
    environ: Mapping[str, str] | None = None,
) -> CompilePlan:
    """Whether to synthesise `frames` frames of G compiled (see the module's docstring).

    Args:
        mode: "auto", "on" or "off"
        G: the synthesizer as it will run (blended, on its extended canvas, on its device)
        frames: how many frames the command synthesises
        batch_size: frames per synthesis call (the compiled shape)
        noise_mode, level: the synthesis options (a compiled configuration is specific to them)
        environ: the environment (None: os.environ), for the cache folder and the C++ compiler
    """
    check_compile_mode(mode)
    if mode == "off":
        return CompilePlan(mode, False, "off")
    problem = compile_support(G, environ=environ)
    if problem is not None:
        return CompilePlan(mode, False, problem, notice=f"compile: running eagerly: {problem}")
    key = compile_key(G, batch_size=batch_size, noise_mode=noise_mode, level=level)
    if mode == "on":
        return CompilePlan(mode, True, "on", key)
    warm = CompileIndex(compile_cache_dir(environ)).is_warm(key)
    saving, cost = estimate_seconds(G, frames=frames, level=level, warm=warm)
    cache = "warm" if warm else "cold"
    if saving >= MARGIN * cost:
        return CompilePlan(mode, True, f"auto: saves about {saving:.0f} s for a {cost:.0f} s compile ({cache} cache)", key)
    return CompilePlan(mode, False, f"auto: {frames} frames save about {saving:.0f} s, less than a {cost:.0f} s compile ({cache} cache)")


__all__ = [
    "COMPILE_MODES",
    "CompileMode",
    "CompilePlan",
    "check_compile_mode",
    "decide_compile",
    "estimate_seconds",
    "synthesis_flops",
]
