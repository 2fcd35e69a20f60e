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
