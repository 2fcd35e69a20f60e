"""Read every StyleGAN2 checkpoint format users have, detected from the file's content.

`load_generator` is the one entry point: a path (NVIDIA or TF `.pkl`, rosinality `.pt`, our
`.safetensors`) or a built-in name ("demo", "demo-transfer", "demo-sg3", "demo-sg3-transfer").
Nothing in a file is ever executed.
A reader converts a file into a LoadedCheckpoint of some model family; `BUILDERS` turns it into
that family's generator (a Synthesizer), so a new family is its module plus one line there.
"""

from __future__ import annotations

import ctypes
import pickle
import struct
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from renderer.errors import CheckpointError, UnsafeCheckpointError
from renderer.models.checkpoints.common import LoadedCheckpoint, bad_file
from renderer.models.checkpoints.native import read_native, to_safetensors
from renderer.models.checkpoints.nvidia_pickle import convert_nvidia_snapshot, is_nvidia_snapshot
from renderer.models.checkpoints.nvidia_sg3 import convert_stylegan3, is_stylegan3
from renderer.models.checkpoints.rosinality import convert_rosinality, load_torch_file
from renderer.models.checkpoints.safe_pickle import PersistentObject, restricted_load
from renderer.models.checkpoints.tf_pickle import convert_tf_pickle, is_tf_pickle
from renderer.models.demo import BUILTIN_MODELS, build_demo
from renderer.models.stylegan2 import Generator, GeneratorConfig, use_estimated_w_avg
from renderer.models.stylegan3 import Generator as StyleGAN3Generator
from renderer.models.stylegan3 import StyleGAN3Config
from renderer.models.stylegan3 import tensor_shapes as sg3_tensor_shapes
from renderer.models.synthesizer import ModelInfo, Synthesizer

__all__ = [
    "BUILDERS",
    "LoadedCheckpoint",
    "build_generator",
    "load_generator",
    "read_checkpoint",
    "resolve_device",
    "to_safetensors",
]

EXPECTED = (
    "expected a StyleGAN2 checkpoint: an NVIDIA or TensorFlow .pkl, a rosinality .pt "
    "or a renderer .safetensors"
)
# torch.save's legacy (pre-zip) format starts with this number, pickled.
TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


def _is_safetensors(head: bytes, size: int) -> bool:
    if len(head) < 9:
        return False
    (header_len,) = struct.unpack("<Q", head[:8])
    return header_len + 8 <= size and head[8:9] == b"{"


def read_checkpoint(path: str | Path) -> LoadedCheckpoint:
    """Read a checkpoint file into our layout, without building any module."""
    path = Path(path)
    if not path.exists():
        raise bad_file(path, "no such file")
    if path.is_dir():
        raise bad_file(path, f"is a folder; {EXPECTED}")
    try:
        # Only the head is read here: a pickle is unpickled from the file as it is read, so the
        # whole file is never in memory beside the tensors made from it (peak memory of a load).
        with path.open("rb") as f:
            head = f.read(16)
        size = path.stat().st_size
    except OSError as e:
        raise bad_file(path, f"cannot read ({e.strerror})") from None
    if not size:
        raise bad_file(path, f"empty file; {EXPECTED}")
    if _is_safetensors(head[:9], size):
        return read_native(path)
    if head[:4] == b"PK\x03\x04":  # torch.save zip archive
        return convert_rosinality(load_torch_file(path), path)
    if head[:1] != b"\x80":  # every pickle of protocol 2 or later starts with PROTO
        raise bad_file(path, f"unrecognised file; {EXPECTED}")
    try:
        with path.open("rb") as f:
            obj = restricted_load(f)
    except OSError as e:
        raise bad_file(path, f"cannot read ({e.strerror})") from None
    except UnsafeCheckpointError as e:
        raise UnsafeCheckpointError(f"{path}: {e}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError,
            KeyError, RuntimeError, OverflowError, MemoryError, struct.error) as e:
        raise bad_file(path, f"truncated or corrupt pickle ({type(e).__name__}: {e})") from None
    if isinstance(obj, PersistentObject):  # a bare pickled Generator rather than a snapshot dict
        obj = {"G_ema": obj}
    if isinstance(obj, int) and obj == TORCH_LEGACY_MAGIC:
        return convert_rosinality(load_torch_file(path), path)
    if is_nvidia_snapshot(obj):
        G = obj.get("G_ema")
        if isinstance(G, PersistentObject) and G.class_name == "Generator" and is_stylegan3(G):
            return convert_stylegan3(G, path)
        return convert_nvidia_snapshot(obj, path)
    if is_tf_pickle(obj):
        return convert_tf_pickle(obj, path)
    raise bad_file(path, f"a pickle, but not a StyleGAN2 snapshot; {EXPECTED}")


def resolve_device(device: str | torch.device) -> torch.device:
    """'auto' picks CUDA, then MPS, then CPU; anything else is passed to torch.device."""
    if str(device) == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as e:
        raise CheckpointError(f"unknown device {device!r} ({e})") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise CheckpointError("device 'cuda' asked for, but PyTorch sees no CUDA GPU")
    if resolved.type == "mps" and not torch.backends.mps.is_available():
        raise CheckpointError("device 'mps' asked for, but PyTorch sees no MPS device")
    return resolved


def check_sizes(config: GeneratorConfig, state: dict[str, torch.Tensor], source: str) -> None:
    """CheckpointError unless the tensors the file holds have every size the architecture claims.

    Building a generator allocates what its config says, so a tiny file whose metadata claims a
    huge model must be refused first: each block's conv weight and each mapping layer's weight
    must be in the file with the config's shapes. Every size the build allocates (resolutions,
    channels, z/w/hidden widths, mapping depth) then comes from data the file really holds.
    """
    hidden = config.mapping_hidden or config.w_dim
    embed = (config.embed_features or config.w_dim) if config.c_dim else 0
    widths = [config.z_dim + embed] + [hidden] * (config.mapping_layers - 1) + [config.w_dim]
    expected = {f"mapping.fc{i}.weight": (widths[i + 1], widths[i]) for i in range(config.mapping_layers)}
    for res in config.block_resolutions:
        channels = config.channels[res]
        expected[f"synthesis.b{res}.conv1.weight"] = (channels, channels, 3, 3)
        if res > 4:
            expected[f"synthesis.b{res}.conv0.weight"] = (channels, config.channels[res // 2], 3, 3)
    for name, shape in expected.items():
        found = state.get(name)
        if found is None or tuple(found.shape) != shape:
            got = "missing" if found is None else list(found.shape)
            raise CheckpointError(
                f"{source}: the architecture it claims ({config.img_resolution} px, {config.mapping_layers} mapping "
                f"layers) does not match its weights: {name} is {got}, expected {list(shape)}"
            )


def build_stylegan2(ckpt: LoadedCheckpoint, source: str) -> Generator:
    """Instantiate a StyleGAN2 Generator from converted weights, checking every tensor name and shape."""
    assert isinstance(ckpt.config, GeneratorConfig)
    state = dict(ckpt.state_dict)
    w_avg_source = ckpt.w_avg_source
    check_sizes(ckpt.config, state, source)  # before anything is allocated for the architecture
    config = ckpt.config
    G = without_initial_values(lambda: Generator(config))
    expected = {k: tuple(v.shape) for k, v in G.state_dict().items()}
    if w_avg_source is None:
        state.setdefault("mapping.w_avg", torch.zeros(expected["mapping.w_avg"]))
    check_tensor_shapes(state, expected, source)
    adopt_state(G, state)
    notes = ckpt.notes
    if w_avg_source is None:
        w_avg_source = f"{use_estimated_w_avg(G)} (the checkpoint stores no w_avg / latent_avg)"
    G.info = ModelInfo(format=ckpt.format, source=source, w_avg_source=w_avg_source, notes=notes)
    return G


M = TypeVar("M", bound=nn.Module)


class _Unfilled(TorchFunctionMode):
    """Tensor factories that would fill (randn, rand, zeros, ones, full) return uninitialised
    memory instead: pages that are never written are never resident."""

    FILLING = (torch.randn, torch.rand, torch.zeros, torch.ones, torch.full)

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = dict(kwargs or {})
        if func in self.FILLING:
            kwargs.pop("generator", None)
            kwargs.pop("fill_value", None)
            return torch.empty(args[0], **kwargs) if func is torch.full else torch.empty(*args, **kwargs)
        return func(*args, **kwargs)


def without_initial_values(make: Callable[[], M]) -> M:
    """make()'s module with its parameters and persistent buffers left uninitialised, for a
    loader to give it the checkpoint's tensors (adopt_state) instead of first filling a second,
    randomly initialised copy of the weights, a model's worth of peak memory. Constants the
    constructor computes and no checkpoint holds (non-persistent buffers, such as StyleGAN2's
    resampling filter) are made from values (torch.tensor), which are left alone."""
    with _Unfilled():
        return make()


def adopt_state(module: nn.Module, state: Mapping[str, torch.Tensor]) -> None:
    """Make `state`'s tensors the module's own (in its dtypes, contiguous; copied only where
    they are not already): every parameter and persistent buffer is replaced (strict)."""
    expected = module.state_dict()
    module.load_state_dict({k: v.to(expected[k].dtype).contiguous() for k, v in state.items()}, assign=True)


def check_tensor_shapes(state: Mapping[str, torch.Tensor], expected: Mapping[str, tuple[int, ...]], source: str) -> None:
    """CheckpointError (one line) unless `state` holds exactly the expected tensors with their shapes."""
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = [f"{k} {list(state[k].shape)} (expected {list(v)})" for k, v in expected.items()
             if k in state and tuple(state[k].shape) != tuple(v)]
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"missing {missing[:4]}")
        if unexpected:
            parts.append(f"unexpected {unexpected[:4]}")
        if wrong:
            parts.append(f"wrong shapes {wrong[:3]}")
        raise CheckpointError(f"{source}: weights do not fit the architecture read from it: {'; '.join(parts)}")


def build_stylegan3(ckpt: LoadedCheckpoint, source: str) -> StyleGAN3Generator:
    """Instantiate a StyleGAN3 Generator, after checking that the file holds every tensor its
    architecture needs with the shape it implies (so nothing is allocated for a size the file only claims)."""
    config = ckpt.config
    assert isinstance(config, StyleGAN3Config)
    state = dict(ckpt.state_dict)
    expected = sg3_tensor_shapes(config)
    w_avg_source = ckpt.w_avg_source
    if w_avg_source is None:
        state.pop("mapping.w_avg", None)
        expected_in_file = {k: v for k, v in expected.items() if k != "mapping.w_avg"}
    else:
        expected_in_file = expected
    check_tensor_shapes(state, expected_in_file, source)
    G = without_initial_values(lambda: StyleGAN3Generator(config))
    if w_avg_source is None:
        state["mapping.w_avg"] = torch.zeros(expected["mapping.w_avg"])
    adopt_state(G, state)
    if w_avg_source is None:
        w_avg_source = f"{use_estimated_w_avg(G)} (the checkpoint stores no w_avg)"  # type: ignore[arg-type]
    G.info = ModelInfo(format=ckpt.format, source=source, w_avg_source=w_avg_source, notes=ckpt.notes)
    return G


# Model family (LoadedCheckpoint.family) -> the function that builds its generator; one line a family.
BUILDERS: dict[str, Callable[[LoadedCheckpoint, str], Synthesizer]] = {
    "stylegan2": build_stylegan2,
    "stylegan3": build_stylegan3,
}


def build_generator(ckpt: LoadedCheckpoint, source: str) -> Synthesizer:
    """The generator of the checkpoint's model family, built from its converted weights."""
    builder = BUILDERS.get(ckpt.family)
    if builder is None:
        raise CheckpointError(f"{source}: a {ckpt.family} model, which this renderer cannot build (it builds {', '.join(BUILDERS)})")
    return builder(ckpt, source)


def load_generator(path_or_name: str | Path, *, device: str | torch.device = "cpu") -> Synthesizer:
    """Load a generator from a checkpoint file or a built-in name, ready for inference.

    Args:
        path_or_name: a checkpoint path, or a built-in name (renderer.builtin.BUILTIN_MODELS)
        device: "cpu", "cuda", "mps", "auto" or a torch.device
    Returns:
        the generator of the checkpoint's family (a Synthesizer: renderer.models.stylegan2.Generator
        or renderer.models.stylegan3.Generator), in eval
        mode, without gradients, on `device`
    """
    target = resolve_device(device)
    name = str(path_or_name)
    if name in BUILTIN_MODELS and not Path(name).exists():
        return build_demo(name).to(target)
    G = build_generator(read_checkpoint(path_or_name), str(path_or_name)).to(target)
    release_freed_memory()
    return G


def release_freed_memory() -> None:
    """Give the memory that reading a checkpoint freed (the file's bytes, the pickle's objects)
    back to the system. glibc keeps freed blocks in its heap when later allocations sit above
    them, and a render's frames never reuse most of it: without this, a loaded 256 px model's
    process keeps about 100 MB it no longer uses. A no-op where malloc_trim does not exist."""
    try:
        libc = ctypes.CDLL(None)
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return
    trim(0)
