"""renderer: StyleGAN2 video and animation rendering.

The public names below load on first use, so `import renderer.script` or `renderer.paths` (the
torch-free parts) does not import torch.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

try:
    __version__ = version("stylegan-renderer")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0+unknown"

_EXPORTS = {
    "GenerateSettings": "renderer.api",
    "describe_generator": "renderer.api",
    "export_timeline": "renderer.api",
    "generate_images": "renderer.api",
    "load_timeline": "renderer.api",
    "save_seed_images": "renderer.api",
    "BlendedGenerator": "renderer.blending",
    "blend": "renderer.blending",
    "blend_models": "renderer.blending",
    "load_generator": "renderer.checkpoints",
    "read_checkpoint": "renderer.checkpoints",
    "save_native": "renderer.checkpoints",
    "CheckpointError": "renderer.errors",
    "RendererError": "renderer.errors",
    "UnsafeCheckpointError": "renderer.errors",
    "UsageError": "renderer.errors",
    "Generator": "renderer.generator",
    "GeneratorConfig": "renderer.generator",
    "ModelInfo": "renderer.generator",
    "to_uint8": "renderer.images",
    "build_timeline": "renderer.latents",
    "Script": "renderer.script",
    "ScriptError": "renderer.script",
    "load_script": "renderer.script",
    "parse_seeds": "renderer.seeds",
    "seed_to_z": "renderer.seeds",
    "seeds_to_z": "renderer.seeds",
    "Timeline": "renderer.timeline",
    "PreviewResult": "renderer.preview",
    "PreviewSettings": "renderer.preview",
    "preview": "renderer.preview",
    "RenderResult": "renderer.rendering",
    "RenderSettings": "renderer.rendering",
    "render": "renderer.rendering",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value  # later lookups skip this hook
        return value
    raise AttributeError(f"module 'renderer' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


if TYPE_CHECKING:  # static type checkers see the real imports
    from renderer.api import (  # noqa: F401
        GenerateSettings,
        describe_generator,
        export_timeline,
        generate_images,
        load_timeline,
        save_seed_images,
    )
    from renderer.blending import BlendedGenerator, blend, blend_models  # noqa: F401
    from renderer.checkpoints import load_generator, read_checkpoint, save_native  # noqa: F401
    from renderer.errors import CheckpointError, RendererError, UnsafeCheckpointError, UsageError  # noqa: F401
    from renderer.generator import Generator, GeneratorConfig, ModelInfo  # noqa: F401
    from renderer.images import to_uint8  # noqa: F401
    from renderer.latents import build_timeline  # noqa: F401
    from renderer.preview import PreviewResult, PreviewSettings, preview  # noqa: F401
    from renderer.rendering import RenderResult, RenderSettings, render  # noqa: F401
    from renderer.script import Script, ScriptError, load_script  # noqa: F401
    from renderer.seeds import parse_seeds, seed_to_z, seeds_to_z  # noqa: F401
    from renderer.timeline import Timeline  # noqa: F401
