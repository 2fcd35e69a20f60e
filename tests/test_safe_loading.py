"""Loading never runs code from a checkpoint, and bad files give one clear error naming the file."""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path

import pytest
import torch

from renderer import CheckpointError, UnsafeCheckpointError, load_generator
from renderer.models.checkpoints.safe_pickle import ALLOWED_GLOBALS, restricted_load


def _global_call_pickle(module: str, name: str, arg: str) -> bytes:
    """A protocol-2 pickle that calls module.name(arg) when loaded by a normal unpickler."""
    return (
        b"\x80\x02c" + module.encode() + b"\n" + name.encode() + b"\n"
        + pickle.dumps((arg,), protocol=2)[2:-1]  # the argument tuple, without PROTO and STOP
        + b"R."
    )


@pytest.mark.parametrize(
    "module,name",
    [("os", "system"), ("posix", "system"), ("builtins", "eval"), ("subprocess", "Popen"), ("builtins", "exec")],
)
def test_forbidden_global_is_refused_before_running(tmp_path: Path, module: str, name: str) -> None:
    marker = tmp_path / "pwned"
    command = f"touch {marker}" if name in ("system", "Popen") else f"open({str(marker)!r}, 'w')"
    payload = _global_call_pickle(module, name, command)
    # Sanity: the payload really is a working exploit for the ordinary unpickler.
    if (module, name) == ("os", "system"):
        pickle.loads(payload)
        assert marker.exists()
        marker.unlink()
    path = tmp_path / "evil.pkl"
    path.write_bytes(payload)
    with pytest.raises(UnsafeCheckpointError) as err:
        load_generator(path)
    assert f"'{module}.{name}'" in str(err.value)
    assert str(path) in str(err.value)
    assert not marker.exists()


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_exploit_inside_an_nvidia_style_snapshot_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "snapshot.pkl"
    path.write_bytes(pickle.dumps({"G_ema": _Exploit(marker)}, protocol=4))
    with pytest.raises(UnsafeCheckpointError, match="system"):
        load_generator(path)
    assert not marker.exists()


def test_exploit_inside_a_torch_zip_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"g_ema": {}, "args": _Exploit(marker)}, path)
    with pytest.raises(UnsafeCheckpointError, match="system"):
        load_generator(path)
    assert not marker.exists()


def test_allow_list_holds_only_data_builders() -> None:
    modules = {module for module, _ in ALLOWED_GLOBALS}
    assert modules <= {
        "builtins", "collections", "dnnlib", "dnnlib.util", "dnnlib.tflib.network", "numpy",
        "numpy.core.multiarray", "numpy._core.multiarray", "numpy.core.numeric", "numpy._core.numeric",
        "torch._utils", "torch.storage",
        "torch_utils.persistence",
    }
    assert ("builtins", "eval") not in ALLOWED_GLOBALS and ("builtins", "getattr") not in ALLOWED_GLOBALS


def test_persistent_objects_keep_source_unexecuted(fixtures: Path) -> None:
    snapshot = restricted_load((fixtures / "nvidia_base.pkl").read_bytes())
    G_ema = snapshot["G_ema"]
    assert G_ema.class_name == "Generator"
    assert snapshot["augment_pipe"] is None
    assert set(snapshot) >= {"G", "D", "G_ema", "training_set_kwargs"}


def test_transfer_snapshot_with_augment_pipe_loads(fixtures: Path) -> None:
    snapshot = restricted_load((fixtures / "nvidia_transfer.pkl").read_bytes())
    assert snapshot["augment_pipe"].class_name == "AugmentPipe"
    load_generator(fixtures / "nvidia_transfer.pkl")


@pytest.mark.parametrize("name", ["nvidia_base.pkl", "tf_base.pkl", "rosinality_base.pt", "rosinality_transfer_train.pt"])
def test_truncated_checkpoint_is_one_clear_error(fixtures: Path, tmp_path: Path, name: str) -> None:
    data = (fixtures / name).read_bytes()
    path = tmp_path / name
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError) as err:
        load_generator(path)
    message = str(err.value)
    assert str(path) in message and "\n" not in message
    assert "truncated or corrupt" in message


def test_snapshot_without_g_ema_names_what_it_found(fixtures: Path, tmp_path: Path) -> None:
    snapshot = restricted_load((fixtures / "nvidia_base.pkl").read_bytes())
    # Re-pickling the records needs no NVIDIA code: write the raw bytes with G_ema removed by
    # loading through the safe reader, then checking the converter's message directly.
    from renderer.models.checkpoints.nvidia_pickle import convert_nvidia_snapshot

    del snapshot["G_ema"]
    with pytest.raises(CheckpointError, match="without 'G_ema'.*holds .*G"):
        convert_nvidia_snapshot(snapshot, tmp_path / "x.pkl")


def test_rosinality_file_without_g_ema_is_refused(fixtures: Path, tmp_path: Path) -> None:
    train = torch.load(fixtures / "rosinality_transfer_train.pt", weights_only=False)
    path = tmp_path / "g_only.pt"
    torch.save({"g": train["g"], "d": train["d"]}, path)
    with pytest.raises(CheckpointError, match="without 'g_ema'"):
        load_generator(path)


@pytest.mark.parametrize(
    "content,expected",
    [
        (b"", "empty file"),
        (b"hello, this is text\n", "unrecognised file"),
        (pickle.dumps({"weights": [1, 2, 3]}, protocol=4), "not a StyleGAN2 snapshot"),
        (b"\x80\x04\x95garbage", "truncated or corrupt"),
    ],
)
def test_unrecognised_files(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "model.pkl"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=expected) as err:
        load_generator(path)
    assert str(path) in str(err.value)


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no such file"):
        load_generator(tmp_path / "nope.pkl")
    with pytest.raises(CheckpointError, match="is a folder"):
        load_generator(tmp_path)


def test_torch_file_that_is_not_a_generator(tmp_path: Path) -> None:
    path = tmp_path / "other.pt"
    torch.save({"model": torch.zeros(3)}, path)
    with pytest.raises(CheckpointError, match="not a StyleGAN2 generator"):
        load_generator(path)


def test_legacy_torch_save_format_loads(fixtures: Path, tmp_path: Path) -> None:
    """Old rosinality conversions were written with torch.save's pre-zip format."""
    obj = torch.load(fixtures / "rosinality_base.pt", weights_only=True)
    path = tmp_path / "legacy.pt"
    torch.save(obj, path, _use_new_zipfile_serialization=False)
    assert path.read_bytes()[:1] == b"\x80"
    G = load_generator(path)
    ref = load_generator(fixtures / "rosinality_base.pt")
    z = torch.randn(2, G.z_dim)
    assert torch.equal(G(z), ref(z))


def test_bare_g_ema_state_dict_loads(fixtures: Path, tmp_path: Path) -> None:
    obj = torch.load(fixtures / "rosinality_base.pt", weights_only=True)
    path = tmp_path / "g_ema_only.pt"
    buffer = io.BytesIO()
    torch.save(obj["g_ema"], buffer)
    path.write_bytes(buffer.getvalue())
    G = load_generator(path)
    assert G.info.w_avg_source.startswith("estimated")


def _pickle_of_call(func: object, *args: object) -> bytes:
    class Call:
        def __reduce__(self):
            return (func, args)

    return pickle.dumps(Call(), protocol=4)


def test_direct_ndarray_construction_is_refused(tmp_path: Path) -> None:
    """ndarray(shape, 'O', buffer) would forge object pointers from file bytes (a crash or worse)."""
    import numpy as np

    path = tmp_path / "objarray.pkl"
    path.write_bytes(_pickle_of_call(np.ndarray, (1,), "O", b"A" * 8))
    with pytest.raises(CheckpointError, match="only plain NumPy arrays"):
        load_generator(path)


def test_array_placeholder_must_be_empty(tmp_path: Path) -> None:
    """An array's size must come from bytes in the file, not from a shape that allocates gigabytes."""
    import numpy as np
    from numpy._core.multiarray import _reconstruct

    path = tmp_path / "big.pkl"
    path.write_bytes(_pickle_of_call(_reconstruct, np.ndarray, (2_000_000_000,), b"b"))
    with pytest.raises(CheckpointError, match="only plain NumPy arrays"):
        load_generator(path)


def test_tensor_larger_than_its_storage_is_refused(tmp_path: Path) -> None:
    import collections

    storage = torch.zeros(4).storage()
    payload = _pickle_of_call(torch._utils._rebuild_tensor_v2, storage, 0, (100_000_000,), (1,), False,
                              collections.OrderedDict())
    path = tmp_path / "oversized.pkl"
    path.write_bytes(payload)
    with pytest.raises(CheckpointError, match="larger than its storage"):
        load_generator(path)


def test_pickled_plain_tensor_is_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "tensor.pkl"
    path.write_bytes(pickle.dumps(torch.arange(3.0), protocol=4))
    with pytest.raises(CheckpointError, match="not a StyleGAN2 snapshot"):
        load_generator(path)


def test_a_deflate_bomb_in_a_torch_zip_is_refused_before_inflating(tmp_path: Path) -> None:
    import resource
    import zipfile

    path = tmp_path / "bomb.pt"
    torch.save({"g_ema": {"style.1.weight": torch.zeros(2, 2)}}, path)
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as archive, archive.open("bomb/data/99", "w") as entry:
        chunk = bytes(1 << 20)
        for _ in range(96):  # 96 MiB of zeros, about 100 KB deflated
            entry.write(chunk)
    assert path.stat().st_size < 1 << 20
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(CheckpointError, match=r"would inflate to 100,\d{3},\d{3} bytes .*refused before inflating"):
        load_generator(path)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 50_000  # KiB: nothing was inflated


# --- StyleGAN3 snapshots: the same reader, the same refusals ------------------------------------


class _Persistent:
    """Pickles as NVIDIA's persistent objects do: `torch_utils.persistence._reconstruct_persistent_obj(meta)`."""

    def __init__(self, meta: dict) -> None:
        self.meta = meta

    def __reduce__(self):
        import torch_utils.persistence  # the stand-in module registered by the fixture below

        return (torch_utils.persistence._reconstruct_persistent_obj, (self.meta,))


@pytest.fixture
def persistence_module(monkeypatch: pytest.MonkeyPatch) -> None:
    """A stand-in `torch_utils.persistence` so this test can write NVIDIA-style pickles."""
    import sys
    import types

    package, module = types.ModuleType("torch_utils"), types.ModuleType("torch_utils.persistence")

    def _reconstruct_persistent_obj(meta):  # never called: the restricted reader maps the name
        raise AssertionError("the reference reconstructor ran")

    _reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
    _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
    module._reconstruct_persistent_obj = _reconstruct_persistent_obj  # type: ignore[attr-defined]
    package.persistence = module  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "torch_utils", package)
    monkeypatch.setitem(sys.modules, "torch_utils.persistence", module)


def _sg3_snapshot(layer_buffer: object, *, module_src: str = "", protocol: int = 5) -> bytes:
    """A StyleGAN3-shaped snapshot (persistent Generator > synthesis > input + a layer with numpy
    attributes, as NVIDIA writes them) with `layer_buffer` as the layer's magnitude_ema."""
    import numpy as np

    def persistent(class_name: str, state: dict) -> _Persistent:
        return _Persistent({"type": "class", "version": 6, "module_src": module_src, "class_name": class_name, "state": state})

    layer = persistent("SynthesisLayer", {
        "_parameters": {}, "_buffers": {"magnitude_ema": layer_buffer, "up_filter": None}, "_modules": {},
        "in_size": np.array([36, 36]), "use_fp16": np.bool_(True), "in_cutoff": np.float64(2.0),
    })
    inp = persistent("SynthesisInput", {"_parameters": {}, "_buffers": {}, "_modules": {}, "size": np.array([36, 36])})
    synthesis = persistent("SynthesisNetwork", {"_modules": {"input": inp, "L0_36_48": layer}, "layer_names": ["L0_36_48"]})
    G = persistent("Generator", {"_modules": {"synthesis": synthesis, "mapping": persistent("MappingNetwork", {})}})
    return pickle.dumps({"G": G, "D": None, "G_ema": G, "augment_pipe": None, "training_set_kwargs": None}, protocol=protocol)


@pytest.mark.parametrize("protocol", [4, 5])
def test_exploit_inside_a_stylegan3_snapshot_is_refused(tmp_path: Path, persistence_module: None, protocol: int) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "sg3.pkl"
    path.write_bytes(_sg3_snapshot(_Exploit(marker), protocol=protocol))
    with pytest.raises(UnsafeCheckpointError, match="system"):
        load_generator(path)
    assert not marker.exists()


def test_stylegan3_module_source_is_never_executed(tmp_path: Path, persistence_module: None) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "sg3.pkl"
    path.write_bytes(_sg3_snapshot(torch.ones([]), module_src=f"open({str(marker)!r}, 'w').close()"))
    records = restricted_load(path.read_bytes())
    assert records["G_ema"].class_name == "Generator"  # read, with numpy arrays and numpy.bool
    with pytest.raises(CheckpointError) as err:  # incomplete: one clear line, and nothing ran
        load_generator(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)
    assert not marker.exists()


def test_protocol5_numpy_buffers_are_checked() -> None:
    """`_frombuffer` (protocol 5 NumPy arrays) builds plain arrays only: no object dtypes, and the
    bytes must be exactly the array's."""
    import numpy as np

    good = pickle.dumps(np.arange(6, dtype=np.int64).reshape(2, 3), protocol=5)
    np.testing.assert_array_equal(restricted_load(good), np.arange(6).reshape(2, 3))
    fortran = pickle.dumps(np.asfortranarray(np.arange(6.0).reshape(2, 3)), protocol=5)
    np.testing.assert_array_equal(restricted_load(fortran), np.arange(6.0).reshape(2, 3))

    class Craft:
        def __init__(self, *args: object) -> None:
            self.args = args

        def __reduce__(self):
            return (np._core.numeric._frombuffer, self.args)

    objects = pickle.dumps(Craft(bytearray(8), np.dtype("O"), (1,), "C"), protocol=5)
    with pytest.raises(pickle.UnpicklingError, match="object dtypes"):
        restricted_load(objects)
    short = pickle.dumps(Craft(bytearray(4), np.dtype("i8"), (2,), "C"), protocol=5)
    with pytest.raises(pickle.UnpicklingError, match="does not match"):
        restricted_load(short)
    for shape in ((-1,), (True,), "2"):
        with pytest.raises(pickle.UnpicklingError, match="shape"):
            restricted_load(pickle.dumps(Craft(bytearray(8), np.dtype("i8"), shape, "C"), protocol=5))


def test_stylegan3_metadata_claiming_more_than_its_tensors_is_refused(fixtures: Path) -> None:
    """Sizes come from the tensors the file holds: a layer that claims more channels than its
    weights have is refused before anything is allocated for it."""
    from renderer.models.checkpoints import build_generator
    from renderer.models.checkpoints.nvidia_sg3 import convert_stylegan3

    path = fixtures / "sg3" / "sg3t_base.pkl"
    if not path.exists():
        pytest.skip(f"StyleGAN3 fixtures not found at {path.parent}")
    G = restricted_load(path.read_bytes())["G_ema"]
    layer = G.state["_modules"]["synthesis"].state["_modules"]["L0_36_48"]
    layer.state["out_channels"] = 1 << 16
    with pytest.raises(CheckpointError, match="inconsistent architecture|do not fit"):
        build_generator(convert_stylegan3(G, path), str(path))
