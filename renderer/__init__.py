"""renderer: StyleGAN2 video and animation rendering."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from renderer.api import GenerateSettings, describe_generator, generate_images, save_seed_images
from renderer.checkpoints import load_generator, read_checkpoint, save_native
from renderer.errors import CheckpointError, RendererError, UnsafeCheckpointError, UsageError
from renderer.generator import Generator, GeneratorConfig, ModelInfo
from renderer.images import to_uint8
from renderer.seeds import parse_seeds, seed_to_z, seeds_to_z

try:
    __version__ = version("stylegan-renderer")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0+unknown"

__all__ = [
    "CheckpointError",
    "GenerateSettings",
    "Generator",
    "GeneratorConfig",
    "ModelInfo",
    "RendererError",
    "UnsafeCheckpointError",
    "UsageError",
    "describe_generator",
    "generate_images",
    "load_generator",
    "parse_seeds",
    "read_checkpoint",
    "save_native",
    "save_seed_images",
    "seed_to_z",
    "seeds_to_z",
    "to_uint8",
]
