"""Compiled synthesis (torch.compile): the references at 1e-4, blends without recompiles, padding.

Every test here compiles (tens of seconds each on a small CPU), so all are slow; the `auto`
decision and the option's plumbing are tested fast in tests/test_compile_option.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from renderer.blendspec import alpha_by_resolution
from renderer.models.blending import BlendedGenerator, alphas_to_model_weights
from renderer.models.checkpoints import load_generator
from renderer.models.compiled import compile_support, compiled
from tests.conftest import needs_fixtures
from tests.test_blending import reference_specs

ATOL = 1e-4

pytestmark = [pytest.mark.slow, needs_fixtures]


@pytest.fixture(autouse=True)
def _compile_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """One fresh cache folder for this module's compiles (not the user's)."""
    folder = tmp_path_factory.getbasetemp() / "compile-cache"
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(folder))


@pytest.fixture(autouse=True)
def _needs_compiler(fixtures: Path) -> None:
    problem = compile_support(load_generator(fixtures / "nvidia_base.pkl"))
    if problem is not None:
        pytest.skip(problem)


@pytest.mark.parametrize("checkpoint,reference", [("nvidia_base.pkl", "ref_nvidia_base.npz"),
                                                  ("rosinality_transfer.pt", "ref_rosinality_transfer.npz")])
def test_compiled_synthesis_matches_the_reference(fixtures: Path, checkpoint: str, reference: str) -> None:
    G = load_generator(fixtures / checkpoint)
    ref = np.load(fixtures / reference)
    C = compiled(G, batch_size=len(ref["z"]))
    for psi in ("1_0", "0_7"):
        ws = C.mapping(torch.from_numpy(ref["z"]).float(), truncation_psi=float(psi.replace("_", ".")))
        with torch.no_grad():
            img = C.synthesis(ws, noise_mode="const")
        np.testing.assert_allclose(img.numpy(), ref[f"img_psi{psi}"], atol=ATOL, rtol=0)
    # A short batch is padded to the compiled size, its own rows returned, and compiles nothing more.
    with torch.no_grad(), torch.compiler.set_stance("fail_on_recompile"):
        short = C.synthesis(torch.from_numpy(ref["ws_psi1_0"][:3]), noise_mode="const")
    np.testing.assert_allclose(short.numpy(), ref["img_psi1_0"][:3], atol=ATOL, rtol=0)
    # The model itself stays eager (the compiled copy shares its tensors).
    assert G.synthesis.b4._compiled_call_impl is None  # type: ignore[union-attr]
    assert C.synthesis.b4.conv1.weight is G.synthesis.b4.conv1.weight  # type: ignore[union-attr]


def test_compiled_per_frame_blends_match_the_references_and_never_recompile(fixtures: Path) -> None:
    base, transfer = load_generator(fixtures / "nvidia_base.pkl"), load_generator(fixtures / "nvidia_transfer.pkl")
    ref = np.load(fixtures / "ref_blend_nvidia.npz")
    specs = reference_specs(ref)
    C = compiled(BlendedGenerator([base, transfer]), batch_size=2)
    ws = torch.from_numpy(ref["ws"])
    alphas = {key: alpha_by_resolution(spec, C.resolutions) for key, spec in specs.items()}  # type: ignore[attr-defined]

    def run(keys: list[str], frames: list[int]) -> np.ndarray:
        return synthesise(np.stack([alphas[k] for k in keys]), frames)

    def synthesise(frame_alphas: np.ndarray, frames: list[int]) -> np.ndarray:
        with torch.no_grad():
            return C.synthesis(ws[frames], model_weights=alphas_to_model_weights(frame_alphas)).numpy()

    # The first batches compile each block's two paths: frames whose weights differ at every
    # block, then frames with equal weights.
    levels = len(C.resolutions)  # type: ignore[attr-defined]
    synthesise(np.array([[0.2] * levels, [0.6] * levels]), [0, 1])
    synthesise(np.array([[0.3] * levels] * 2), [2, 3])
    # New weights every batch, constant or per frame, and a short last batch: no recompiles.
    keys = list(specs)
    with torch.compiler.set_stance("fail_on_recompile"):
        for i, (a, b) in enumerate([(1, 3), (3, 0), (2, 2), (0, 0)]):
            frames = [i, (i + 1) % 4]
            got = run([keys[a], keys[b]], frames)
            np.testing.assert_allclose(got, np.stack([ref[keys[a]][frames[0]], ref[keys[b]][frames[1]]]), atol=ATOL, rtol=0)
        got = run([keys[3]], [1])
        np.testing.assert_allclose(got, ref[keys[3]][1:2], atol=ATOL, rtol=0)


def test_compiled_random_noise_draws_eagers_numbers(fixtures: Path) -> None:
    G = load_generator(fixtures / "nvidia_base.pkl")
    C = compiled(G, batch_size=2)
    ws = torch.from_numpy(np.load(fixtures / "ref_nvidia_base.npz")["ws_psi1_0"][:2])
    with torch.no_grad():
        C.synthesis(ws, noise_mode="random")  # compiles (and draws) first
        torch.manual_seed(7)
        eager = G.synthesis(ws, noise_mode="random")
        torch.manual_seed(7)
        again = C.synthesis(ws, noise_mode="random")
    np.testing.assert_allclose(again.numpy(), eager.numpy(), atol=ATOL, rtol=0)


BLEND_KEYS = """
[[keyframes]]
time = 0
seed = 1
psi = 0.7
blend = 0

[[keyframes]]
time = "1.5s"
seed = 2
blend = { swap = 16, width = 0.5 }

[[keyframes]]
time = "3s"
seed = 3
blend = 1
"""


def test_a_compiled_render_equals_the_eager_render_to_one_level(fixtures: Path, tmp_path: Path) -> None:
    """PNG frames of a short render of an animated two-model blend (weights change every frame),
    at batch 4 (its 37 frames end on a short batch), compiled and eager."""
    from PIL import Image

    from renderer.jobs.job import RenderSettings
    from renderer.jobs.render import render
    from renderer.plan.script import load_script
    from tests.test_render import write_script

    base, transfer = (fixtures / "nvidia_base.pkl").as_posix(), (fixtures / "nvidia_transfer.pkl").as_posix()
    script = write_script(tmp_path, base, size=32, keyframes=BLEND_KEYS)
    script.write_text(script.read_text().replace(f'base = "{base}"', f'base = "{base}"\ntransfer = "{transfer}"'))
    frames = {}
    for mode in ("off", "on"):
        result = render(load_script(script), RenderSettings(device="cpu", batch_size=4, compile=mode,  # type: ignore[arg-type]
                                                               output={"file": str(tmp_path / mode)}))
        frames[mode] = np.stack([np.asarray(Image.open(p)) for p in sorted((tmp_path / mode).glob("*.png"))])
        sidecar = __import__("json").loads(result.sidecar.read_text())
        assert sidecar["compile"]["enabled"] == (mode == "on")
        assert ("compile_s" in sidecar["timings"]) == (mode == "on")
    assert frames["on"].shape == frames["off"].shape == (37, 32, 32, 3)
    diff = np.abs(frames["on"].astype(int) - frames["off"].astype(int))
    assert diff.max() <= 1, f"{(diff > 1).sum()} pixels differ by more than one level"


def test_a_compiled_stylegan3_model_equals_eager(fixtures: Path) -> None:
    G = load_generator("demo-sg3")
    C = compiled(G, batch_size=2)
    ws = G.mapping(torch.from_numpy(np.random.RandomState(0).randn(2, G.z_dim)).float(), truncation_psi=0.7)
    with torch.no_grad():
        np.testing.assert_allclose(C.synthesis(ws).numpy(), G.synthesis(ws).numpy(), atol=ATOL, rtol=0)
        with torch.compiler.set_stance("fail_on_recompile"):  # a short batch is padded: no new graph
            np.testing.assert_allclose(C.synthesis(ws[:1]).numpy(), G.synthesis(ws[:1]).numpy(), atol=ATOL, rtol=0)
