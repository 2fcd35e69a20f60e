"""Built-in StyleGAN3 models `demo-sg3` and `demo-sg3-transfer`: no file, the same weights everywhere.

A config-T generator shaped like the StyleGAN3 fixtures (64 px, 64-wide z and w, 2 mapping layers,
14 layers + ToRGB, channel_max 48), its weights drawn from fixed-seed NumPy streams and set the way
training would leave them: the filters designed from the architecture, the Fourier features drawn
as NVIDIA initialises them, every `magnitude_ema` the mean square of its layer's input over mapped
seeds, `w_avg` the mean of the mapping. The input affine is not zero (as trained models' are not),
so every seed places and turns the image a little differently. `demo-sg3-transfer` is `demo-sg3`
drifted the way a fine-tune drifts, strongest at the input and fading towards ToRGB.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from renderer.models.stylegan2 import use_estimated_w_avg
from renderer.models.stylegan3 import Generator, StyleGAN3Config, design_filters
from renderer.models.synthesizer import ModelInfo

DEMO_SG3_MODELS = ("demo-sg3", "demo-sg3-transfer")
DEMO_SG3_CONFIG = StyleGAN3Config.from_hyperparameters(
    z_dim=64, w_dim=64, img_resolution=64, channel_base=1024, channel_max=48, mapping_layers=2,
)
BASE_SEED = 20210623  # the day the alias-free GAN paper appeared
TRANSFER_SEED = BASE_SEED + 1
TORGB_GAIN = 2.0  # random ToRGB weights give faint images; trained ones are larger
INPUT_AFFINE_SPREAD = 0.35  # how far each seed's input rotation and translation vary
CALIBRATION_SAMPLES = 8


def _initial_state(G: Generator) -> dict[str, torch.Tensor]:
    rng = np.random.RandomState(BASE_SEED)
    config = G.config
    state = {}
    for key, ref in G.state_dict().items():
        shape = tuple(ref.shape)
        leaf = key.rsplit(".", 1)[-1]
        if key.startswith("mapping.") and leaf == "weight":
            x = rng.standard_normal(shape) / config.mapping_lr_multiplier
        elif key == "synthesis.input.affine.weight":
            x = INPUT_AFFINE_SPREAD * rng.standard_normal(shape)
        elif key == "synthesis.input.affine.bias":
            x = np.array([1.0, 0.0, 0.0, 0.0])
        elif key == "synthesis.input.freqs":
            # NVIDIA's draw: directions uniform, radii concentrated below the bandwidth.
            f = rng.standard_normal(shape)
            radii = np.sqrt((f**2).sum(axis=1, keepdims=True))
            x = f / (radii * np.exp(radii**2) ** 0.25) * config.input.bandwidth
        elif key == "synthesis.input.phases":
            x = rng.uniform(-0.5, 0.5, shape)
        elif key == "synthesis.input.transform":
            x = np.eye(3)
        elif leaf == "bias" and ".affine." in key:
            x = np.ones(shape)
        elif leaf == "bias":
            x = 0.05 * rng.standard_normal(shape)
        elif leaf == "weight":
            x = rng.standard_normal(shape)
            if key.startswith(f"synthesis.{config.layers[-1].name}."):
                x = x * TORGB_GAIN
        else:  # w_avg, magnitude_ema, filters: set below
            x = ref.double().numpy()
        state[key] = torch.from_numpy(np.asarray(x, dtype=np.float32))
    state.update(design_filters(config))
    return state


def _drift(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A fine-tune: synthesis tensors perturbed by 30 % at the input falling to 5 % at ToRGB; the
    mapping by 10 %; filters, frequencies and phases unchanged."""
    rng = np.random.RandomState(TRANSFER_SEED)
    names = [layer.name for layer in DEMO_SG3_CONFIG.layers]
    drifted = {}
    for key, x in state.items():
        fixed = key.endswith(("_filter", "freqs", "phases", "transform", "magnitude_ema", "w_avg"))
        if fixed or x.numel() <= 1:
            drifted[key] = x
            continue
        if key.startswith("mapping."):
            strength = 0.1
        else:
            part = key.split(".")[1]
            depth = 0 if part == "input" else names.index(part) / (len(names) - 1)
            strength = 0.05 + 0.25 * (1 - depth)
        noise = torch.from_numpy(rng.standard_normal(tuple(x.shape)).astype(np.float32))
        drifted[key] = x + strength * float(x.std()) * noise
    return drifted


@torch.no_grad()
def _calibrate(G: Generator) -> None:
    """Set every magnitude_ema to the mean square of its layer's input over mapped seeds, layer by
    layer (what training's moving average converges to)."""
    z = torch.from_numpy(np.random.RandomState(0).randn(CALIBRATION_SAMPLES, G.z_dim)).float()
    ws = G.mapping(z)
    x = G.synthesis.input(ws[:, 0])
    for i, name in enumerate(G.synthesis.layer_names):
        layer = G.synthesis.get_submodule(name)
        layer.magnitude_ema.copy_(_rounded(x.square().mean()))
        x = layer(x, ws[:, i + 1])


def _rounded(t: torch.Tensor, digits: int = 5) -> torch.Tensor:
    """Values measured by running the network, rounded to `digits` significant digits: the last
    bits of a float32 sum depend on the thread count and the CPU, the built-in weights must not."""
    return torch.tensor([float(f"{v:.{digits}g}") for v in t.double().flatten().tolist()]).reshape(t.shape).float()


@functools.lru_cache(maxsize=len(DEMO_SG3_MODELS))
def _weights(name: str) -> tuple[dict[str, torch.Tensor], str]:
    G = Generator(DEMO_SG3_CONFIG)
    state = _initial_state(G)
    if name == "demo-sg3-transfer":
        state = _drift(state)
    G.load_state_dict(state)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one summation order for the measured values
    try:
        w_avg_source = use_estimated_w_avg(G)  # type: ignore[arg-type]
        G.mapping.w_avg.copy_(_rounded(G.mapping.w_avg))
        _calibrate(G)
    finally:
        torch.set_num_threads(threads)
    return {k: v.clone() for k, v in G.state_dict().items()}, w_avg_source


def build_demo_sg3(name: str) -> Generator:
    """The built-in StyleGAN3 generator `name` ("demo-sg3" or "demo-sg3-transfer"), on CPU; a new module each call."""
    if name not in DEMO_SG3_MODELS:
        raise ValueError(f"unknown built-in StyleGAN3 model {name!r}; choose from {DEMO_SG3_MODELS}")
    weights, w_avg_source = _weights(name)
    G = Generator(DEMO_SG3_CONFIG)
    G.load_state_dict(weights)
    G.info = ModelInfo(format="builtin", source=name, w_avg_source=f"{w_avg_source} (built-in model)")
    return G
