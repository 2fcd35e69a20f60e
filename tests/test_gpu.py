"""CUDA checks: the same images as on CPU, and half precision close to fp32. Skipped without a GPU."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from renderer import load_generator, seeds_to_z

pytestmark = pytest.mark.gpu


@pytest.mark.parametrize("name", ["nvidia_base", "sg3/sg3t_base", "sg3/sg3r_base"])
def test_cuda_matches_reference(fixtures: Path, name: str) -> None:
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    path = fixtures / f"{name}.pkl"
    G = load_generator(path, device="cuda")
    ref = np.load(path.with_name(f"ref_{path.stem}.npz"))
    img = G(torch.from_numpy(ref["z"]).float().cuda(), truncation_psi=0.7).cpu()
    assert float((img - torch.from_numpy(ref["img_psi0_7"])).abs().max()) < 1e-3


@pytest.mark.parametrize("model", ["demo", "demo-sg3"])
@pytest.mark.parametrize("precision,tolerance", [("fp16", 0.05), ("bf16", 0.15)])
def test_half_precision_close_to_fp32(model: str, precision: str, tolerance: float) -> None:
    G = load_generator(model, device="cuda")
    z = torch.from_numpy(seeds_to_z(list(range(8)), G.z_dim)).cuda()
    reference = G(z, truncation_psi=0.7)
    G.set_precision(precision)  # type: ignore[arg-type]
    half = G(z, truncation_psi=0.7)
    assert half.dtype == torch.float32 and torch.isfinite(half).all()
    assert float((half - reference).abs().mean()) < tolerance / 5
    assert float((half - reference).abs().max()) < tolerance * 4
