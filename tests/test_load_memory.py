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
