"""Synthesis through `torch.compile` (inductor), with the compiled artefacts cached on disk.

`compiled(G, batch_size=...)` returns a copy of a StyleGAN2 synthesizer (single model or per-frame
blend) that shares every tensor with G and runs each synthesis block through inductor (a single
StyleGAN3 model compiles as one graph over its functional layers; its per-frame blends stay eager):

- Granularity: one compiled graph per block, static shapes (`dynamic=False`). A block is the
  largest piece whose Python is the same for every batch: above it, a per-frame blend decides on
  the host, batch by batch, which blocks have one weight for the whole batch (renderer.models.blending),
  a data-dependent branch that would break a whole-network graph. A blended block compiles its
  per-frame path (the weights are a tensor input, so new weights never recompile) and the plain
  block its constant blends run (whose blended tensors are reassigned, as graph inputs).
- The last partial batch is padded to the batch size (the last frame repeated, the extra images
  dropped), so a render compiles each block once.
- Compiled code differs from eager only in the order of floating-point sums (about 1e-6 of an
  image's range); `noise_mode="random"` draws through torch's own generator (inductor's
  `fallback_random`), the same numbers as eager.

Inductor keeps its FX graph and AOT autograd caches in `compile_cache_dir()`: a second process
that compiles the same architecture, batch size and options loads the kernels instead of building
them (seconds instead of a minute). `CompileIndex` there records which configurations were
compiled, so a caller can tell a warm cache from a cold one before deciding to compile.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import itertools
import json
import os
import platform
import shutil
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from renderer.models.synthesizer import FrameNoise, Synthesizer

CACHE_ENV = "RENDERER_COMPILE_CACHE"  # overrides the cache folder (TORCHINDUCTOR_CACHE_DIR wins if set)
INDUCTOR_CACHE_ENV = "TORCHINDUCTOR_CACHE_DIR"
INDEX_NAME = "renderer-index.json"
RECOMPILE_LIMIT = 64  # every block instance shares one code object: dynamo counts each as a recompile
COMPILE_OPTIONS: dict[str, Any] = {"fallback_random": True}  # random noise: eager's numbers


def compile_cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Where compiled artefacts live: $TORCHINDUCTOR_CACHE_DIR when set (inductor's own), else
    $RENDERER_COMPILE_CACHE, else $XDG_CACHE_HOME/renderer/compile (~/.cache/renderer/compile)."""
    env = os.environ if environ is None else environ
    for name in (INDUCTOR_CACHE_ENV, CACHE_ENV):
        if env.get(name):
            return Path(env[name]).expanduser()
    base = Path(env["XDG_CACHE_HOME"]).expanduser() if env.get("XDG_CACHE_HOME") else Path.home() / ".cache"
    return base / "renderer" / "compile"


def use_compile_cache() -> Path:
    """Point inductor's FX graph and AOT autograd caches at compile_cache_dir() (an existing
    TORCHINDUCTOR_CACHE_DIR is kept) and turn them on; returns the folder."""
    folder = compile_cache_dir()
    os.environ.setdefault(INDUCTOR_CACHE_ENV, str(folder))
    import torch._functorch.config as functorch_config
    import torch._inductor.config as inductor_config

    inductor_config.fx_graph_cache = True
    functorch_config.enable_autograd_cache = True
    return folder


def cxx_compiler(environ: Mapping[str, str] | None = None) -> str | None:
    """The C++ compiler inductor's CPU code needs ($CXX, c++, g++ or clang++), or None."""
    env = os.environ if environ is None else environ
    names = [env["CXX"]] if env.get("CXX") else []
    for name in [*names, "c++", "g++", "clang++"]:
        found = shutil.which(name)
        if found:
            return found
    return None


def compile_support(G: Synthesizer, *, environ: Mapping[str, str] | None = None) -> str | None:
    """Why G's synthesis cannot be compiled here, in one phrase; None when it can."""
    device = G.device.type
    if G.family not in ("stylegan2", "stylegan3"):
        return f"{G.family} synthesis runs eagerly (only StyleGAN2 and StyleGAN3 networks are compiled)"
    if G.family == "stylegan3" and G.num_models > 1:
        return "StyleGAN3 per-frame blends run eagerly (not yet measured compiled)"
    if device == "cpu" and cxx_compiler(environ) is None:
        return "no C++ compiler found (set CXX, or install g++ or clang++)"
    if device == "cuda":
        from torch.utils._triton import has_triton

        if not has_triton():
            return "Triton is not installed, which inductor needs on CUDA"
    if device not in ("cpu", "cuda"):
        return f"inductor does not compile for {device}"
    if sys.platform == "win32":
        return "torch.compile is not supported on Windows here"
    return None


def compile_key(G: Synthesizer, *, batch_size: int, noise_mode: str, level: int | None) -> str:
    """A hash of what the compiled kernels depend on: the architecture (not the weights), the
    batch, the options and the versions. Equal keys compile to the same cached artefacts."""
    shapes = sorted((name, tuple(t.shape), str(t.dtype)) for name, t in
                    itertools.chain(G.synthesis.named_parameters(), G.synthesis.named_buffers()))
    facts = {
        "family": G.family, "models": G.num_models, "tensors": shapes, "batch": batch_size,
        "noise_mode": noise_mode, "level": level, "precision": G.precision, "device": G.device.type,
        "torch": torch.__version__, "python": platform.python_version(), "machine": platform.machine(),
    }
    return hashlib.sha256(json.dumps(facts, sort_keys=True, default=str).encode()).hexdigest()[:24]


@dataclasses.dataclass
class CompileIndex:
    """Which configurations (compile_key) were compiled into the cache folder, and how long
    the first compile took: {key: {"compile_s": ..., "when": ...}} in a small JSON file."""

    folder: Path

    @property
    def path(self) -> Path:
        return self.folder / INDEX_NAME

    def entries(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def is_warm(self, key: str) -> bool:
        return key in self.entries()

    def record(self, key: str, compile_s: float) -> None:
        """Add a compiled configuration (written atomically; a read-only cache is left as it is)."""
        entries = self.entries()
        entries.setdefault(key, {"compile_s": round(compile_s, 2), "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{INDEX_NAME}.{os.getpid()}")
            tmp.write_text(json.dumps(entries, indent=1, sort_keys=True))
            tmp.replace(self.path)
        except OSError:
            pass


def compiled(
    G: Synthesizer, *, batch_size: int, on_compiled: Callable[[float], None] | None = None
) -> Synthesizer:
    """A copy of G (sharing its tensors) whose synthesis blocks run compiled, its batches padded
    to `batch_size`. The first call compiles (or loads from the cache); `on_compiled(seconds)` is
    called after it.

    Raises:
        ValueError: G cannot be compiled here (compile_support says why)
    """
    problem = compile_support(G)
    if problem is not None:
        raise ValueError(problem)
    use_compile_cache()
    import torch._dynamo.config as dynamo_config

    dynamo_config.recompile_limit = max(dynamo_config.recompile_limit, RECOMPILE_LIMIT)
    dynamo_config.accumulated_recompile_limit = max(dynamo_config.accumulated_recompile_limit, 4 * RECOMPILE_LIMIT)
    memo: dict[int, Any] = {id(t): t for t in itertools.chain(G.parameters(), G.buffers())}
    C = copy.deepcopy(G, memo)
    synthesis = C.synthesis
    if C.family == "stylegan3":
        # Its layers are functions over the (blended) tensors that `run` is given: one graph for
        # the network. A blend compiled gives `run` per-frame tensors for every batch, whatever
        # the weights, so that their shapes (and the graph) never change.
        synthesis.run = torch.compile(synthesis.run, dynamic=False, options=COMPILE_OPTIONS)
        if hasattr(synthesis, "always_per_frame"):
            synthesis.always_per_frame = True
    else:
        for res in synthesis.block_resolutions:
            synthesis.get_submodule(f"b{res}").compile(dynamic=False, options=COMPILE_OPTIONS)
    synthesis.forward = _PaddedForward(synthesis, batch_size, on_compiled)  # type: ignore[method-assign]
    return C


class _PaddedForward:
    """The synthesis forward with a short batch padded to the compiled batch size."""

    def __init__(self, synthesis: nn.Module, batch_size: int, on_compiled: Callable[[float], None] | None) -> None:
        self.forward = type(synthesis).forward.__get__(synthesis)
        self.batch_size = batch_size
        self.on_compiled = on_compiled
        self.first = True

    def __call__(self, ws: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        n = ws.shape[0]
        if n < self.batch_size:
            ws = pad_rows(ws, self.batch_size)
            kwargs = {name: _pad_argument(name, value, self.batch_size) for name, value in kwargs.items()}
        started = time.perf_counter()
        img = self.forward(ws, *args, **kwargs)
        if self.first:
            self.first = False
            if self.on_compiled is not None:
                self.on_compiled(time.perf_counter() - started)
        return img[:n]


def pad_rows(t: torch.Tensor, rows: int) -> torch.Tensor:
    """t [n, ...] with its last row repeated to `rows` rows (t itself when it has as many)."""
    n = t.shape[0]
    if n >= rows:
        return t
    return torch.cat([t, t[-1:].expand(rows - n, *t.shape[1:])])


PER_FRAME_RANKS = {"model_weights": 3, "transform": 3}  # [N, M, levels]; [N, 3, 3] (a [3, 3] one is shared)


def _pad_argument(name: str, value: Any, rows: int) -> Any:
    """A per-frame synthesis argument (model_weights, transform, noise) padded like ws."""
    if isinstance(value, torch.Tensor) and value.ndim == PER_FRAME_RANKS.get(name):
        return pad_rows(value, rows)
    if isinstance(value, FrameNoise):
        return FrameNoise(
            tuple(None if m is None else pad_rows(m, rows) for m in value.maps),
            tuple(None if g is None else pad_rows(g, rows) for g in value.gains),
        )
    return value


__all__ = [
    "CACHE_ENV",
    "CompileIndex",
    "compile_cache_dir",
    "compile_key",
    "compile_support",
    "compiled",
    "cxx_compiler",
    "pad_rows",
    "use_compile_cache",
]
