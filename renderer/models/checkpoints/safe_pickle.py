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
from typing import Any, BinaryIO

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

    def __getstate__(self) -> dict[str, Any]:
        return self.state

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


class _NdarrayMarker:
    """What the global `numpy.ndarray` resolves to: a name for `_reconstruct`, never callable.

    Calling ndarray directly would let a pickle build arrays over arbitrary buffers with an object
    dtype given as a plain string, i.e. forged object pointers.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        raise pickle.UnpicklingError("only plain NumPy arrays are allowed (direct ndarray construction refused)")


NDARRAY_MARKER = _NdarrayMarker()


def _numpy_reconstruct(cls: Any, shape: Any, dtype: Any) -> np.ndarray:
    # NumPy pickles an array as _reconstruct(ndarray, (0,), b'b') followed by BUILD with the real
    # shape, a checked dtype and the raw bytes, whose length ndarray.__setstate__ verifies. Only
    # that exact empty placeholder is accepted, so sizes come from data actually in the file.
    if cls is not NDARRAY_MARKER or tuple(shape) != (0,) or dtype not in (b"b", "b"):
        raise pickle.UnpicklingError("only plain NumPy arrays are allowed")
    return np.ndarray.__new__(np.ndarray, (0,), "b")


def _numpy_frombuffer(buf: Any, dtype: Any, shape: Any, order: Any) -> np.ndarray:
    # Protocol 5 pickles a contiguous array as _frombuffer(bytearray, dtype, shape, order). The
    # bytes must be exactly the array's: plain dtype, whole non-negative shape, a memory order.
    if isinstance(buf, pickle.PickleBuffer):
        buf = bytes(buf.raw())
    if not isinstance(buf, (bytes, bytearray)) or not isinstance(dtype, np.dtype) or dtype.hasobject:
        raise pickle.UnpicklingError("only plain NumPy arrays are allowed")
    if not isinstance(shape, tuple) or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape):
        raise pickle.UnpicklingError("malformed NumPy array shape")
    if order not in ("C", "F", "A", "K"):
        raise pickle.UnpicklingError("malformed NumPy array order")
    if int(np.prod(shape, dtype=np.int64)) * dtype.itemsize != len(buf):
        raise pickle.UnpicklingError("NumPy array data does not match its shape")
    return np.frombuffer(bytes(buf), dtype=dtype).reshape(shape, order="F" if order == "F" else "C").copy()


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
    size, stride, offset = tuple(int(v) for v in size), tuple(int(v) for v in stride), int(offset)
    if len(size) != len(stride) or offset < 0 or min(size + stride, default=0) < 0:
        raise pickle.UnpicklingError("malformed tensor layout")
    # set_ would silently grow the storage; a tensor must fit inside the data the file holds.
    capacity = untyped.nbytes() // torch.empty((), dtype=dtype).element_size()
    extent = 0 if 0 in size else offset + sum((n - 1) * st for n, st in zip(size, stride, strict=True)) + 1
    if extent > capacity:
        raise pickle.UnpicklingError("tensor is larger than its storage")
    return torch.empty((0,), dtype=dtype).set_(untyped, offset, size, stride)


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
    ("numpy", "ndarray"): NDARRAY_MARKER,  # type: ignore[dict-item]
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch.storage", "_load_from_bytes"): _load_storage_from_bytes,
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _reconstruct_persistent_obj,
    ("dnnlib.tflib.network", "Network"): TFNetwork,
}
for _module in _NUMPY_MULTIARRAY:
    ALLOWED_GLOBALS[(_module, "scalar")] = _numpy_scalar
    ALLOWED_GLOBALS[(_module, "_reconstruct")] = _numpy_reconstruct
for _module in ("numpy.core.numeric", "numpy._core.numeric"):
    ALLOWED_GLOBALS[(_module, "_frombuffer")] = _numpy_frombuffer


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


def restricted_load(data: bytes | BinaryIO) -> Any:
    """Unpickle `data` (bytes, or a binary file read as it goes) with `RestrictedUnpickler`."""
    return RestrictedUnpickler(io.BytesIO(data) if isinstance(data, bytes | bytearray) else data).load()
