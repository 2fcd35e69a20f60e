"""Our own format: safetensors weights with the architecture in the header metadata; no pickle."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as safetensors_bytes

from renderer.models.checkpoints.common import LoadedCheckpoint, bad_file
from renderer.models.stylegan2 import Generator, GeneratorConfig
from renderer.models.stylegan3 import Generator as StyleGAN3Generator
from renderer.models.stylegan3 import StyleGAN3Config

FORMAT = "native"
FORMAT_TAG = "renderer.stylegan2"
FORMAT_VERSION = "1"
# The header's format tag names the model family and the config class its architecture reads into.
FAMILY_TAGS: dict[str, tuple[str, type[GeneratorConfig] | type[StyleGAN3Config]]] = {
    FORMAT_TAG: ("stylegan2", GeneratorConfig),
    "renderer.stylegan3": ("stylegan3", StyleGAN3Config),
}


def read_native(path: Path) -> LoadedCheckpoint:
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            meta = f.metadata() or {}
            if meta.get("format") not in FAMILY_TAGS:
                raise bad_file(path, "a safetensors file, but not a renderer generator (no architecture metadata)")
            if meta.get("format_version") != FORMAT_VERSION:
                raise bad_file(path, f"renderer format version {meta.get('format_version')!r}; this renderer reads {FORMAT_VERSION}")
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open is not iterable)
    except (SafetensorError, OSError, ValueError) as e:
        raise bad_file(path, f"truncated or corrupt safetensors file ({e})") from None
    family, config_class = FAMILY_TAGS[meta["format"]]
    try:
        config = config_class.from_dict(json.loads(meta["config"]))
        notes = tuple(json.loads(meta.get("notes", "[]")))
        if meta.get("converted_from"):
            notes = (f"converted from {meta['converted_from']}", *notes)
    except (KeyError, ValueError, TypeError, AttributeError) as e:
        raise bad_file(path, f"invalid architecture metadata ({e})") from None
    return LoadedCheckpoint(
        config=config,
        state_dict=tensors,
        format=FORMAT,
        w_avg_source=meta.get("w_avg_source", "checkpoint: mapping.w_avg"),
        notes=notes,
        family=family,
    )


def to_safetensors(G: Generator | StyleGAN3Generator) -> bytes:
    """G as the bytes of a renderer .safetensors file: float32 tensors plus the architecture as metadata.

    Writing them is the caller's (renderer.save_native writes atomically); the model does no I/O.
    """
    tensors = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in G.state_dict().items()}
    source = f"{G.info.format} {Path(G.info.source).name}".strip()
    metadata = {
        "format": f"renderer.{G.family}",
        "format_version": FORMAT_VERSION,
        "config": json.dumps(G.config.to_dict()),
        "w_avg_source": G.info.w_avg_source,
        "converted_from": source,
        "notes": json.dumps(list(G.info.notes)),
    }
    return safetensors_bytes(tensors, metadata=metadata)
