"""renderer's safetensors format: exact round trips from every source format, no pickle inside."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from renderer import CheckpointError, EncoderError, load_generator, save_native


@pytest.mark.parametrize(
    "source",
    ["nvidia_base.pkl", "tf_base.pkl", "rosinality_transfer.pt", "rosinality_transfer_train.pt"],
)
def test_round_trip_is_exact(fixtures: Path, tmp_path: Path, source: str) -> None:
    G = load_generator(fixtures / source)
    path = save_native(G, tmp_path / "model.safetensors")
    loaded = load_generator(path)
    assert loaded.config == G.config
    assert loaded.info.format == "native"
    assert loaded.info.w_avg_source == G.info.w_avg_source
    assert any(source in note for note in loaded.info.notes)
    original, copy = G.state_dict(), loaded.state_dict()
    assert original.keys() == copy.keys()
    assert all(torch.equal(original[k], copy[k]) for k in original)
    z = torch.randn(3, G.z_dim)
    assert torch.equal(loaded(z, truncation_psi=0.7), G(z, truncation_psi=0.7))


def test_demo_round_trip(tmp_path: Path) -> None:
    G = load_generator("demo")
    loaded = load_generator(save_native(G, tmp_path / "demo.safetensors"))
    z = torch.randn(1, G.z_dim)
    assert torch.equal(loaded(z), G(z))


def test_file_holds_architecture_metadata(fixtures: Path, tmp_path: Path) -> None:
    path = save_native(load_generator(fixtures / "nvidia_base.pkl"), tmp_path / "m.safetensors")
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
    assert meta["format"] == "renderer.stylegan2"
    assert json.loads(meta["config"])["channels"] == {"4": 48, "8": 48, "16": 48, "32": 32}


def test_plain_safetensors_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.safetensors"
    save_file({"x": torch.zeros(2)}, str(path))
    with pytest.raises(CheckpointError, match="not a renderer generator"):
        load_generator(path)


def test_truncated_native_file(fixtures: Path, tmp_path: Path) -> None:
    path = save_native(load_generator(fixtures / "nvidia_base.pkl"), tmp_path / "m.safetensors")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 1000])
    with pytest.raises(CheckpointError, match="truncated or corrupt|unrecognised") as err:
        load_generator(path)
    assert str(path) in str(err.value)


def test_unwritable_destination_leaves_nothing(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_bytes(b"")  # a folder path through a file cannot be created
    with pytest.raises(EncoderError, match="cannot create the folder .*a-file"):
        save_native(load_generator("demo"), tmp_path / "a-file" / "m.safetensors")
    assert [p.name for p in tmp_path.iterdir()] == ["a-file"]


def test_a_missing_destination_folder_is_created(tmp_path: Path) -> None:
    path = save_native(load_generator("demo"), tmp_path / "missing-folder" / "m.safetensors")
    assert load_generator(path).img_resolution == 256 and list(path.parent.iterdir()) == [path]


def test_a_converted_model_gets_the_usual_file_mode(tmp_path: Path) -> None:
    import os
    import stat

    umask = os.umask(0)
    os.umask(umask)
    path = save_native(load_generator("demo"), tmp_path / "m.safetensors")
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask  # not 0600, like a temporary file's


def test_a_tiny_file_claiming_a_huge_model_is_refused_before_anything_is_built(tmp_path: Path) -> None:
    import json
    import resource
    import time

    from safetensors.torch import save_file

    from renderer.models.checkpoints.native import FORMAT_TAG, FORMAT_VERSION

    resolutions = [2**i for i in range(2, 21)]  # up to 2^20 px
    config = {"z_dim": 512, "w_dim": 512, "img_resolution": 2**20, "channels": {str(r): 512 for r in resolutions}}
    path = tmp_path / "huge.safetensors"
    save_file({"mapping.fc0.weight": torch.zeros(2, 2)}, str(path),
              metadata={"format": FORMAT_TAG, "format_version": FORMAT_VERSION, "config": json.dumps(config)})
    assert path.stat().st_size < 1000
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    with pytest.raises(CheckpointError, match=r"1048576 px.*does not match its weights: mapping.fc0.weight is \[2, 2\]"):
        load_generator(path)
    assert time.perf_counter() - start < 5
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000  # KiB: nothing of its size was built
