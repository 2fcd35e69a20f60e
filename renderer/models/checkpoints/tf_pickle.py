"""Original TensorFlow StyleGAN2 pickles `(G, D, Gs)`, e.g. FFHQ config-f or the ukiyo-e model."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from renderer.models.checkpoints.common import LoadedCheckpoint, bad_file
from renderer.models.checkpoints.safe_pickle import TFNetwork
from renderer.models.stylegan2 import GeneratorConfig

FORMAT = "tf-pickle"
FORMAT_NAME = "TensorFlow StyleGAN2 pickle"

# Values of the TF training code for keys a pickle leaves out (official pickles carry few keys).
TF_DEFAULTS: dict[str, Any] = {
    "latent_size": 512,
    "dlatent_size": 512,
    "mapping_layers": 8,
    "mapping_fmaps": 512,
    "mapping_lrmul": 0.01,
    "mapping_nonlinearity": "lrelu",
    "normalize_latents": True,
    "label_size": 0,
    "num_channels": 3,
    "fmap_base": 16384,
    "fmap_max": 512,
    "architecture": "skip",
    "nonlinearity": "lrelu",
    "resample_kernel": [1, 3, 3, 1],
    "use_noise": True,
}


def is_tf_pickle(obj: Any) -> bool:
    """`(G, D, Gs)` as the training script writes it, or a lone `Gs`."""
    if isinstance(obj, TFNetwork):
        return True
    return isinstance(obj, tuple) and len(obj) == 3 and all(isinstance(n, TFNetwork) for n in obj)


def _variables(net: TFNetwork) -> dict[str, np.ndarray]:
    return {str(name): np.asarray(value, dtype=np.float32) for name, value in net.state["variables"]}


def convert_tf_pickle(networks: TFNetwork | tuple[TFNetwork, ...], path: Path) -> LoadedCheckpoint:
    """Convert `Gs` (never the training copy `G`) to our layout, as NVIDIA's converter does."""
    Gs = networks if isinstance(networks, TFNetwork) else networks[2]
    if int(Gs.state.get("version", 0)) < 4:
        raise bad_file(path, f"{FORMAT_NAME} of version {Gs.state.get('version')}; StyleGAN2 pickles are version 4 or later")
    components = Gs.state.get("components") or {}
    mapping_net, synthesis_net = components.get("mapping"), components.get("synthesis")
    if not isinstance(mapping_net, TFNetwork) or not isinstance(synthesis_net, TFNetwork):
        raise bad_file(path, f"{FORMAT_NAME} whose Gs lacks its mapping or synthesis component")
    kwargs = dict(TF_DEFAULTS)
    for net in (mapping_net, synthesis_net, Gs):  # the top-level network has the last word
        kwargs.update(net.state.get("static_kwargs") or {})
    unsupported = {
        "label_size": (kwargs["label_size"], 0),
        "architecture": (kwargs["architecture"], "skip"),
        "mapping_nonlinearity": (kwargs["mapping_nonlinearity"], "lrelu"),
        "nonlinearity": (kwargs["nonlinearity"], "lrelu"),
        "normalize_latents": (kwargs["normalize_latents"], True),
    }
    if kwargs["resample_kernel"] is None or len(kwargs["resample_kernel"]) % 2:
        raise bad_file(path, f"{FORMAT_NAME} with resample_kernel={kwargs['resample_kernel']!r} is not supported")
    for key, (value, supported) in unsupported.items():
        if value != supported:
            raise bad_file(path, f"{FORMAT_NAME} with {key}={value!r} is not supported (only {supported!r})")

    own, mv, sv = _variables(Gs), _variables(mapping_net), _variables(synthesis_net)
    if "resolution" not in kwargs:  # absent in some pickles: the highest ToRGB names it
        sizes = [int(k.split("x")[0]) for k in sv if k.endswith("/ToRGB/weight")]
        kwargs["resolution"] = max(sizes, default=0)
    if int(kwargs["resolution"]) < 4:
        raise bad_file(path, f"{FORMAT_NAME} whose synthesis network has no ToRGB layers")
    try:
        return _convert(own, mv, sv, kwargs)
    except KeyError as e:
        raise bad_file(path, f"{FORMAT_NAME} lacks the variable {e.args[0]}") from None


def _convert(
    own: dict[str, np.ndarray],
    mv: dict[str, np.ndarray],
    sv: dict[str, np.ndarray],
    kwargs: dict[str, Any],
) -> LoadedCheckpoint:
    res_log2 = int(math.log2(int(kwargs["resolution"])))
    resolutions = [2**i for i in range(2, res_log2 + 1)]
    num_layers = sum(1 for k in mv if k.startswith("Dense") and k.endswith("/weight"))
    sd: dict[str, np.ndarray] = {}
    for i in range(num_layers):
        sd[f"mapping.fc{i}.weight"] = mv[f"Dense{i}/weight"].T
        sd[f"mapping.fc{i}.bias"] = mv[f"Dense{i}/bias"]
    sd["mapping.w_avg"] = own["dlatent_avg"]

    def layer(ours: str, tf: str, noise_index: int | None, flip: bool = False) -> None:
        weight = sv[f"{tf}/weight"]  # [kh, kw, in, out]
        if flip:  # TF's upsampling conv is a transposed conv with the kernel the other way round
            weight = weight[::-1, ::-1]
        sd[f"{ours}.weight"] = weight.transpose(3, 2, 0, 1)
        sd[f"{ours}.bias"] = sv[f"{tf}/bias"]
        sd[f"{ours}.affine.weight"] = sv[f"{tf}/mod_weight"].T
        sd[f"{ours}.affine.bias"] = sv[f"{tf}/mod_bias"] + 1  # TF adds the 1 at run time
        if noise_index is not None:
            sd[f"{ours}.noise_strength"] = sv[f"{tf}/noise_strength"]
            sd[f"{ours}.noise_const"] = sv[f"noise{noise_index}"][0, 0]

    use_noise = "noise0" in sv
    sd["synthesis.b4.const"] = sv["4x4/Const/const"][0]
    layer("synthesis.b4.conv1", "4x4/Conv", 0 if use_noise else None)
    layer("synthesis.b4.torgb", "4x4/ToRGB", None)
    for r in resolutions[1:]:
        k = int(math.log2(r))
        layer(f"synthesis.b{r}.conv0", f"{r}x{r}/Conv0_up", 2 * k - 5 if use_noise else None, True)
        layer(f"synthesis.b{r}.conv1", f"{r}x{r}/Conv1", 2 * k - 4 if use_noise else None)
        layer(f"synthesis.b{r}.torgb", f"{r}x{r}/ToRGB", None)

    config = GeneratorConfig(
        z_dim=int(mv["Dense0/weight"].shape[0]),
        w_dim=int(own["dlatent_avg"].shape[0]),
        img_resolution=2**res_log2,
        img_channels=int(kwargs["num_channels"]),
        channels={r: int(sd[f"synthesis.b{r}.conv1.weight"].shape[0]) for r in resolutions},
        mapping_layers=num_layers,
        mapping_hidden=int(mv["Dense0/weight"].shape[1]) if num_layers > 1 else None,
        mapping_lr_multiplier=float(kwargs["mapping_lrmul"]),
        architecture="skip",
        conv_clamp=float(kwargs["conv_clamp"]) if kwargs.get("conv_clamp") is not None else None,
        use_noise=use_noise,
        resample_filter=tuple(float(v) for v in kwargs["resample_kernel"]),
    )
    tensors = {k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in sd.items()}
    return LoadedCheckpoint(
        config=config,
        state_dict=tensors,
        format=FORMAT,
        w_avg_source="checkpoint: Gs dlatent_avg",
    )
