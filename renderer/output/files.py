"""Files that appear under their final name only when complete, in folders created on demand.

Every file the renderer writes goes through `PendingFile` (or its context-manager form
`atomic_path`): it is written under a hidden temporary name in the destination folder, then
renamed onto its final name, so a reader, a crash or a Ctrl-C never leaves half a file there.
The temporary keeps the final name's extension, so tools that choose a format by extension
(ffmpeg, Pillow, matplotlib) still do.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from renderer.errors import RendererError, UsageError

_serial = itertools.count()  # temporaries of one process never share a name, even across threads


def _reason(error: OSError) -> str:
    if isinstance(error, FileExistsError):
        return "a file of that name is in the way"
    return error.strerror or str(error)


def make_folder(folder: str | Path, *, error: type[RendererError] = RendererError) -> Path:
    """Create folder and its missing parents; returns it.

    Raises:
        error (one line naming the folder) when it cannot be created or files cannot be created in it
    """
    folder = Path(folder)
    problem = _prepare(folder)
    if problem is not None:
        what, why = problem
        raise error(f"{folder}: {what} ({why})")
    return folder


def _prepare(folder: Path) -> tuple[str, str] | None:
    """Create folder (and its parents) if missing; (what failed, why) when files cannot be created in it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        return "cannot create the folder", _reason(e)
    if not os.access(folder, os.W_OK | os.X_OK):
        return "cannot write to the folder", "permission denied"
    return None


class PendingFile:
    """A file written under a temporary name beside `path`, renamed onto `path` by commit().

    For writers that keep a file open across calls (an ffmpeg process writing a segment); code
    that writes a file in one block uses `atomic_path`. Missing parent folders are created.
    """

    def __init__(self, path: str | Path, *, error: type[RendererError] = RendererError) -> None:
        self.path = Path(path)
        self.error = error
        problem = _prepare(self.path.parent)
        if problem is not None:
            what, why = problem
            raise error(f"{self.path}: {what} {self.path.parent} ({why})")
        self.tmp = self.path.with_name(f".{self.path.stem}.{os.getpid()}.{next(_serial)}.partial{self.path.suffix}")

    def commit(self) -> Path:
        """Rename the finished temporary onto path (replacing an older file); returns path."""
        try:
            os.replace(self.tmp, self.path)
        except OSError as e:
            self.discard()
            raise self.fail(e) from None
        return self.path

    def discard(self) -> None:
        """Delete the temporary, if it was created."""
        with contextlib.suppress(OSError):
            self.tmp.unlink(missing_ok=True)

    def fail(self, error: OSError) -> RendererError:
        """The one-line error for an OSError met while writing this file."""
        return self.error(f"{self.path}: cannot write ({_reason(error)})")


@contextlib.contextmanager
def atomic_path(path: str | Path, *, error: type[RendererError] = RendererError) -> Iterator[Path]:
    """A temporary path to write path's content to; renamed onto path when the block succeeds.

    Missing parent folders are created. When the block raises, the temporary is deleted and the
    old file at path, if any, is left as it was; an OSError becomes `error`, one line naming path.
    """
    pending = PendingFile(path, error=error)
    try:
        yield pending.tmp
    except OSError as e:
        pending.discard()
        raise pending.fail(e) from None
    except BaseException:
        pending.discard()
        raise
    pending.commit()




class OutputLock:
    """An OS-level lock on an output path, held while a render writes it.

    A second render to the same output refuses at once (one line naming the holder's process)
    instead of deleting the first one's segments and splicing the two videos. The lock is an
    flock on a hidden file beside the output: the kernel drops it when its process ends, however
    it ends, so a crashed or killed render never blocks the next one. Where flock does not exist
    (Windows) nothing is locked.
    """

    def __init__(self, output: str | Path) -> None:
        output = Path(output)
        self.path = output.parent / f".{output.name}.lock"
        self._file: IO[str] | None = None

    def __enter__(self) -> OutputLock:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows
            return self
        make_folder(self.path.parent)
        handle = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held until __exit__
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            output = self.path.name[1 : -len(".lock")]
            raise UsageError(
                f"{self.path.parent / output}: another render is writing this output ({holder}); "
                "wait for it to finish, or choose another output"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"process {os.getpid()}")
        handle.flush()
        self._file = handle
        return self

    def __exit__(self, *exc: object) -> None:
        if self._file is not None:
            self.path.unlink(missing_ok=True)  # while still held: no one can be inside it now
            self._file.close()
            self._file = None


__all__ = ["OutputLock", "PendingFile", "atomic_path", "make_folder"]
