"""Every checkpoint format reproduces the reference implementations' ws and images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from renderer import load_generator, seed_to_z
from tests.conftest import needs_fixtures

ATOL = 1e-4  # the fixtures' README: ~30x the spread between reference implementations

pytestmark = needs_fixtures

# checkpoint file -> reference file (the formats hold the same networks; see the fixtures README)
CASES = {
    "nvidia_base.pkl": "ref_nvidia_base.npz",
    "tf_base.pkl": "ref_nvidia_base.npz",
    "rosinality_base.pt": "ref_rosinality_base.npz",
    "nvidia_transfer.pkl": "ref_nvidia_transfer.npz",
    "rosinality_transfer.pt": "ref_rosinality_transfer.npz",
    "rosinality_transfer_train.pt": "ref_rosinality_transfer.npz",
}


def _max_diff(a: torch.Tensor, b: np.ndarray) -> float:
    assert tuple(a.shape) == b.shape
    return float((a - torch.from_numpy(b)).abs().max())


def _case(fixtures: Path, checkpoint: str):
    G = load_generator(fixtures / checkpoint)
    ref = np.load(fixtures / CASES[checkpoint])
    return G, ref, torch.from_numpy(ref["z"]).float()


# The training checkpoint has no latent_avg, so its psi 0.7 case has no reference
# (see test_train_checkpoint_estimates_w_avg).
PSI_CASES = [
    (ckpt, psi)
    for ckpt in CASES
    for psi in ("1_0", "0_7")
    if not (ckpt == "rosinality_transfer_train.pt" and psi == "0_7")
]


@pytest.mark.parametrize("checkpoint,psi", PSI_CASES)
def test_mapping_and_synthesis_match_reference(fixtures: Path, checkpoint: str, psi: str) -> None:
    G, ref, z = _case(fixtures, checkpoint)
    ws = G.mapping(z, truncation_psi=float(psi.replace("_", ".")))
    assert _max_diff(ws, ref[f"ws_psi{psi}"]) < ATOL
    img = G.synthesis(ws, noise_mode="const")
    assert _max_diff(img, ref[f"img_psi{psi}"]) < ATOL


@pytest.mark.parametrize("checkpoint", list(CASES))
def test_synthesis_of_reference_ws_matches(fixtures: Path, checkpoint: str) -> None:
    """Synthesis alone, from the reference ws: isolates synthesis from mapping errors."""
    G, ref, _ = _case(fixtures, checkpoint)
    img = G.synthesis(torch.from_numpy(ref["ws_psi1_0"]))
    assert _max_diff(img, ref["img_psi1_0"]) < ATOL


@pytest.mark.parametrize("impl,ext", [("nvidia", "pkl"), ("rosinality", "pt")])
@pytest.mark.parametrize("which", ["base", "transfer"])
def test_wplus_input_matches_reference(fixtures: Path, impl: str, ext: str, which: str) -> None:
    G = load_generator(fixtures / f"{impl}_{which}.{ext}")
    ref = np.load(fixtures / f"ref_wplus_{impl}.npz")
    projected = np.load(fixtures / "projected_w.npz")["w"]
    np.testing.assert_array_equal(projected, ref["w"])
    img = G.synthesis(torch.from_numpy(projected))
    assert _max_diff(img, ref[f"img_{which}"]) < ATOL


def test_w_avg_comes_from_the_checkpoint(fixtures: Path) -> None:
    G = load_generator(fixtures / "nvidia_base.pkl")
    ref = np.load(fixtures / "ref_nvidia_base.npz")
    np.testing.assert_array_equal(G.w_avg.numpy(), ref["w_avg"])
    R = load_generator(fixtures / "rosinality_base.pt")
    np.testing.assert_array_equal(R.w_avg.numpy(), np.load(fixtures / "ref_rosinality_base.npz")["latent_avg"])
    assert "checkpoint" in G.info.w_avg_source and "checkpoint" in R.info.w_avg_source


def test_train_checkpoint_estimates_w_avg(fixtures: Path) -> None:
    """No latent_avg in the file: a deterministic estimate, reported as such, near the true centre."""
    G = load_generator(fixtures / "rosinality_transfer_train.pt")
    again = load_generator(fixtures / "rosinality_transfer_train.pt")
    assert G.info.w_avg_source.startswith("estimated")
    assert torch.equal(G.w_avg, again.w_avg)
    true_avg = torch.from_numpy(np.load(fixtures / "ref_rosinality_transfer.npz")["latent_avg"])
    # The stored centre is the sample mean plus 0.25 std (fixtures README): close, not equal.
    assert 0 < float((G.w_avg - true_avg).abs().max()) < 1.0


def test_api_attributes(fixtures: Path) -> None:
    G = load_generator(fixtures / "nvidia_base.pkl")
    assert (G.z_dim, G.w_dim, G.num_ws, G.img_resolution) == (64, 64, 8, 32)
    assert G.config.channels == {4: 48, 8: 48, 16: 48, 32: 32}
    assert not any(p.requires_grad for p in G.parameters())


def test_formats_build_the_same_architecture(fixtures: Path) -> None:
    nv = load_generator(fixtures / "nvidia_base.pkl").config
    tf = load_generator(fixtures / "tf_base.pkl").config
    ro = load_generator(fixtures / "rosinality_base.pt").config
    for other in (tf, ro):
        assert (other.channels, other.num_ws, other.resample_filter) == (nv.channels, nv.num_ws, nv.resample_filter)
    assert nv.conv_clamp == 256 and tf.conv_clamp is None


def test_batch_equals_one_at_a_time(fixtures: Path) -> None:
    G, ref, z = _case(fixtures, "nvidia_base.pkl")
    batch = G(z, truncation_psi=0.7)
    single = torch.cat([G(z[i : i + 1], truncation_psi=0.7) for i in range(len(z))])
    assert float((batch - single).abs().max()) < 1e-5


@pytest.mark.parametrize("impl,checkpoint", [("nvidia", "nvidia_base.pkl"), ("rosinality", "rosinality_base.pt")])
def test_blend_reference_latents_come_from_the_base_mapping(fixtures: Path, impl: str, checkpoint: str) -> None:
    """ref_blend_*.npz: its z and ws are the base model's (the blend images are the blend issue's)."""
    ref = np.load(fixtures / f"ref_blend_{impl}.npz")
    G = load_generator(fixtures / checkpoint)
    z64 = np.concatenate([seed_to_z(int(s), G.z_dim) for s in ref["seeds"]])
    np.testing.assert_array_equal(z64, ref["z"])
    assert _max_diff(G.mapping(torch.from_numpy(z64).float(), truncation_psi=float(ref["psi"])), ref["ws"]) < ATOL
