"""A pickle checkpoint is unpickled from the file as it is read, never held whole in memory."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from renderer import load_generator
from renderer.models.checkpoints.safe_pickle import restricted_load
from tests.conftest import needs_fixtures

pytestmark = needs_fixtures


@pytest.mark.parametrize("name", ["nvidia_base.pkl", "tf_base.pkl"])
def test_a_pickle_loads_without_reading_the_whole_file(fixtures: Path, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = load_generator(fixtures / name).state_dict()

    def refuse(self: Path) -> bytes:
        raise AssertionError(f"{self} read whole")

    monkeypatch.setattr(Path, "read_bytes", refuse)
    streamed = load_generator(fixtures / name).state_dict()
    assert expected.keys() == streamed.keys() and all(torch.equal(expected[k], streamed[k]) for k in expected)


def test_restricted_load_reads_a_file_as_it_reads_bytes(fixtures: Path) -> None:
    path = fixtures / "nvidia_base.pkl"
    with path.open("rb") as f:
        streamed = restricted_load(f)
    whole = restricted_load(path.read_bytes())
    assert streamed.keys() == whole.keys()


@pytest.mark.parametrize("name", ["nvidia_base.pkl", "rosinality_base.pt", "tf_base.pkl"])
def test_a_built_generator_holds_the_checkpoints_own_tensors(fixtures: Path, name: str) -> None:
    """Loading never holds a second copy of the weights: the generator is built without initial
    values and given the converted tensors themselves (float32 ones, not copies)."""
    from renderer.models.checkpoints import build_generator, read_checkpoint
    from renderer.models.stylegan2 import resample_filter_2d

    ckpt = read_checkpoint(fixtures / name)
    G = build_generator(ckpt, name)
    own = G.state_dict()
    shared = [k for k, v in ckpt.state_dict.items()
              if v.dtype == torch.float32 and v.is_contiguous() and own[k].data_ptr() == v.data_ptr()]
    assert len(shared) == sum(1 for v in ckpt.state_dict.values() if v.dtype == torch.float32 and v.is_contiguous()) > 0
    assert torch.equal(G.synthesis.f2, resample_filter_2d(ckpt.config.resample_filter))  # computed, not loaded
    assert not any(p.requires_grad for p in G.parameters())
    reference = load_generator(fixtures / name)
    assert all(torch.equal(own[k], v) for k, v in reference.state_dict().items())
