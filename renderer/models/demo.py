"""Built-in StyleGAN2 models `demo`, `demo-transfer` and `demo-pastel`: small StyleGAN2s trained on
procedural faces (the StyleGAN3 built-ins are renderer.models.demo_sg3).

`demo` was trained from scratch on drawn faces (renderer.jobs.faces, "photo" style);
`demo-transfer` is `demo` fine-tuned with `renderer finetune` on the same kind of faces drawn as
woodblock prints, and `demo-pastel` is `demo` fine-tuned on soft pastel drawings (a second transfer,
for blends of more than two models). tools/make_demo_models.py remakes all three (data-set seed,
commands, training length).
Their weights ship in the package as safetensors (renderer/models/weights/), read with the same
loader as any checkpoint.

Both were trained at TRAINED_RESOLUTION px and are served at 256 px: `grow_generator` adds 128 and
256 px blocks whose ToRGB weights are zero, so a frame is exactly the 64 px image upsampled by
StyleGAN2's own FIR filter. That keeps the built-in models' frame size, levels and number of ws
(14) and makes them cheap on a CPU; fine-tuning `demo` trains the added blocks too.
"""

from __future__ import annotations

import dataclasses
import functools
from importlib import resources
from pathlib import Path

import torch

from renderer.builtin import BUILTIN_MODELS
from renderer.models.demo_sg3 import DEMO_SG3_MODELS, build_demo_sg3
from renderer.models.stylegan2 import Generator, GeneratorConfig
from renderer.models.stylegan3 import Generator as StyleGAN3Generator
from renderer.models.synthesizer import ModelInfo

TRAINED_RESOLUTION = 64
SERVED_RESOLUTION = 256
GROWN_CHANNELS = {128: 8, 256: 8}  # the added upsampling blocks: as cheap as they can be
GROW_SEED = 20201022  # the day Pinkney & Adler's paper appeared: the added blocks' initial weights


def builtin_weights_path(name: str) -> Path:
    """The packaged safetensors file of the built-in model `name`."""
    if name not in BUILTIN_MODELS or name in DEMO_SG3_MODELS:
        raise ValueError(f"no packaged weights for {name!r}; the files are {sorted(set(BUILTIN_MODELS) - set(DEMO_SG3_MODELS))}")
    return Path(str(resources.files("renderer.models") / "weights" / f"{name}.safetensors"))


def grow_generator(G: Generator, resolution: int, channels: dict[int, int], *, seed: int = GROW_SEED) -> Generator:
    """G with extra top blocks up to `resolution` that only upsample its image.

    The added blocks get NVIDIA's initialisation (from `seed`) except their ToRGB weights, which
    are zero: the output is G's image upsampled with the model's FIR filter, bit for bit the same
    content at every added level. The mapping (and w_avg) is G's; num_ws grows with the blocks, and
    the extra ws only feed the added blocks.
    """
    config = G.config
    if config.architecture != "skip":
        raise ValueError("only skip generators can grow (their image is a sum over levels)")
    if resolution <= config.img_resolution:
        raise ValueError(f"grow to more than {config.img_resolution} px, got {resolution}")
    new_res = [r for r in range(20) if config.img_resolution < 2**r <= resolution]
    merged = {**config.channels, **{2**r: channels[2**r] for r in new_res}}
    grown_config = dataclasses.replace(config, img_resolution=resolution, channels=merged)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        grown = Generator(grown_config, G.info)
    state = grown.state_dict()
    state.update(G.state_dict())
    for res in (2**r for r in new_res):
        state[f"synthesis.b{res}.torgb.weight"] = torch.zeros_like(state[f"synthesis.b{res}.torgb.weight"])
    grown.load_state_dict(state)
    return grown


@functools.lru_cache(maxsize=len(BUILTIN_MODELS) - len(DEMO_SG3_MODELS))
def _demo_weights(name: str) -> tuple[GeneratorConfig, dict[str, torch.Tensor], str]:
    """The architecture, weights and w_avg description of a built-in model, read once per process."""
    from renderer.models.checkpoints.native import read_native

    ckpt = read_native(builtin_weights_path(name))
    return ckpt.config, ckpt.state_dict, ckpt.w_avg_source or "checkpoint: mapping.w_avg"


def build_demo(name: str) -> Generator | StyleGAN3Generator:
    """The built-in generator `name` ("demo", "demo-transfer", "demo-pastel", or the StyleGAN3
    "demo-sg3", "demo-sg3-transfer"), on CPU; a new module each call."""
    if name not in BUILTIN_MODELS:
        raise ValueError(f"unknown built-in model {name!r}; choose from {BUILTIN_MODELS}")
    if name in DEMO_SG3_MODELS:
        return build_demo_sg3(name)
    config, weights, w_avg_source = _demo_weights(name)
    G = Generator(config)
    G.load_state_dict(weights)  # copies: changing this G never touches the cache
    G.info = ModelInfo(format="builtin", source=name, w_avg_source=f"{w_avg_source} (built-in model)")
    return G
