"""Shared test set-up: where the reference fixtures live, and the gpu marker's skip."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
# The shared fixtures sit beside the project checkout (../shared/fixtures); RENDERER_FIXTURES overrides.
FIXTURES = Path(os.environ.get("RENDERER_FIXTURES", REPO.parent / "shared" / "fixtures"))
HAVE_FIXTURES = (FIXTURES / "nvidia_base.pkl").exists()
needs_fixtures = pytest.mark.skipif(
    not HAVE_FIXTURES, reason=f"reference fixtures not found at {FIXTURES} (set RENDERER_FIXTURES)"
)


@pytest.fixture
def fixtures() -> Path:
    if not HAVE_FIXTURES:
        pytest.skip(f"reference fixtures not found at {FIXTURES} (set RENDERER_FIXTURES)")
    return FIXTURES


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if torch.cuda.is_available():
        return
    skip_gpu = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)
