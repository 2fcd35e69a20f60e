"""The command line, driven through Typer's runner: results on stdout, one-line errors, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from renderer import __version__
from renderer.cli import app

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def assert_one_line_error(result, exit_code: int, *fragments: str) -> None:
    assert result.exit_code == exit_code, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_version_and_help() -> None:
    result = invoke("--version")
    assert result.exit_code == 0 and __version__ in result.stdout
    result = invoke("--help")
    assert result.exit_code == 0
    for command in ("inspect", "convert", "generate"):
        assert command in result.stdout
    help_text = invoke("generate", "--help").stdout
    for panel in ("Model", "Latents", "Output", "Device and speed"):
        assert panel in help_text


@pytest.mark.parametrize(
    "name,fmt,w_avg",
    [
        ("nvidia_base.pkl", "nvidia-pickle", "G_ema.mapping.w_avg"),
        ("tf_base.pkl", "tf-pickle", "Gs dlatent_avg"),
        ("rosinality_base.pt", "rosinality", "latent_avg"),
        ("rosinality_transfer_train.pt", "rosinality", "estimated"),
    ],
)
def test_inspect(fixtures: Path, name: str, fmt: str, w_avg: str) -> None:
    result = invoke("inspect", fixtures / name, "--json")
    assert result.exit_code == 0, result.output
    facts = json.loads(result.stdout)
    assert facts["format"] == fmt and w_avg in facts["w_avg_source"]
    assert (facts["img_resolution"], facts["z_dim"], facts["w_dim"], facts["num_ws"]) == (32, 64, 64, 8)
    assert facts["mapping_layers"] == 8
    assert facts["channels"] == {"4": 48, "8": 48, "16": 48, "32": 32}
    text = invoke("inspect", fixtures / name).stdout
    for fragment in (fmt, "32 x 32", "4: 48, 8: 48, 16: 48, 32: 32", "8 layers"):
        assert fragment in text


def test_convert_then_generate_from_it(fixtures: Path, tmp_path: Path) -> None:
    out = tmp_path / "base.safetensors"
    result = invoke("convert", fixtures / "tf_base.pkl", out)
    assert result.exit_code == 0 and str(out) in result.stdout
    assert "native" in invoke("inspect", out).stdout
    result = invoke("generate", "-m", out, "-s", "0-1", "-o", tmp_path / "png", "--device", "cpu", "-q")
    assert result.exit_code == 0, result.output


def test_generate_writes_reference_pixels(fixtures: Path, tmp_path: Path) -> None:
    """PNG pixels are NVIDIA's uint8 rule applied to the reference images."""
    outdir = tmp_path / "out"
    result = invoke(
        "generate", "--model", fixtures / "nvidia_base.pkl", "--seeds", "0-3", "--psi", "0.7",
        "-o", outdir, "--device", "cpu", "--batch-size", "3",
    )
    assert result.exit_code == 0, result.output
    ref = np.load(fixtures / "ref_nvidia_base.npz")
    expected = np.clip(ref["img_psi0_7"] * 127.5 + 128, 0, 255).astype(np.uint8).transpose(0, 2, 3, 1)
    for i, seed in enumerate(ref["seeds"]):
        path = outdir / f"seed{seed:04d}.png"
        assert str(path) in result.stdout
        pixels = np.asarray(Image.open(path))
        assert pixels.shape == (32, 32, 3)
        diff = np.abs(pixels.astype(int) - expected[i].astype(int))
        assert diff.max() <= 1  # float rounding can move a value across an integer boundary
        assert (diff == 0).mean() > 0.99


def test_generate_demo_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = invoke("generate", "--seeds", "3,1", "-q")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["seed0001.png", "seed0003.png"]
    assert Image.open(tmp_path / "out" / "seed0003.png").size == (256, 256)


def test_missing_checkpoint(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pkl"
    assert_one_line_error(invoke("inspect", missing), 2, str(missing), "no such file")
    assert_one_line_error(invoke("generate", "-m", missing, "-o", tmp_path), 2, "no such file")


def test_unsafe_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "evil.pkl"
    path.write_bytes(b"\x80\x02cos\nsystem\nX\x04\x00\x00\x00trueh\x00\x85R.")
    assert_one_line_error(invoke("inspect", path), 2, "'os.system'", "refused")


def test_corrupt_checkpoint(fixtures: Path, tmp_path: Path) -> None:
    path = tmp_path / "half.pkl"
    path.write_bytes((fixtures / "nvidia_base.pkl").read_bytes()[:100_000])
    assert_one_line_error(invoke("inspect", path), 2, str(path), "truncated or corrupt")


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert_one_line_error(invoke("generate", "--seeds", "3-1"), 2, "runs backwards")
    assert_one_line_error(invoke("generate", "--noise-mode", "loud"), 2, "noise mode")
    assert_one_line_error(invoke("generate", "--precision", "fp8"), 2, "precision")
    assert_one_line_error(invoke("convert", "demo", tmp_path / "x.bin"), 2, ".safetensors")


def test_unwritable_output_folder(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert_one_line_error(invoke("generate", "-s", "0", "-o", blocker / "sub", "-q"), 1, "cannot create")


def test_python_dash_m_entry_point() -> None:
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "renderer", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and "renderer" in result.stdout


def test_help_texts_keep_their_bracketed_text() -> None:
    from typer.testing import CliRunner

    from renderer.cli import app

    text = CliRunner().invoke(app, ["render", "--help"], env={"COLUMNS": "240"}).output
    assert "(overrides [output] audio)" in text and "[default: 18]" in text
    text = CliRunner().invoke(app, ["preview", "--help"], env={"COLUMNS": "240"}).output
    assert "[default: beside the script]" in text


def test_a_shown_preset_is_the_file_verbatim_and_works_as_a_preset(tmp_path) -> None:
    from typer.testing import CliRunner

    from renderer.cli import app
    from renderer.plan.script import available_presets, load_script

    for name, path in available_presets().items():
        shown = CliRunner().invoke(app, ["presets", name], env={"COLUMNS": "40"}).output
        assert shown == path.read_text(encoding="utf-8")  # no wrapping at narrow widths
    mine = tmp_path / "mine.toml"
    mine.write_text(CliRunner().invoke(app, ["presets", "share"], env={"COLUMNS": "40"}).output)
    script = tmp_path / "s.toml"
    script.write_text('[models]\nbase = "demo"\n[[keyframes]]\ntime = 0\nseed = 1\n')
    assert load_script(script, presets=[str(mine)]).output.preset == "slow"
