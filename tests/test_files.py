"""The one atomic-write helper: complete files or none, missing folders created, one-line errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from renderer.errors import EncoderError, RendererError
from renderer.output.files import PendingFile, atomic_path, make_folder


def test_a_file_appears_only_when_the_block_succeeds(tmp_path: Path) -> None:
    path = tmp_path / "new" / "deeper" / "notes.txt"
    with atomic_path(path) as tmp:
        assert tmp.parent == path.parent and tmp.name.startswith(".") and tmp.suffix == ".txt"
        tmp.write_text("done")
        assert not path.exists()
    assert path.read_text() == "done"
    assert list(path.parent.iterdir()) == [path]


def test_a_failing_block_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("old")
    with pytest.raises(RuntimeError, match="out of memory"), atomic_path(path) as tmp:
        tmp.write_text("half")
        raise RuntimeError("out of memory")
    assert path.read_text() == "old"
    assert list(tmp_path.iterdir()) == [path]


def test_an_os_error_in_the_block_is_one_line_naming_the_path(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    no_space = r"notes\.txt: cannot write \(No space left on device\)"
    with pytest.raises(EncoderError, match=no_space) as info, atomic_path(path, error=EncoderError) as tmp:
        tmp.write_text("half")
        raise OSError(28, "No space left on device")
    assert "\n" not in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_temporaries_of_one_process_never_collide(tmp_path: Path) -> None:
    first, second = PendingFile(tmp_path / "a.json"), PendingFile(tmp_path / "a.json")
    assert first.tmp != second.tmp


def test_a_folder_under_a_file_is_a_one_line_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(RendererError, match=r"file/sub: cannot create the folder \(Not a directory\)"):
        make_folder(blocker / "sub")
    with pytest.raises(RendererError, match=r"file: cannot create the folder \(a file of that name is in the way\)"):
        make_folder(blocker)
    with pytest.raises(RendererError, match=r"file/x\.png: cannot create the folder .*file \("), atomic_path(blocker / "x.png"):
        pass
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_folder_is_a_one_line_error(tmp_path: Path) -> None:
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(RendererError, match="read-only: cannot write to the folder"):
            make_folder(folder)
        with pytest.raises(RendererError, match="read-only/sub: cannot create the folder"):
            make_folder(folder / "sub")
    finally:
        folder.chmod(0o700)
