"""renderer: StyleGAN2 video and animation rendering.

The public names below load on first use, so `import renderer.plan.script` or `renderer.plan.paths` (the
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
    "GenerateSettings": "renderer.jobs.stills",
    "describe_generator": "renderer.jobs.stills",
    "export_timeline": "renderer.jobs.stills",
    "generate_images": "renderer.jobs.stills",
    "load_timeline": "renderer.jobs.stills",
    "save_seed_images": "renderer.jobs.stills",
    "BlendedGenerator": "renderer.models.blending",
    "blend": "renderer.models.blending",
    "blend_models": "renderer.models.blending",
    "load_generator": "renderer.models.checkpoints",
    "read_checkpoint": "renderer.models.checkpoints",
    "save_native": "renderer.models.checkpoints",
    "CheckpointError": "renderer.errors",
    "RendererError": "renderer.errors",
    "UnsafeCheckpointError": "renderer.errors",
    "UsageError": "renderer.errors",
    "Generator": "renderer.models.stylegan2",
    "GeneratorConfig": "renderer.models.stylegan2",
    "ModelInfo": "renderer.models.stylegan2",
    "to_uint8": "renderer.frames.images",
    "build_timeline": "renderer.frames.latents",
    "Script": "renderer.plan.script",
    "ScriptError": "renderer.plan.script",
    "load_script": "renderer.plan.script",
    "parse_seeds": "renderer.plan.seeds",
    "seed_to_z": "renderer.plan.seeds",
    "seeds_to_z": "renderer.plan.seeds",
    "Timeline": "renderer.plan.timeline",
    "PreviewResult": "renderer.jobs.preview",
    "PreviewSettings": "renderer.jobs.preview",
    "preview": "renderer.jobs.preview",
    "RenderResult": "renderer.jobs.render",
    "RenderSettings": "renderer.jobs.render",
    "render": "renderer.jobs.render",
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
    from renderer.jobs.stills import (  # noqa: F401
        GenerateSettings,
        describe_generator,
        export_timeline,
        generate_images,
        load_timeline,
        save_seed_images,
    )
    from renderer.models.blending import BlendedGenerator, blend, blend_models  # noqa: F401
    from renderer.models.checkpoints import load_generator, read_checkpoint, save_native  # noqa: F401
    from renderer.errors import CheckpointError, RendererError, UnsafeCheckpointError, UsageError  # noqa: F401
    from renderer.models.stylegan2 import Generator, GeneratorConfig, ModelInfo  # noqa: F401
    from renderer.frames.images import to_uint8  # noqa: F401
    from renderer.frames.latents import build_timeline  # noqa: F401
    from renderer.jobs.preview import PreviewResult, PreviewSettings, preview  # noqa: F401
    from renderer.jobs.render import RenderResult, RenderSettings, render  # noqa: F401
    from renderer.plan.script import Script, ScriptError, load_script  # noqa: F401
    from renderer.plan.seeds import parse_seeds, seed_to_z, seeds_to_z  # noqa: F401
    from renderer.plan.timeline import Timeline  # noqa: F401
