"""Built-in models `demo` and `demo-transfer`: no file, no download, the same weights everywhere.

The weights are drawn from fixed-seed NumPy streams (whose output NumPy keeps stable across versions)
and shaped so that frames are colourful and vary from seed to seed: the low-resolution ToRGB
outputs dominate (soft colour fields), the high-resolution ones add finer texture. `demo-transfer`
is `demo` plus a perturbation of every synthesis tensor and a shifted palette, the way a fine-tuned
model drifts from its base, so that blending the two shows structure from one and colour from the
other.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from renderer.builtin import BUILTIN_MODELS
from renderer.models.demo_sg3 import DEMO_SG3_MODELS, build_demo_sg3
from renderer.models.stylegan2 import Generator, GeneratorConfig, use_estimated_w_avg
from renderer.models.stylegan3 import Generator as StyleGAN3Generator
from renderer.models.synthesizer import ModelInfo

DEMO_CONFIG = GeneratorConfig(
    z_dim=128,
    w_dim=128,
    img_resolution=256,
    channels={4: 64, 8: 64, 16: 64, 32: 48, 64: 32, 128: 24, 256: 16},
    mapping_layers=4,
    conv_clamp=256.0,
)
BASE_SEED = 20201022  # the day Pinkney & Adler's paper appeared
TRANSFER_SEED = BASE_SEED + 1
PASTEL_SEED = BASE_SEED + 2
# Amplitude of each level's ToRGB: coarse levels carry the colour, fine levels the detail.
TORGB_GAIN = {4: 0.49, 8: 0.49, 16: 0.45, 32: 0.41, 64: 0.32, 128: 0.2, 256: 0.1}
NOISE_STRENGTH = 0.05
STYLE_SPREAD = 0.8  # seed-to-seed standard deviation of conv styles (around 1)
RGB_STYLE_SPREAD = 1.0  # ToRGB styles vary more, and around a smaller centre, so palettes change
RGB_STYLE_CENTRE = 0.4
TRANSFER_DRIFT = 0.45  # relative size of the fine-tuning perturbation of synthesis tensors


def _base_state(template: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
    rng = np.random.RandomState(BASE_SEED)
    state: dict[str, np.ndarray] = {}
    for key, ref in template.items():
        shape = tuple(ref.shape)
        x = rng.standard_normal(shape)
        leaf = key.rsplit(".", 1)[-1]
        if leaf == "weight" and key.startswith("mapping."):
            x = x / DEMO_CONFIG.mapping_lr_multiplier
        elif leaf == "bias" and ".affine." in key:
            x = 1.0 + 0.1 * x
        elif leaf == "bias" and ".torgb." in key:
            x = 0.04 * x
        elif leaf == "bias":
            x = 0.1 * x
        elif leaf == "noise_strength":
            x = np.full(shape, NOISE_STRENGTH)
        elif leaf == "w_avg":
            x = np.zeros(shape)
        elif leaf == "weight" and ".torgb." in key:
            res = int(key.split(".")[1][1:])
            x = x * TORGB_GAIN[res]
        state[key] = x
    return state


def _transfer_state(
    base: dict[str, np.ndarray], seed: int = TRANSFER_SEED, palette: tuple[float, ...] = (0.35, 0.05, -0.35)
) -> dict[str, np.ndarray]:
    rng = np.random.RandomState(seed)
    state: dict[str, np.ndarray] = {}
    for key, x in base.items():
        if key.startswith("synthesis.") and not key.endswith(("noise_const", "noise_strength")):
            x = x + TRANSFER_DRIFT * x.std() * rng.standard_normal(x.shape) if x.size > 1 else x
        if key.endswith(".torgb.bias"):
            x = x + np.array(palette)[: x.shape[0]] / len(TORGB_GAIN)  # warmer palette by default
        state[key] = x
    return state


def _calibrate_styles(G: Generator, state: dict[str, np.ndarray]) -> None:
    """Centre and scale every affine layer on the mapping's actual w statistics.

    A random mapping network's outputs are strongly correlated across seeds, so raw styles would
    hardly change from seed to seed. Measured on seeded samples, each affine layer is rescaled so
    styles vary by about STYLE_SPREAD around their bias, and the bias absorbs the mean w.
    """
    G.load_state_dict({k: torch.from_numpy(np.asarray(v, dtype=np.float32)) for k, v in state.items()})
    z = torch.from_numpy(np.random.RandomState(0).randn(2000, G.z_dim)).float()
    with torch.no_grad():
        w = G.mapping(z)[:, 0].double().numpy()
    w_mean, w_std = w.mean(axis=0), float(w.std(axis=0).mean())
    gain = 1 / np.sqrt(G.w_dim)
    for key in [k for k in state if k.endswith(".affine.weight")]:
        spread = RGB_STYLE_SPREAD if ".torgb." in key else STYLE_SPREAD
        centre = RGB_STYLE_CENTRE if ".torgb." in key else 1.0
        weight = state[key] * spread / w_std
        bias_key = key.replace(".weight", ".bias")
        state[key] = weight
        state[bias_key] = state[bias_key] - 1.0 + centre - (weight * gain) @ w_mean


@functools.lru_cache(maxsize=len(BUILTIN_MODELS) - len(DEMO_SG3_MODELS))
def _demo_weights(name: str) -> tuple[dict[str, torch.Tensor], str]:
    """The weights of a built-in model and its w_avg description, computed once per process."""
    G = Generator(DEMO_CONFIG)
    state = _base_state(G.state_dict())
    _calibrate_styles(G, state)
    if name == "demo-transfer":
        state = _transfer_state(state)
    elif name == "demo-pastel":  # a second fine-tune of demo, for blends of more than two models
        state = _transfer_state(state, seed=PASTEL_SEED, palette=(-0.2, 0.3, 0.4))
    G.load_state_dict({k: torch.from_numpy(np.asarray(v, dtype=np.float32)) for k, v in state.items()})
    w_avg_source = use_estimated_w_avg(G)
    return {k: v.clone() for k, v in G.state_dict().items()}, w_avg_source


def build_demo(name: str) -> Generator | StyleGAN3Generator:
    """The built-in generator `name` ("demo", "demo-transfer", "demo-pastel", or the StyleGAN3
    "demo-sg3", "demo-sg3-transfer"), on CPU; a new module each call."""
    if name not in BUILTIN_MODELS:
        raise ValueError(f"unknown built-in model {name!r}; choose from {BUILTIN_MODELS}")
    if name in DEMO_SG3_MODELS:
        return build_demo_sg3(name)
    weights, w_avg_source = _demo_weights(name)
    G = Generator(DEMO_CONFIG)
    G.load_state_dict(weights)  # copies: changing this G never touches the cache
    G.info = ModelInfo(format="builtin", source=name, w_avg_source=f"{w_avg_source} (built-in model)")
    return G
