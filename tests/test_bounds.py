"""Values no video can have fail in validation with one line naming the key and the accepted range."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from renderer.cli import app
from renderer.errors import RendererError
from renderer.frames.latents import build_timeline
from renderer.models.checkpoints import load_generator
from renderer.plan.script import ScriptError, load_script

SCRIPT = """
fps = {fps}
{extra}
[models]
base = "demo"
[[keyframes]]
time = 0
{source}
[[keyframes]]
time = "1s"
seed = 2
"""


def write(tmp_path: Path, *, fps: object = 12, extra: str = "", source: str = "seed = 1") -> Path:
    path = tmp_path / "s.toml"
    path.write_text(SCRIPT.format(fps=fps, extra=extra, source=source))
    return path


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"source": "seed = 4294967296"}, "keyframes[0] (t=0s).seed: must be an integer from 0 to 4294967295"),
        ({"fps": "1e9"}, "fps: must be at most 1000"),
        ({"extra": "size = 1000000"}, "size: must be an integer from 1 to 8192"),
        ({"extra": 'duration = "2000:00:00"'}, "a video may have at most 10,000,000"),
    ],
)
def test_out_of_range_script_values_are_one_line(tmp_path: Path, fields: dict, message: str) -> None:
    with pytest.raises(ScriptError) as error:
        load_script(write(tmp_path, **fields))
    assert message in str(error.value) and "\n" not in str(error.value)
    result = CliRunner().invoke(app, ["validate", str(tmp_path / "s.toml")])
    assert result.exit_code == 2 and message in result.output


def test_a_non_finite_latent_file_is_refused(tmp_path: Path) -> None:
    latent = np.zeros((1, 14, 512), dtype=np.float32)
    latent[0, 3, 7] = np.nan
    np.savez(tmp_path / "face.npz", w=latent)
    script = load_script(write(tmp_path, source='latent = "face.npz"'))
    with pytest.raises(ScriptError, match="face.npz' holds NaN or infinite values"):
        build_timeline(script, load_generator("demo"))


def test_a_non_finite_literal_latent_is_refused(tmp_path: Path) -> None:
    script = load_script(write(tmp_path, source="z = [nan" + ", 0.0" * 127 + "]"))
    with pytest.raises(RendererError, match=r"keyframes\[0\].*\.z: holds NaN or infinite values"):
        build_timeline(script, load_generator("demo"))


def test_generate_refuses_a_nan_psi(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["generate", "--seeds", "1", "--psi", "nan", "-o", str(tmp_path / "out")])
    assert result.exit_code == 2 and "truncation psi must be a finite number" in result.output
    assert not (tmp_path / "out").exists()
