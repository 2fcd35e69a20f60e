"""What makes a render resumable and reproducible: content hashes, the segment journal, the sidecar.

No torch. The journal (`manifest.json` in the render's work folder) is keyed by the hashes of the
script, of every checkpoint and of the settings that change pixels; a resume is refused when any of
them changed. Each entry is written only after its segment file is complete, and the journal itself
is replaced atomically, so an interrupted render never records a segment it does not have.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from renderer.errors import UsageError
from renderer.output.files import atomic_path

MANIFEST = "manifest.json"
_CHUNK = 1 << 20


def file_sha256(path: str | Path) -> str:
    """sha256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def model_sha256(name_or_path: str, builtin_version: str) -> str:
    """A checkpoint file's sha256; built-in models are named by name and renderer version."""
    path = Path(name_or_path)
    if path.is_file():
        return file_sha256(path)
    return hashlib.sha256(f"builtin:{name_or_path}:{builtin_version}".encode()).hexdigest()


def json_sha256(data: Any) -> str:
    """sha256 of a canonical JSON form (sorted keys) of plain data."""
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def write_json_atomic(path: Path, data: Mapping[str, Any]) -> None:
    """Write JSON via a temporary file and a rename, so readers never see half a file."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")


class Journal:
    """The segments of one render that are complete, keyed by what they were rendered from.

    Encoder threads record their segments concurrently; a lock keeps the file consistent.
    """

    def __init__(self, folder: Path, key: Mapping[str, Any]) -> None:
        self.folder = folder
        self.key = dict(key)
        self.done: dict[int, str] = {}  # segment index -> file name in folder
        self._lock = threading.Lock()

    @property
    def path(self) -> Path:
        return self.folder / MANIFEST

    @classmethod
    def resume(cls, folder: Path, key: Mapping[str, Any]) -> Journal:
        """The journal of an interrupted render; UsageError if it was made from other inputs."""
        journal = cls(folder, key)
        try:
            saved = json.loads(journal.path.read_text())
        except FileNotFoundError:
            raise UsageError(f"nothing to resume: no partial render in {folder}") from None
        except (OSError, ValueError) as e:
            raise UsageError(f"{journal.path}: unreadable ({e}); render again without --resume") from None
        before = saved.get("key", {})
        changed = [_describe_change(name, before.get(name), key.get(name)) for name in sorted(set(key) | set(before))
                   if before.get(name) != key.get(name)]
        if changed:
            raise UsageError(
                f"cannot resume: {', '.join(changed)} changed since the partial render; render again without --resume"
            )
        for index, name in saved.get("segments", {}).items():
            if (folder / name).exists():
                journal.done[int(index)] = name
        return journal

    @staticmethod
    def saved_key(folder: Path) -> dict[str, Any]:
        """The key of the partial render in `folder` ({} when there is none or it is unreadable)."""
        try:
            key = json.loads((folder / MANIFEST).read_text()).get("key", {})
        except (OSError, ValueError, AttributeError):
            return {}
        return key if isinstance(key, dict) else {}

    def record(self, index: int, name: str) -> None:
        with self._lock:
            self.done[index] = name
            self._write()

    def flush(self) -> None:
        with self._lock:
            self._write()

    def _write(self) -> None:
        segments = {str(i): self.done[i] for i in sorted(self.done)}
        write_json_atomic(self.path, {"key": self.key, "segments": segments})


def _describe_change(name: str, before: Any, now: Any) -> str:
    """A changed key entry in words: hashes by name only, plain settings with both values."""
    if isinstance(before, dict) and isinstance(now, dict):
        return f"{name} ({_settings(before)} then, {_settings(now)} now)"
    return name


def _settings(values: dict[str, Any]) -> str:
    return " ".join(f"{k} {v}" for k, v in sorted(values.items()))


__all__ = ["Journal", "file_sha256", "json_sha256", "model_sha256", "write_json_atomic"]
