"""Our own format: safetensors weights with the architecture in the header metadata; no pickle."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from renderer.errors import CheckpointError
from renderer.models.checkpoints.common import LoadedCheckpoint, bad_file
from renderer.models.stylegan2 import Generator, GeneratorConfig

FORMAT = "native"
FORMAT_TAG = "renderer.stylegan2"
FORMAT_VERSION = "1"


def read_native(path: Path) -> LoadedCheckpoint:
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            meta = f.metadata() or {}
            if meta.get("format") != FORMAT_TAG:
                raise bad_file(path, "a safetensors file, but not a renderer generator (no architecture metadata)")
            if meta.get("format_version") != FORMAT_VERSION:
                raise bad_file(path, f"renderer format version {meta.get('format_version')!r}; this renderer reads {FORMAT_VERSION}")
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open is not iterable)
    except (SafetensorError, OSError, ValueError) as e:
        raise bad_file(path, f"truncated or corrupt safetensors file ({e})") from None
    try:
        config = GeneratorConfig.from_dict(json.loads(meta["config"]))
        notes = tuple(json.loads(meta.get("notes", "[]")))
        if meta.get("converted_from"):
            notes = (f"converted from {meta['converted_from']}", *notes)
    except (KeyError, ValueError, TypeError) as e:
        raise bad_file(path, f"invalid architecture metadata ({e})") from None
    return LoadedCheckpoint(
        config=config,
        state_dict=tensors,
        format=FORMAT,
        w_avg_source=meta.get("w_avg_source", "checkpoint: mapping.w_avg"),
        notes=notes,
    )


def save_native(G: Generator, path: str | Path) -> Path:
    """Write G as a renderer .safetensors file (atomically: a failure leaves no partial file)."""
    path = Path(path)
    tensors = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in G.state_dict().items()}
    source = f"{G.info.format} {Path(G.info.source).name}".strip()
    metadata = {
        "format": FORMAT_TAG,
        "format_version": FORMAT_VERSION,
        "config": json.dumps(G.config.to_dict()),
        "w_avg_source": G.info.w_avg_source,
        "converted_from": source,
        "notes": json.dumps(list(G.info.notes)),
    }
    tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        save_file(tensors, str(tmp), metadata=metadata)
        os.replace(tmp, path)
    except (OSError, SafetensorError) as e:
        tmp.unlink(missing_ok=True)
        raise CheckpointError(f"{path}: cannot write ({e})") from None
    return path
