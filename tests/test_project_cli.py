"""`renderer project`: photo -> aligned target -> latent file, sheet and progress video; clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from renderer import load_generator, load_script
from renderer.frames.images import to_uint8
from renderer.frames.latents import read_latent_file
from renderer.output.ffmpeg import probe
from tests.conftest import REPO
from tests.test_cli import assert_one_line_error, invoke

PHOTO = REPO / "tests" / "data" / "astronaut.jpg"


def test_project_recovers_a_generated_image_and_the_latent_works_in_a_script(fixtures: Path, tmp_path: Path) -> None:
    model = fixtures / "nvidia_base.pkl"
    G = load_generator(model)
    z = torch.from_numpy(np.random.RandomState(3).randn(1, G.z_dim)).float()
    target = to_uint8(G(z, truncation_psi=0.7)).numpy()[0]
    photo = tmp_path / "target.png"
    Image.fromarray(target).save(photo)
    out = tmp_path / "face.npz"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small convs: one thread is fastest, and immune to a busy machine
    try:
        result = invoke("project", str(photo), "-m", str(model), "-o", str(out), "--no-align", "--steps", "200",
                        "--device", "cpu", "--quiet")
    finally:
        torch.set_num_threads(threads)
    assert result.exit_code == 0, result.output
    assert result.stdout.split() == [str(out), str(tmp_path / "face.png")]
    assert "PSNR" in result.stderr and float(result.stderr.split("PSNR")[1].split()[0]) >= 28
    space, w = read_latent_file(out, z_dim=G.z_dim, w_dim=G.w_dim, num_ws=G.num_ws)
    assert space == "w" and w.shape == (G.num_ws, G.w_dim)
    sheet = Image.open(tmp_path / "face.png")
    assert sheet.size[0] > 2 * G.img_resolution

    script = tmp_path / "s.toml"
    script.write_text(f'[models]\nbase = "{model}"\n[[keyframes]]\ntime = 0\nlatent = "face.npz"\n')
    assert load_script(script).keyframes[0].source.file == out


def test_project_aligns_a_photo_and_records_a_video(tmp_path: Path) -> None:
    out = tmp_path / "astronaut.npz"
    video = tmp_path / "progress.mp4"
    result = invoke("project", str(PHOTO), "-m", "demo", "-o", str(out), "--steps", "4", "--space", "w+",
                    "--video", str(video), "--device", "cpu", "--quiet")
    assert result.exit_code == 0, result.output
    assert result.stdout.split() == [str(out), str(tmp_path / "astronaut.png"), str(video)]
    info = probe(video)
    assert (info.width, info.height, info.num_frames) == (512, 256, 4)  # target | current, a frame per step
    with np.load(out) as data:
        assert list(data.keys()) == ["w"] and data["w"].shape == (1, 14, 128)


def test_a_photo_without_a_face_suggests_no_align(tmp_path: Path) -> None:
    photo = tmp_path / "sky.png"
    gradient = np.linspace(0, 255, 128, dtype=np.uint8)
    Image.fromarray(np.stack([np.tile(gradient, (128, 1))] * 3, axis=-1)).save(photo)
    out = tmp_path / "w.npz"
    result = invoke("project", str(photo), "-m", "demo", "-o", str(out), "--steps", "2", "--device", "cpu", "--quiet")
    assert_one_line_error(result, 2, "no face found", "--no-align")
    assert not out.exists() and not list(tmp_path.glob("w.*"))


def test_project_usage_errors_write_nothing(tmp_path: Path) -> None:
    cases = [
        (["-o", str(tmp_path / "w.npy")], "written as .npz"),
        (["-o", str(tmp_path / "w.npz"), "--space", "z"], "space must be one of"),
        (["-o", str(tmp_path / "w.npz"), "--noise", "random"], "noise must be one of"),
        (["-o", str(tmp_path / "w.npz"), "--video", str(tmp_path / "v.gif")], "progress video is an .mp4"),
    ]
    for args, message in cases:
        result = invoke("project", str(PHOTO), "-m", "demo", "--steps", "2", "--device", "cpu", "--quiet", *args)
        assert_one_line_error(result, 2, message)
    missing = invoke("project", str(tmp_path / "none.jpg"), "-m", "demo", "-o", str(tmp_path / "w.npz"), "--quiet")
    assert_one_line_error(missing, 2, "none.jpg")
    assert list(tmp_path.iterdir()) == []
