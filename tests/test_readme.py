"""The README's examples run, and CI runs the test command the README gives."""

from __future__ import annotations

import re

from tests.conftest import REPO

README = (REPO / "README.md").read_text()


def test_python_examples_run() -> None:
    blocks = re.findall(r"```python\n(.*?)```", README, re.S)
    assert blocks
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})


def test_ci_runs_the_readme_test_command() -> None:
    commands = re.findall(r"```bash\n(.*?)\n```", README, re.S)
    assert len(commands) >= 2
    test_command = commands[1].split("&&")[-1].strip()
    ci = (REPO / ".ci" / "run").read_text()
    assert "pip install torch==2.13.0" in commands[0] and "install --quiet torch==2.13.0" in ci
    assert test_command in [line.strip() for line in ci.splitlines()]


def test_script_keys_in_the_readme_match_the_schema() -> None:
    from renderer.plan.script import KEYFRAME_KEYS, MODEL_KEYS, OUTPUT_KEYS, PATH_KEYS, TOP_KEYS, TRACK_KEYS

    section = README.split("## Keyframe scripts", 1)[1].split("\n## ", 1)[0]
    documented: set[str] = set()
    previous = ""
    for row in re.findall(r"^\| (`[^|]+) \|", section, re.M):
        for name in re.findall(r"`([^`]+)`", row):
            if name.startswith("."):  # `.latent` continues the previous `keyframes[].seed`
                name = previous.rsplit(".", 1)[0] + name
            else:
                previous = name
            documented.add(name)
    schema = {k for k in TOP_KEYS if k not in ("models", "path", "keyframes", "tracks", "output")}
    schema |= {f"output.{k}" for k in OUTPUT_KEYS}
    schema |= {f"models.{k}" for k in MODEL_KEYS} | {f"path.{k}" for k in PATH_KEYS}
    schema |= {f"tracks.{k}" for k in TRACK_KEYS} | {f"keyframes[].{k}" for k in KEYFRAME_KEYS}
    assert documented == schema, (documented - schema, schema - documented)


def test_the_readme_lists_every_shipped_preset() -> None:
    from renderer.plan.script import available_presets

    section = README.split("## Presets", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\| `([^`]+)` \|", section, re.M))
    assert listed == set(available_presets())


def test_the_readme_lists_every_example() -> None:
    section = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\| `([^`]+)` \|", section, re.M))
    assert listed == {p.name for p in (REPO / "examples").glob("*.toml")}


def test_the_quick_start_script_is_valid() -> None:
    from renderer.plan.script import parse_script, tomllib  # tomli on Python 3.10

    block = re.search(r"```toml\n(.*?)```", README, re.S)
    assert block is not None
    text = "\n".join(line[3:] if line.startswith("   ") else line for line in block.group(1).splitlines())
    script = parse_script(tomllib.loads(text))
    assert script.num_frames == 97 and script.base_model == "demo"
