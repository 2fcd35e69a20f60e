"""renderer: StyleGAN video and animation rendering.

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

# The public API: name -> the module that defines it, imported on first use. Grouped by layer
# (errors, plan, models, frames, jobs); the CLI uses nothing else.
_EXPORTS = {
    "RendererError": "renderer.errors",
    "CheckpointError": "renderer.errors",
    "UnsafeCheckpointError": "renderer.errors",
    "UsageError": "renderer.errors",
    "EncoderError": "renderer.errors",
    "describe_blend": "renderer.blendspec",
    "make_spec": "renderer.blendspec",
    "Script": "renderer.plan.script",
    "ScriptError": "renderer.plan.script",
    "load_script": "renderer.plan.script",
    "parse_script": "renderer.plan.script",
    "format_clock": "renderer.plan.script",
    "available_presets": "renderer.plan.script",
    "preset_description": "renderer.plan.script",
    "resolved_settings": "renderer.plan.script",
    "parse_seeds": "renderer.plan.seeds",
    "seed_to_z": "renderer.plan.seeds",
    "seeds_to_z": "renderer.plan.seeds",
    "Timeline": "renderer.plan.timeline",
    "TimelineChunk": "renderer.plan.timeline",
    "ResolvedKeyframes": "renderer.plan.timeline",
    "plan_timeline": "renderer.plan.timeline",
    "Track": "renderer.plan.tracks",
    "Fit": "renderer.plan.framing",
    "SIZE_NAMES": "renderer.plan.framing",
    "parse_size": "renderer.plan.framing",
    "extend_canvas": "renderer.models.canvas",
    "Synthesizer": "renderer.models.synthesizer",
    "ModelInfo": "renderer.models.synthesizer",
    "Generator": "renderer.models.stylegan2",
    "GeneratorConfig": "renderer.models.stylegan2",
    "BlendedGenerator": "renderer.models.blending",
    "blend": "renderer.models.blending",
    "blend_models": "renderer.models.blending",
    "blend_with_base": "renderer.models.blending",
    "parse_alpha_table": "renderer.blendspec",
    "blend_per_frame": "renderer.models.blending",
    "load_generator": "renderer.models.checkpoints",
    "read_checkpoint": "renderer.models.checkpoints",
    "to_uint8": "renderer.frames.images",
    "image_grid": "renderer.frames.images",
    "build_timeline": "renderer.frames.latents",
    "resolve_keyframes": "renderer.frames.latents",
    "FramePipeline": "renderer.frames.pipeline",
    "RenderJob": "renderer.jobs.job",
    "RenderSettings": "renderer.jobs.job",
    "RayOptions": "renderer.jobs.job",
    "resolve_job": "renderer.jobs.job",
    "RenderProgress": "renderer.jobs.render",
    "RenderResult": "renderer.jobs.render",
    "WorkerProgress": "renderer.jobs.render",
    "render": "renderer.jobs.render",
    "PreviewProgress": "renderer.jobs.preview",
    "PreviewResult": "renderer.jobs.preview",
    "PreviewSettings": "renderer.jobs.preview",
    "preview": "renderer.jobs.preview",
    "GenerateSettings": "renderer.jobs.stills",
    "save_native": "renderer.jobs.stills",
    "blend_grid": "renderer.jobs.stills",
    "describe_generator": "renderer.jobs.stills",
    "export_timeline": "renderer.jobs.stills",
    "generate_images": "renderer.jobs.stills",
    "load_animation": "renderer.jobs.stills",
    "load_timeline": "renderer.jobs.stills",
    "resolve_timeline": "renderer.jobs.stills",
    "save_seed_images": "renderer.jobs.stills",
    "write_png": "renderer.jobs.stills",
    "PhotoProjection": "renderer.jobs.stills",
    "project_photo": "renderer.jobs.stills",
    "ProjectSettings": "renderer.jobs.projector",
    "ProjectionStep": "renderer.jobs.projector",
    "FaceNotFoundError": "renderer.jobs.align",
    "AudioError": "renderer.errors",
    "SongAnalysis": "renderer.jobs.analyze",
    "analyze_song": "renderer.jobs.analyze",
    "Directions": "renderer.models.directions",
    "direction_grid": "renderer.jobs.directions",
    "find_directions": "renderer.jobs.directions",
    "load_directions": "renderer.jobs.directions",
    "write_directions": "renderer.jobs.directions",
    "FinetuneSettings": "renderer.jobs.finetune",
    "FinetuneResult": "renderer.jobs.finetune",
    "TrainProgress": "renderer.jobs.finetune",
    "DatasetError": "renderer.jobs.finetune",
    "finetune": "renderer.jobs.finetune",
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
    from renderer.blendspec import (  # noqa: F401
        describe_blend,
        make_spec,
        parse_alpha_table,  # noqa: F401
    )
    from renderer.errors import (  # noqa: F401
        AudioError,
        CheckpointError,
        EncoderError,
        RendererError,
        UnsafeCheckpointError,
        UsageError,
    )
    from renderer.frames.images import image_grid, to_uint8  # noqa: F401
    from renderer.frames.latents import build_timeline, resolve_keyframes  # noqa: F401
    from renderer.frames.pipeline import FramePipeline  # noqa: F401
    from renderer.jobs.align import FaceNotFoundError  # noqa: F401
    from renderer.jobs.analyze import SongAnalysis, analyze_song  # noqa: F401
    from renderer.jobs.directions import direction_grid, find_directions, load_directions, write_directions  # noqa: F401
    from renderer.jobs.finetune import DatasetError, FinetuneResult, FinetuneSettings, TrainProgress, finetune  # noqa: F401
    from renderer.jobs.job import RayOptions, RenderJob, RenderSettings, resolve_job  # noqa: F401
    from renderer.jobs.preview import PreviewProgress, PreviewResult, PreviewSettings, preview  # noqa: F401
    from renderer.jobs.projector import ProjectionStep, ProjectSettings  # noqa: F401
    from renderer.jobs.render import RenderProgress, RenderResult, WorkerProgress, render  # noqa: F401
    from renderer.jobs.stills import (  # noqa: F401
        GenerateSettings,
        PhotoProjection,
        blend_grid,
        describe_generator,
        export_timeline,
        generate_images,
        load_animation,
        load_timeline,
        project_photo,
        resolve_timeline,
        save_native,
        save_seed_images,
        write_png,
    )
    from renderer.models.blending import (  # noqa: F401
        BlendedGenerator,
        blend,
        blend_models,
        blend_per_frame,
        blend_with_base,
    )
    from renderer.models.canvas import extend_canvas  # noqa: F401
    from renderer.models.checkpoints import load_generator, read_checkpoint  # noqa: F401
    from renderer.models.directions import Directions  # noqa: F401
    from renderer.models.stylegan2 import Generator, GeneratorConfig  # noqa: F401
    from renderer.models.synthesizer import ModelInfo, Synthesizer  # noqa: F401
    from renderer.plan.framing import SIZE_NAMES, Fit, parse_size  # noqa: F401
    from renderer.plan.script import (  # noqa: F401
        Script,
        ScriptError,
        available_presets,
        format_clock,
        load_script,
        parse_script,
        preset_description,
        resolved_settings,
    )
    from renderer.plan.seeds import parse_seeds, seed_to_z, seeds_to_z  # noqa: F401
    from renderer.plan.timeline import ResolvedKeyframes, Timeline, TimelineChunk, plan_timeline  # noqa: F401
    from renderer.plan.tracks import Track  # noqa: F401
