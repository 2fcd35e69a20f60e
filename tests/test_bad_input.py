"""Every CLI command against hostile and malformed inputs: one line naming the culprit, the right
exit code, no traceback, the output untouched and nothing left behind."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from tests.test_cli import assert_one_line_error, invoke

REPO = Path(__file__).resolve().parents[1]
SENTINEL = b"an earlier result that must survive"

GOOD = """\
fps = 8
size = 32
[models]
base = "demo"
[[keyframes]]
time = 0
seed = 1
[[keyframes]]
time = 1
seed = 2
"""


# name -> file contents (bytes) or a script's text; "folder/" is made as a folder.
FILES: dict[str, bytes | str] = {
    "good.toml": GOOD,
    "empty.pkl": b"",
    "text.pkl": b"hello, I am not a checkpoint",
    # A pickle that would run os.system("true") if it were ever unpickled freely.
    "evil.pkl": b"\x80\x02cos\nsystem\nX\x04\x00\x00\x00trueh\x00\x85R.",
    # A safetensors header that promises a tensor far past the end of the file.
    "short.safetensors": (lambda h: len(h).to_bytes(8, "little") + h)(
        b'{"w":{"dtype":"F32","shape":[1024,1024],"data_offsets":[0,4194304]}}'
    ),
    "not_audio.wav": b"RIFF....WAVEfmt garbage",
    "big_seed.toml": GOOD.replace("seed = 2", "seed = 4294967296"),
    "fast.toml": GOOD.replace("fps = 8", "fps = 1e9"),
    "huge.toml": GOOD.replace("size = 32", "size = 1000000"),
    "typo.toml": GOOD.replace("fps = 8", "fsp = 8"),
    "syntax.toml": GOOD.replace("fps = 8", "fps = = 8"),
    "backwards.toml": GOOD.replace("time = 1", "time = 0"),
    "folder_base.toml": GOOD.replace('"demo"', '"folder"'),
    "evil_base.toml": GOOD.replace('"demo"', '"evil.pkl"'),
    "missing_base.toml": GOOD.replace('"demo"', '"missing.pkl"'),
    "nan_latent.toml": GOOD.replace("seed = 2", 'latent = "nan.npy"'),
    "missing_audio.toml": GOOD + '[output]\naudio = "missing.wav"\n',
    "bad_audio.toml": GOOD + '[output]\naudio = "not_audio.wav"\n',
    "folder/": b"",
}

# (case id, arguments ({t} is the temporary folder), exit code, fragments of the one error line)
CASES = [
    ("inspect missing", "inspect {t}/missing.pkl", 2, ["missing.pkl", "no such file"]),
    ("inspect folder", "inspect {t}/folder", 2, ["folder", "is a folder"]),
    ("inspect empty", "inspect {t}/empty.pkl", 2, ["empty.pkl", "empty file"]),
    ("inspect text", "inspect {t}/text.pkl", 2, ["text.pkl", "unrecognised"]),
    ("inspect hostile", "inspect {t}/evil.pkl", 2, ["evil.pkl", "'os.system'"]),
    ("inspect short safetensors", "inspect {t}/short.safetensors", 2, ["short.safetensors"]),
    ("convert hostile", "convert {t}/evil.pkl {t}/out.safetensors", 2, ["evil.pkl", "'os.system'"]),
    ("convert bad suffix", "convert demo {t}/out.bin", 2, [".safetensors"]),
    ("generate missing", "generate -m {t}/missing.pkl -s 1 -o {t}/out", 2, ["missing.pkl"]),
    ("generate nan psi", "generate -s 1 --psi nan -o {t}/out", 2, ["psi", "nan"]),
    ("generate bad seeds", "generate -s 3-1 -o {t}/out", 2, ["runs backwards"]),
    ("blend hostile", "blend {t}/evil.pkl demo --swap 16 -o {t}/out.safetensors", 2, ["evil.pkl"]),
    ("blend no mix", "blend demo demo -o {t}/out.safetensors", 2, ["--swap"]),
    ("project missing photo", "project {t}/missing.png -m demo -o {t}/out.npz", 2, ["missing.png"]),
    ("project hostile model", "project {t}/missing.png -m {t}/evil.pkl -o {t}/out.npz", 2, []),
    ("presets unknown", "presets nosuch", 2, ["nosuch"]),
    ("validate big seed", "validate {t}/big_seed.toml", 2, ["big_seed.toml", "seed", "4294967295"]),
    ("validate fps", "validate {t}/fast.toml", 2, ["fast.toml", "fps"]),
    ("validate size", "validate {t}/huge.toml", 2, ["huge.toml", "size"]),
    ("validate typo", "validate {t}/typo.toml", 2, ["typo.toml", "fsp", "fps"]),
    ("validate syntax", "validate {t}/syntax.toml", 2, ["syntax.toml"]),
    ("validate backwards", "validate {t}/backwards.toml", 2, ["backwards.toml", "keyframes"]),
    ("validate folder base", "validate {t}/folder_base.toml", 2, ["models.base", "folder"]),
    ("validate nan latent", "validate {t}/nan_latent.toml", 2, ["nan.npy"]),
    ("validate timeline txt", "validate {t}/good.toml --timeline {t}/out.txt", 2, ["out.txt", ".npz"]),
    ("render hostile base", "render {t}/evil_base.toml -o {t}/out.mp4 -q", 2, ["evil.pkl", "'os.system'"]),
    ("render missing base", "render {t}/missing_base.toml -o {t}/out.mp4 -q", 2, ["missing.pkl"]),
    ("render missing audio", "render {t}/missing_audio.toml -o {t}/out.mp4 -q", 2, ["missing.wav"]),
    ("render not audio", "render {t}/bad_audio.toml -o {t}/out.mp4 -q", 2, ["not_audio.wav"]),
    ("render big seed", "render {t}/big_seed.toml -o {t}/out.mp4 -q", 2, ["seed"]),
    ("render bad crf", "render {t}/good.toml -o {t}/out.mp4 --crf 60 -q", 2, ["crf"]),
    ("render bad suffix", "render {t}/good.toml -o {t}/out.xyz -q", 2, ["out.xyz"]),
    ("preview hostile base", "preview {t}/evil_base.toml -o {t}/out -q", 2, ["evil.pkl"]),
    ("preview syntax", "preview {t}/syntax.toml -o {t}/out -q", 2, ["syntax.toml"]),
]

# Outputs in a folder no file can be created in, whoever runs the tests (root included): the work
# fails (exit 1) with one line, and nothing is left behind. Linux's /proc serves as that folder.
UNWRITABLE = [
    ("convert unwritable", "convert demo /proc/x.safetensors", 1, ["/proc"]),
    ("blend unwritable", "blend demo demo-transfer --swap 16 -o /proc/x.safetensors", 1, ["/proc"]),
    ("validate timeline unwritable", "validate {t}/good.toml --timeline /proc/t.npz", 1, ["/proc"]),
    ("generate unwritable", "generate -s 1 -o /proc/gen", 1, ["/proc"]),
    ("render unwritable", "render {t}/good.toml -o /proc/o.mp4 -q", 1, ["/proc"]),
]
if Path("/proc/self").is_dir():
    CASES += UNWRITABLE

# What each command would write: made beforehand with SENTINEL bytes, checked unchanged after.
OUTPUTS = ("out.safetensors", "out.mp4", "out.npz", "out.txt", "out.xyz")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("bad_input")
    for name, content in FILES.items():
        if name.endswith("/"):
            (folder / name).mkdir()
        else:
            (folder / name).write_bytes(content.encode() if isinstance(content, str) else content)
    latent = np.zeros((1, 512), np.float32)
    latent[0, 3] = np.nan
    np.save(folder / "nan.npy", latent)
    return folder


def listing(folder: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None) for p in sorted(folder.rglob("*"))}


@pytest.mark.parametrize(("args", "exit_code", "fragments"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_and_touches_nothing(
    inputs: Path, tmp_path: Path, args: str, exit_code: int, fragments: list[str]
) -> None:
    work = tmp_path / "t"
    work.mkdir()
    for entry in inputs.iterdir():
        target = work / entry.name
        if entry.is_dir():
            target.mkdir()
        else:
            target.write_bytes(entry.read_bytes())
    for name in OUTPUTS:
        (work / name).write_bytes(SENTINEL)
    (work / "out").mkdir()
    (work / "out" / "keep.png").write_bytes(SENTINEL)
    before = listing(work)

    result = invoke(*args.format(t=work).split())

    assert_one_line_error(result, exit_code, *fragments)
    # Output untouched and nothing left behind: no hidden work folders, locks or temporary files.
    assert listing(work) == before


def test_ctrl_c_while_the_command_line_loads_exits_130_quietly(tmp_path: Path) -> None:
    # Interrupt deterministically in the middle of importing the CLI (when it imports rich).
    launcher = tmp_path / "launch.py"
    launcher.write_text(textwrap.dedent("""
        import builtins, os, runpy, signal, sys
        signal.signal(signal.SIGINT, signal.default_int_handler)  # a background job starts with SIGINT ignored
        real_import = builtins.__import__
        def interrupting_import(name, *args, **kwargs):
            if name.startswith("rich"):
                builtins.__import__ = real_import
                os.kill(os.getpid(), signal.SIGINT)
            return real_import(name, *args, **kwargs)
        builtins.__import__ = interrupting_import
        sys.argv = ["renderer", "--help"]
        runpy.run_module("renderer", run_name="__main__")
    """))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, str(launcher)], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 130, done.stderr
    assert done.stderr.strip() == "interrupted" and "Traceback" not in done.stderr


def test_the_console_script_is_the_interrupt_safe_entry() -> None:
    text = (REPO / "pyproject.toml").read_text()
    assert 'renderer = "renderer.__main__:main"' in text  # the same entry as `python -m renderer`


@pytest.mark.parametrize(
    ("args", "heavy"),
    [
        (["--help"], ["torch", "scipy.interpolate"]),
        (["presets"], ["torch", "scipy.interpolate"]),
        (["presets", "share"], ["torch", "scipy.interpolate"]),
        # Seeds on built-in models: nothing to check in a model, so no torch.
        (["validate", str(REPO / "examples" / "calm.toml")], ["torch"]),
    ],
    ids=["help", "presets", "presets share", "validate seeds"],
)
def test_quick_commands_start_without_the_heavy_imports(args: list[str], heavy: list[str]) -> None:
    code = (
        "import sys\nfrom typer.testing import CliRunner\nfrom renderer.cli import app\n"
        f"result = CliRunner().invoke(app, {args!r})\n"
        "assert result.exit_code == 0, result.output\n"
        f"print(','.join(m for m in {heavy!r} if m in sys.modules), file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.returncode == 0 and not done.stderr.strip(), f"imported: {done.stderr}"


def test_validate_still_checks_what_needs_a_model(tmp_path: Path) -> None:
    """A latent file (or a checkpoint file) is checked against the model, so validate loads it."""
    latent = np.zeros((1, 7), np.float32)
    np.save(tmp_path / "short.npy", latent)
    script = tmp_path / "s.toml"
    script.write_text(GOOD.replace("seed = 2", 'latent = "short.npy"'))
    assert_one_line_error(invoke("validate", script), 2, "short.npy")
