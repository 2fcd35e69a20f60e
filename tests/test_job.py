"""One resolved render job: every setting decided and checked up front, picklable, printable, hashable."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from renderer.errors import RendererError
from renderer.jobs.job import RenderJob, RenderSettings, resolve_job
from renderer.plan.script import ScriptError, load_script
from renderer.plan.timeline import ResolvedKeyframes

SCRIPT = """
fps = 12
preset = "draft"
[models]
base = "demo"
[output]
crf = 30
[[keyframes]]
time = 0
seed = 1
[[keyframes]]
time = "2s"
seed = 2
"""


def script(tmp_path: Path):
    path = tmp_path / "clip.toml"
    path.write_text(SCRIPT)
    return load_script(path)


def test_a_job_says_everything_a_render_will_do_and_where_each_setting_came_from(tmp_path: Path) -> None:
    job = resolve_job(script(tmp_path), RenderSettings(device="cpu", output={"codec": "h265"}))
    assert job.path == tmp_path / "clip.mp4" and job.kind == "mp4"
    assert job.segments == ((0, 25),)  # 25 frames; a 4 s segment holds them all
    assert (job.encoder.codec, job.encoder.crf, job.encoder.preset) == ("h265", 30, "veryfast")
    rows = {key: (value, origin) for key, value, origin in job.describe()}
    assert rows["output.codec"] == ("h265", "settings")
    assert rows["output.crf"] == (30, "script")
    assert rows["output.preset"] == ("veryfast", "preset draft")
    assert rows["output.even_size"] == ("error", "default")
    assert rows["render.device"] == ("cpu", "settings")


def test_a_job_is_picklable_and_equal_after_the_round_trip(tmp_path: Path) -> None:
    job = resolve_job(script(tmp_path), RenderSettings(device="cpu", resolution=32))
    again = pickle.loads(pickle.dumps(job))
    assert isinstance(again, RenderJob) and again == job
    assert job.path.name == "clip.32px.mp4"  # a quick render never replaces the full one


def test_the_resume_key_changes_with_what_changes_pixels_only(tmp_path: Path) -> None:
    parsed = script(tmp_path)
    keys = ResolvedKeyframes(latents=np.zeros((2, 512)))
    cpu1 = {"device": "cpu", "batch_size": 1}
    base = resolve_job(parsed, RenderSettings(device="cpu")).journal_key(keys, cpu1)
    assert resolve_job(parsed, RenderSettings(device="cpu", encoders=3)).journal_key(keys, cpu1) == base
    assert resolve_job(parsed, RenderSettings(device="cpu", output={"blur": 1.0})).journal_key(keys, cpu1) != base
    assert resolve_job(parsed, RenderSettings(device="cpu")).journal_key(ResolvedKeyframes(latents=np.ones((2, 512))), cpu1) != base
    # Batching moves pixels by a level (kernels sum in another order), so it is part of the key.
    assert resolve_job(parsed, RenderSettings(device="cpu")).journal_key(keys, {"device": "cpu", "batch_size": 2}) != base
    assert resolve_job(parsed, RenderSettings(device="cpu")).journal_key(keys, {"device": "cuda", "batch_size": 1}) != base


@pytest.mark.parametrize(
    ("output", "message"),
    [
        ({"blur": "x"}, "output.blur: must be a number, got 'x'"),
        ({"crf": 99}, "output: crf must be an integer from 0 to 51, not 99"),
        ({"codec": "h266"}, "output.codec: 'h266' is not accepted"),
        ({"bogus": 1}, "output: unknown key 'bogus'"),
        ({"audio": "missing.wav"}, "output.audio: audio file 'missing.wav' not found"),
    ],
)
def test_library_settings_get_the_scripts_checks_and_one_line_errors(output: dict, message: str) -> None:
    with pytest.raises(ScriptError) as error:
        RenderSettings(output=output)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_times_in_library_settings_are_read_at_the_scripts_rate(tmp_path: Path) -> None:
    job = resolve_job(script(tmp_path), RenderSettings(output={"segment": "12f"}))
    assert job.output.segment == 1.0 and job.segments == ((0, 12), (12, 25))
    with pytest.raises(RendererError, match="output.segment"):
        resolve_job(script(tmp_path), RenderSettings(output={"segment": "2b"}))  # no bpm in this script
