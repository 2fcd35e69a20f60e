"""A pickle reader that executes nothing from the file.

StyleGAN pickles name a handful of globals: containers, NumPy arrays and scalars, torch tensor
rebuilders and, in NVIDIA snapshots, `torch_utils.persistence._reconstruct_persistent_obj`, whose
argument carries Python source that the reference loader executes. Here every allowed global maps to
a replacement that only builds data, the persistence hook records the class name and state, and any
other global is refused before a single opcode that could call it has run.
"""

from __future__ import annotations

import collections
import io
import pickle
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from renderer.errors import UnsafeCheckpointError


class EasyDict(dict):  # type: ignore[type-arg]
    """Stand-in for `dnnlib.util.EasyDict`: a dict whose keys can also be read as attributes."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class PersistentObject:
    """What an NVIDIA persistent network object becomes: its class name and `__dict__`, no code."""

    def __init__(self, class_name: str, state: dict[str, Any]) -> None:
        self.class_name = class_name
        self.state = state

    def __repr__(self) -> str:
        return f"PersistentObject({self.class_name!r})"


class TFNetwork:
    """Stand-in for `dnnlib.tflib.network.Network`: keeps the state dict given by BUILD."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.state: dict[str, Any] = {}

    def __setstate__(self, state: dict[str, Any]) -> None:
        if not isinstance(state, dict):
            raise pickle.UnpicklingError("TF Network state is not a dict")
        self.state = state

    def __repr__(self) -> str:
        return f"TFNetwork({self.state.get('name')!r})"


def _reconstruct_persistent_obj(meta: dict[str, Any]) -> PersistentObject:
    # `meta["module_src"]` is the Python source the reference loader would exec: ignored on purpose.
    if not isinstance(meta, dict) or meta.get("type") != "class":
        raise pickle.UnpicklingError("persistent object metadata is not a class record")
    state = meta.get("state")
    if not isinstance(state, dict):
        raise pickle.UnpicklingError("persistent object has no state dict")
    return PersistentObject(str(meta.get("class_name")), dict(state))


def _numpy_scalar(dtype: np.dtype, data: bytes | None = None) -> Any:
    if not isinstance(dtype, np.dtype) or dtype.hasobject:
        raise pickle.UnpicklingError("only plain NumPy scalars are allowed")
    if not isinstance(data, bytes) or len(data) != dtype.itemsize:
        raise pickle.UnpicklingError("malformed NumPy scalar")
    return np.frombuffer(data, dtype=dtype)[0]


def _numpy_reconstruct(cls: type, shape: Any, dtype: Any) -> np.ndarray:
    if cls is not np.ndarray:
        raise pickle.UnpicklingError("only plain NumPy arrays are allowed")
    # BUILD then calls ndarray.__setstate__, which only copies raw data into the array.
    return np.ndarray.__new__(np.ndarray, shape, dtype)


def _numpy_dtype(spec: Any, align: bool = False, copy: bool = False) -> np.dtype:
    dtype = np.dtype(spec, align=align, copy=copy)
    if dtype.hasobject:
        raise pickle.UnpicklingError("object dtypes are not allowed")
    return dtype


def _load_storage_from_bytes(data: bytes) -> Any:
    # The reference calls torch.load(weights_only=False) here; the inner stream only holds a
    # storage, which the weights-only reader handles without running anything.
    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)


def _rebuild_tensor(
    storage: Any, offset: int, size: Any, stride: Any, requires_grad: bool = False, *_: Any
) -> torch.Tensor:
    if not isinstance(storage, (torch.TypedStorage, torch.UntypedStorage)):
        raise pickle.UnpicklingError("tensor storage has an unexpected type")
    dtype = storage.dtype if isinstance(storage, torch.TypedStorage) else torch.uint8
    with warnings.catch_warnings():  # legacy storages are TypedStorage, which torch deprecates
        warnings.simplefilter("ignore", UserWarning)
        untyped = storage.untyped() if isinstance(storage, torch.TypedStorage) else storage
    t = torch.empty((0,), dtype=dtype)
    return t.set_(untyped, int(offset), tuple(size), tuple(stride))


def _rebuild_parameter(data: torch.Tensor, requires_grad: bool = False, *_: Any) -> torch.Tensor:
    # Backward hooks are dropped: a rendered generator never needs gradients from the file.
    if not isinstance(data, torch.Tensor):
        raise pickle.UnpicklingError("parameter data is not a tensor")
    return data


_NUMPY_MULTIARRAY = ("numpy.core.multiarray", "numpy._core.multiarray")

ALLOWED_GLOBALS: dict[tuple[str, str], Callable[..., Any]] = {
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("dnnlib.util", "EasyDict"): EasyDict,
    ("dnnlib", "EasyDict"): EasyDict,
    ("numpy", "dtype"): _numpy_dtype,
    ("numpy", "ndarray"): np.ndarray,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch.storage", "_load_from_bytes"): _load_storage_from_bytes,
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _reconstruct_persistent_obj,
    ("dnnlib.tflib.network", "Network"): TFNetwork,
}
for _module in _NUMPY_MULTIARRAY:
    ALLOWED_GLOBALS[(_module, "scalar")] = _numpy_scalar
    ALLOWED_GLOBALS[(_module, "_reconstruct")] = _numpy_reconstruct


class RestrictedUnpickler(pickle.Unpickler):
    """Resolves only `ALLOWED_GLOBALS`; any other global raises `UnsafeCheckpointError`."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise UnsafeCheckpointError(
                f"refused to load: the pickle asks for the global '{module}.{name}', which no "
                "StyleGAN checkpoint needs (nothing from the file was run)"
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("persistent ids are not used by StyleGAN pickles")


def restricted_load(data: bytes) -> Any:
    """Unpickle `data` with `RestrictedUnpickler`."""
    return RestrictedUnpickler(io.BytesIO(data)).load()
