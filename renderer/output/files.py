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
import tempfile
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO

import numpy as np
from numpy.typing import NDArray

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




def write_npz_rows(
    path: str | Path, chunks: Iterable[Mapping[str, NDArray]], num_rows: int, whole: Mapping[str, NDArray] | None = None
) -> Path:
    """Write an .npz of arrays stacked from chunks of rows, one chunk in memory at a time.

    An hours-long timeline's latents are gigabytes: np.savez would need them (twice) in memory.
    Each array is streamed into a hidden temporary .npy beside the output, then the .npy files are
    stored (uncompressed, as np.savez does) in the zip, which np.load reads as usual.

    Args:
        chunks: dicts name -> [n, ...], the next n rows of each array (every chunk the same names)
        num_rows: rows in all, the arrays' first dimension
        whole: arrays stored as they are
    """
    path = Path(path)
    with atomic_path(path) as tmp, tempfile.TemporaryDirectory(dir=path.parent, prefix=f".{path.name}.") as parts:
        files: dict[str, IO[bytes]] = {}
        rows = 0
        try:
            for chunk in chunks:
                for name, values in chunk.items():
                    if name not in files:
                        files[name] = open(Path(parts) / f"{name}.npy", "wb")  # noqa: SIM115 (closed below)
                        header = {"descr": np.lib.format.dtype_to_descr(values.dtype), "fortran_order": False,
                                  "shape": (num_rows, *values.shape[1:])}
                        np.lib.format.write_array_header_2_0(files[name], header)
                    files[name].write(np.ascontiguousarray(values).tobytes())
                rows += len(next(iter(chunk.values())))
        finally:
            for f in files.values():
                f.close()
        if rows != num_rows:
            raise RendererError(f"{path}: {rows} rows were written, not {num_rows}")
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
            for name in files:
                archive.write(Path(parts) / f"{name}.npy", arcname=f"{name}.npy")
            for name, values in (whole or {}).items():
                with archive.open(f"{name}.npy", "w", force_zip64=True) as f:
                    np.lib.format.write_array(f, np.asanyarray(values))
    return path


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
        try:
            handle = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held until __exit__
        except OSError as e:  # os.access can say yes where the file system says no (read-only mounts, /proc)
            raise RendererError(f"{self.path.parent}: cannot write to the folder ({_reason(e)})") from None
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
