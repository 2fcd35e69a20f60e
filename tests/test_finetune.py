"""Fine-tuning (Pinkney & Adler's step 2): the training loop, the discriminator readers, the CLI."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from renderer import UnsafeCheckpointError, blend, load_generator, save_native
from renderer.cli import app
from renderer.jobs.faces import face_images
from renderer.jobs.finetune import (
    LOG_FILE,
    STATE_FILE,
    Augment,
    DatasetError,
    FinetuneSettings,
    finetune,
    load_image_folder,
    train,
)
from renderer.models.checkpoints.discriminators import load_discriminator, read_discriminator
from renderer.models.checkpoints.nvidia_pickle import flatten
from renderer.models.checkpoints.safe_pickle import restricted_load
from renderer.models.discriminator import Discriminator, DiscriminatorConfig
from renderer.models.stylegan2 import Generator, GeneratorConfig

TINY = GeneratorConfig(z_dim=16, w_dim=16, img_resolution=16, channels={4: 16, 8: 16, 16: 8}, mapping_layers=2)
QUICK = FinetuneSettings(kimg=0.016, batch=4, snapshot_kimg=0.008, r1_interval=2)


def tiny_generator(seed: int = 0) -> Generator:
    torch.manual_seed(seed)
    return Generator(TINY)


def test_a_few_steps_move_the_weights_and_leave_the_base_alone() -> None:
    G = tiny_generator()
    before = {k: v.clone() for k, v in G.state_dict().items()}
    result = train(G, face_images(1, 8, size=16), QUICK)
    assert result.steps == 4 and result.kimg == pytest.approx(0.016)
    assert all(torch.equal(before[k], v) for k, v in G.state_dict().items())  # trains a copy
    after = result.G_ema.state_dict()
    moved = [k for k in before if k.endswith(".weight") and not torch.equal(before[k], after[k])]
    assert any(k.startswith("synthesis.") for k in moved) and any(k.startswith("mapping.") for k in moved)
    assert not result.G_ema.training and not any(p.requires_grad for p in result.G_ema.parameters())


def test_training_is_deterministic_for_a_seed() -> None:
    images = face_images(1, 8, size=16)
    a = train(tiny_generator(), images, QUICK).G_ema.state_dict()
    b = train(tiny_generator(), images, QUICK).G_ema.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_freeze_d_keeps_the_top_discriminator_blocks() -> None:
    torch.manual_seed(1)
    D = Discriminator(DiscriminatorConfig(img_resolution=16, channels=TINY.channels))
    result = train(tiny_generator(), face_images(1, 8, size=16), FinetuneSettings(kimg=0.016, batch=4, freeze_d=1), D=D)
    before, after = D.state_dict(), result.D.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before if k.startswith("b16."))
    assert not all(torch.equal(before[k], after[k]) for k in before if k.startswith("b8."))


def test_snapshots_log_and_resume(tmp_path: Path) -> None:
    images = face_images(1, 8, size=16)
    snaps = tmp_path / "snaps"
    first = train(tiny_generator(), images, QUICK, snapshots=snaps)
    assert [p.name for p in first.snapshots] == ["fakes00000008.png", "fakes00000016.png"]
    grid = np.asarray(Image.open(first.snapshots[-1]))
    assert grid.shape == (64, 64, 3)  # 16 fixed seeds, 4 x 4
    rows = [json.loads(line) for line in (snaps / LOG_FILE).read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4] and all(np.isfinite(r["loss_g"]) for r in rows)
    longer = FinetuneSettings(kimg=0.032, batch=4, snapshot_kimg=0.008, r1_interval=2)
    resumed = train(tiny_generator(), images, longer, snapshots=snaps, resume=True)
    assert resumed.steps == 8 and resumed.kimg == pytest.approx(0.032)
    assert len((snaps / LOG_FILE).read_text().splitlines()) == 8
    state = torch.load(snaps / STATE_FILE, weights_only=True)  # plain tensors: no pickle code
    assert state["step"] == 8


def test_resume_without_a_state_is_refused(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="nothing to resume"):
        train(tiny_generator(), face_images(1, 4, size=16), QUICK, snapshots=tmp_path, resume=True)


def test_adaptive_augmentation_follows_the_discriminator() -> None:
    settings = FinetuneSettings(ada_kimg=1)
    aug = Augment("ada")
    aug.update(sign_real=0.9, images=100, settings=settings)  # D too sure of the reals: more
    assert aug.p == pytest.approx(0.1)
    aug.update(sign_real=0.1, images=50, settings=settings)
    assert aug.p == pytest.approx(0.05)
    aug.update(sign_real=0.0, images=5000, settings=settings)
    assert aug.p == 0.0


@pytest.mark.parametrize("kind", ["ada", "diffaugment"])
def test_augmentation_changes_images_and_passes_gradients(kind: str) -> None:
    x = torch.from_numpy(face_images(2, 4, size=16)).permute(0, 3, 1, 2).float().div(127.5).sub(1).requires_grad_(True)
    aug = Augment(kind, p=1.0)
    y = aug(x, torch.Generator().manual_seed(0))
    assert y.shape == x.shape and not torch.allclose(y, x)
    y.square().sum().backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0
    assert Augment("none")(x) is x and Augment("ada", p=0.0)(x) is x


# --- discriminators from checkpoints ---------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "twin"),
    [("nvidia_base.pkl", "tf_base.pkl"), ("nvidia_transfer.pkl", "rosinality_transfer_train.pt")],
)
def test_discriminator_loads_from_every_format_that_has_one(fixtures: Path, source: str, twin: str) -> None:
    """NVIDIA `D`, TF `D` and rosinality `d` of the same weights read as one module: same outputs."""
    a, b = load_discriminator(fixtures / source), load_discriminator(fixtures / twin)
    assert a is not None and b is not None
    assert a.config.img_resolution == 32 and a.config.channels == {32: 32, 16: 48, 8: 48, 4: 48}
    x = torch.from_numpy(np.random.RandomState(0).randn(8, 3, 32, 32)).float()
    with torch.no_grad():
        ya, yb = a(x), b(x)
    assert ya.shape == (8, 1)
    torch.testing.assert_close(ya, yb, atol=1e-5, rtol=0)
    # Our module holds the snapshot's own tensors under NVIDIA's names.
    raw = flatten(restricted_load((fixtures / "nvidia_base.pkl").read_bytes())["D"])
    if source == "nvidia_base.pkl":
        assert torch.equal(a.state_dict()["b32.conv1.weight"], raw["b32.conv1.weight"])


def test_formats_without_a_discriminator(fixtures: Path, tmp_path: Path) -> None:
    assert read_discriminator(fixtures / "rosinality_base.pt") is None
    assert read_discriminator(save_native(load_generator(fixtures / "nvidia_base.pkl"), tmp_path / "g.safetensors")) is None


def test_discriminator_pickle_runs_nothing(tmp_path: Path) -> None:
    class Evil:
        def __reduce__(self):  # noqa: ANN204
            return (print, ("pwned",))

    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"D": Evil(), "G_ema": None}, protocol=3))
    with pytest.raises(UnsafeCheckpointError):
        read_discriminator(path)


# --- finetune(): a checkpoint and a folder in, a blendable model out ---------------------------


def _folder(tmp_path: Path, count: int = 6) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    for i, img in enumerate(face_images(5, count, size=40, style="woodblock")):
        # Any size and format: wide JPEGs and small PNGs are centre-cropped and resized.
        wide = np.concatenate([img[:, :10], img, img[:, -10:]], axis=1)
        (Image.fromarray(wide).save(folder / f"{i}.jpg") if i % 2 else Image.fromarray(img).save(folder / f"{i}.png"))
    (folder / "notes.txt").write_text("not an image")
    return folder


def test_finetuned_model_loads_and_blends_with_its_base(tmp_path: Path) -> None:
    base = save_native(tiny_generator(), tmp_path / "base.safetensors")
    out = tmp_path / "transfer.safetensors"
    result = finetune(base, _folder(tmp_path), out, QUICK)
    G_base, G_transfer = load_generator(base), load_generator(out)
    assert G_transfer.config == G_base.config and any("fine-tuned from" in n for n in G_transfer.info.notes)
    state = G_transfer.state_dict()
    assert all(torch.equal(state[k], v) for k, v in result.G_ema.state_dict().items())
    z = torch.from_numpy(np.random.RandomState(0).randn(2, TINY.z_dim)).float()
    blended = blend(G_base, G_transfer, {"swap": 8})
    with torch.no_grad():
        img = blended(z, truncation_psi=0.7)
    assert img.shape == (2, 3, 16, 16) and torch.isfinite(img).all()
    # The saved file carries its discriminator: fine-tuning it again continues from that D.
    D = load_discriminator(out)
    assert D is not None and all(torch.equal(D.state_dict()[k], v) for k, v in result.D.state_dict().items())
    assert (tmp_path / "transfer-snapshots" / "fakes00000016.png").exists()


def test_image_folder_is_cropped_and_resized(tmp_path: Path) -> None:
    images = load_image_folder(_folder(tmp_path), 16)
    assert images.shape == (6, 16, 16, 3) and images.dtype == np.uint8


@pytest.mark.parametrize("case", ["missing", "empty", "no images"])
def test_bad_image_folders(tmp_path: Path, case: str) -> None:
    folder = tmp_path / "data"
    if case != "missing":
        folder.mkdir()
    if case == "no images":
        (folder / "a.png").write_bytes(b"not really a png")
    with pytest.raises(DatasetError):
        load_image_folder(folder, 16)
    base = save_native(tiny_generator(), tmp_path / "base.safetensors")
    result = CliRunner().invoke(app, ["finetune", str(base), str(folder), "-o", str(tmp_path / "o.safetensors")])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and str(folder.name) in lines[0]
    assert not (tmp_path / "o.safetensors").exists()


def test_cli_finetune(tmp_path: Path) -> None:
    base = save_native(tiny_generator(), tmp_path / "base.safetensors")
    out = tmp_path / "t.safetensors"
    args = ["finetune", str(base), str(_folder(tmp_path)), "-o", str(out), "--kimg", "0.008", "--batch", "4",
            "--mirror", "--augment", "diffaugment", "--snapshots", str(tmp_path / "s"), "--snapshot-kimg", "0.004",
            "--device", "cpu", "-q"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(out) and load_generator(out).img_resolution == 16
    assert sorted(p.name for p in (tmp_path / "s").glob("*.png")) == ["fakes00000004.png", "fakes00000008.png"]
    bad = CliRunner().invoke(app, [*args[:5], "--augment", "mixup"])
    assert bad.exit_code == 2 and "augment must be one of" in bad.output
    bad = CliRunner().invoke(app, [*args[:5], "--mapping-lr", "-1"])
    assert bad.exit_code == 2 and "mapping lr must be" in bad.output


def test_a_fixed_mapping_keeps_the_bases_w_space(tmp_path: Path) -> None:
    """--mapping-lr 0: the synthesis transfers, the mapping (z -> w) stays the base's exactly."""
    base = save_native(tiny_generator(), tmp_path / "base.safetensors")
    out = tmp_path / "t.safetensors"
    args = ["finetune", str(base), str(_folder(tmp_path)), "-o", str(out), "--kimg", "0.016", "--batch", "4",
            "--mapping-lr", "0", "--device", "cpu", "-q"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    before, after = load_generator(base).state_dict(), load_generator(out).state_dict()
    mapping = [k for k in before if k.startswith("mapping.") and not k.endswith("w_avg")]
    assert mapping and all(torch.equal(before[k], after[k]) for k in mapping)
    assert not torch.equal(before["synthesis.b16.conv1.weight"], after["synthesis.b16.conv1.weight"])


def test_finetune_follows_the_thread_policy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a busy CPU fine-tuning trains on one torch thread (a second one waits at every small op)."""
    import renderer.jobs.threads as threads

    base = save_native(tiny_generator(), tmp_path / "base.safetensors")
    monkeypatch.setattr(threads, "usable_cores", lambda: 4)
    seen: list[int] = []
    before = torch.get_num_threads()
    images = _folder(tmp_path)
    for load, expected in ((3.6, 1), (0.0, 4)):
        monkeypatch.setattr(threads, "machine_load", lambda load=load: load)
        monkeypatch.setattr(threads, "SMALL_WORK_PIXELS", 1)  # the tiny model's steps count as large work here
        seen.clear()
        finetune(base, images, tmp_path / f"t{load}.safetensors", QUICK, progress=lambda p: seen.append(torch.get_num_threads()))
        assert seen and set(seen) == {expected}
    assert torch.get_num_threads() == before  # restored after
