"""NVIDIA stylegan3 snapshot pickles of StyleGAN3 generators (`G_ema`, configs T and R).

The architecture is read from the attributes NVIDIA's modules store (every layer's sizes, sampling
rates, cutoffs, factors, taps and padding), never from code in the file; the tensors keep their
names (`synthesis.L4_52_48.up_filter`, ...). Defaults absent from a file are StyleGAN3's own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from renderer.models.checkpoints.common import LoadedCheckpoint, bad_file
from renderer.models.checkpoints.nvidia_pickle import FORMAT, children, flatten
from renderer.models.checkpoints.safe_pickle import PersistentObject
from renderer.models.stylegan3 import InputSpec, LayerSpec, StyleGAN3Config

FORMAT_NAME = "NVIDIA stylegan3 snapshot"


def is_stylegan3(G: PersistentObject) -> bool:
    synthesis = children(G).get("synthesis")
    return synthesis is not None and isinstance(children(synthesis).get("input"), PersistentObject)


def _int(value: Any, what: str, path: Path) -> int:
    if isinstance(value, np.ndarray) and value.size >= 1 and np.all(value == value.flat[0]):
        value = value.flat[0]  # NVIDIA stores sizes as [width, height]
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer, float, np.floating)) \
            or float(value) != int(value) or not 0 <= int(value) <= 1 << 20:
        raise bad_file(path, f"{FORMAT_NAME} with an unusable {what} ({value!r})")
    return int(value)


def _float(value: Any, what: str, path: Path) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer, float, np.floating)) \
            or not np.isfinite(float(value)):
        raise bad_file(path, f"{FORMAT_NAME} with an unusable {what} ({value!r})")
    return float(value)


def _layer_spec(name: str, layer: PersistentObject, path: Path) -> LayerSpec:
    s = layer.state
    where = f"{name}."
    try:
        padding = tuple(_int(p, where + "padding", path) if p >= 0 else -_int(-p, where + "padding", path)
                        for p in s["padding"])
        if len(padding) != 4:
            raise bad_file(path, f"{FORMAT_NAME}: {name} has a padding of {len(padding)} values, not 4")
        clamp = s.get("conv_clamp")
        return LayerSpec(
            name=name,
            in_channels=_int(s["in_channels"], where + "in_channels", path),
            out_channels=_int(s["out_channels"], where + "out_channels", path),
            in_size=_int(s["in_size"], where + "in_size", path),
            out_size=_int(s["out_size"], where + "out_size", path),
            in_sampling_rate=_int(s["in_sampling_rate"], where + "in_sampling_rate", path),
            out_sampling_rate=_int(s["out_sampling_rate"], where + "out_sampling_rate", path),
            tmp_sampling_rate=_int(s["tmp_sampling_rate"], where + "tmp_sampling_rate", path),
            in_cutoff=_float(s["in_cutoff"], where + "in_cutoff", path),
            out_cutoff=_float(s["out_cutoff"], where + "out_cutoff", path),
            in_half_width=_float(s["in_half_width"], where + "in_half_width", path),
            out_half_width=_float(s["out_half_width"], where + "out_half_width", path),
            conv_kernel=_int(s["conv_kernel"], where + "conv_kernel", path),
            up_factor=_int(s["up_factor"], where + "up_factor", path),
            up_taps=_int(s["up_taps"], where + "up_taps", path),
            down_factor=_int(s["down_factor"], where + "down_factor", path),
            down_taps=_int(s["down_taps"], where + "down_taps", path),
            down_radial=bool(s.get("down_radial", False)),
            padding=padding,  # type: ignore[arg-type]
            is_torgb=bool(s.get("is_torgb", False)),
            is_critically_sampled=bool(s.get("is_critically_sampled", False)),
            use_fp16=bool(s.get("use_fp16", False)),
            conv_clamp=None if clamp is None else _float(clamp, where + "conv_clamp", path),
        )
    except KeyError as e:
        raise bad_file(path, f"{FORMAT_NAME}: layer {name} lacks the attribute {e.args[0]}") from None
    except TypeError as e:
        raise bad_file(path, f"{FORMAT_NAME}: layer {name} has malformed attributes ({e})") from None


def convert_stylegan3(G: PersistentObject, path: Path) -> LoadedCheckpoint:
    """A StyleGAN3 `G_ema` (already unpickled safely) in our layout, with its architecture."""
    modules = children(G)
    mapping, synthesis = modules["mapping"], modules["synthesis"]
    layers = children(synthesis)
    names = synthesis.state.get("layer_names")
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise bad_file(path, f"{FORMAT_NAME} whose synthesis network lists no layers")
    missing = [n for n in names if not isinstance(layers.get(n), PersistentObject)]
    if missing:
        raise bad_file(path, f"{FORMAT_NAME} without the layers {missing[:4]}")
    inp = layers["input"].state
    gs, ms, ss = G.state, mapping.state, synthesis.state
    fc0 = children(mapping).get("fc0")
    for name, layer in children(mapping).items():
        if name.startswith("fc") and layer.state.get("activation") != "lrelu":
            raise bad_file(path, f"mapping layer {name} uses an unsupported activation")
    try:
        config = StyleGAN3Config(
            z_dim=_int(gs["z_dim"], "z_dim", path),
            w_dim=_int(gs["w_dim"], "w_dim", path),
            c_dim=_int(gs.get("c_dim", 0), "c_dim", path),
            img_resolution=_int(gs["img_resolution"], "img_resolution", path),
            img_channels=_int(gs.get("img_channels", 3), "img_channels", path),
            mapping_layers=_int(ms.get("num_layers", 2), "mapping num_layers", path),
            mapping_lr_multiplier=_float(fc0.state.get("bias_gain", 0.01) if fc0 else 0.01, "lr multiplier", path),
            output_scale=_float(ss.get("output_scale", 0.25), "output_scale", path),
            input=InputSpec(
                channels=_int(inp["channels"], "input channels", path),
                size=_int(inp["size"], "input size", path),
                sampling_rate=_float(inp["sampling_rate"], "input sampling_rate", path),
                bandwidth=_float(inp["bandwidth"], "input bandwidth", path),
            ),
            layers=tuple(_layer_spec(name, layers[name], path) for name in names),
        )
    except KeyError as e:
        raise bad_file(path, f"{FORMAT_NAME} without the attribute {e.args[0]}") from None
    except ValueError as e:
        raise bad_file(path, f"{FORMAT_NAME} with an inconsistent architecture ({e})") from None
    try:
        tensors = flatten(G)
    except AttributeError:
        raise bad_file(path, f"{FORMAT_NAME} holding something other than tensors among its parameters") from None
    return LoadedCheckpoint(
        config=config,
        state_dict=tensors,
        format=FORMAT,
        w_avg_source="checkpoint: G_ema.mapping.w_avg" if "mapping.w_avg" in tensors else None,
        family="stylegan3",
    )
