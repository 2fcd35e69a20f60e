"""NVIDIA stylegan2-ada-pytorch / stylegan3-repo snapshot pickles (`G_ema`); StyleGAN3 generators
are read by renderer.models.checkpoints.nvidia_sg3."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from renderer.models.checkpoints.common import LoadedCheckpoint, bad_file, filter_taps_from_2d
from renderer.models.checkpoints.safe_pickle import PersistentObject
from renderer.models.stylegan2 import GeneratorConfig

FORMAT = "nvidia-pickle"
FORMAT_NAME = "NVIDIA stylegan2-ada-pytorch snapshot"


def is_nvidia_snapshot(obj: Any) -> bool:
    return isinstance(obj, dict) and any(isinstance(v, PersistentObject) for v in obj.values())


def children(obj: PersistentObject) -> dict[str, PersistentObject]:
    return dict(obj.state.get("_modules") or {})


def flatten(obj: PersistentObject, prefix: str = "") -> dict[str, torch.Tensor]:
    """The state_dict() the module would have: parameters and buffers, recursively."""
    tensors: dict[str, torch.Tensor] = {}
    for group in ("_parameters", "_buffers"):
        for name, value in (obj.state.get(group) or {}).items():
            if value is not None:
                tensors[prefix + name] = value.detach().float()
    for name, child in children(obj).items():
        if child is not None:
            tensors.update(flatten(child, f"{prefix}{name}."))
    return tensors


def convert_nvidia_snapshot(snapshot: dict[str, Any], path: Path) -> LoadedCheckpoint:
    """Read `G_ema` (never the training copy `G`) from an unpickled snapshot dict."""
    G = snapshot.get("G_ema")
    if not isinstance(G, PersistentObject):
        found = ", ".join(sorted(map(str, snapshot))) or "nothing"
        raise bad_file(
            path, f"{FORMAT_NAME} without 'G_ema' (the generator to render with); it holds {found}"
        )
    if G.class_name != "Generator":
        raise bad_file(path, f"'G_ema' is a {G.class_name}, expected a StyleGAN2 Generator")
    modules = children(G)
    mapping, synthesis = modules.get("mapping"), modules.get("synthesis")
    if mapping is None or synthesis is None:
        raise bad_file(path, "'G_ema' has no mapping or synthesis network")
    blocks = children(synthesis)
    if isinstance(blocks.get("input"), PersistentObject):  # read by nvidia_sg3 (see checkpoints.read_checkpoint)
        raise bad_file(path, "a StyleGAN3 generator, not a StyleGAN2 one")

    tensors = flatten(G)
    filters = [k for k in tensors if k.endswith("resample_filter")]
    taps = filter_taps_from_2d(tensors[filters[0]]) if filters else (1.0, 3.0, 3.0, 1.0)
    for key in filters:  # constants our model derives from the config
        del tensors[key]

    gs = G.state
    resolutions = [int(r) for r in synthesis.state.get("block_resolutions", [])]
    try:
        channels = {r: int(tensors[f"synthesis.b{r}.conv1.weight"].shape[0]) for r in resolutions}
    except KeyError as e:
        raise bad_file(path, f"'G_ema' lacks the tensor {e.args[0]}") from None
    first_block = blocks[f"b{resolutions[0]}"].state
    conv1 = children(blocks[f"b{resolutions[0]}"])["conv1"].state
    for name, layer in children(mapping).items():
        if name.startswith("fc") and layer.state.get("activation") != "lrelu":
            raise bad_file(path, f"mapping layer {name} uses an unsupported activation")
    num_layers = int(mapping.state.get("num_layers", 8))
    fc0 = children(mapping)["fc0"].state
    c_dim = int(gs.get("c_dim", 0))
    hidden = tensors["mapping.fc0.weight"].shape[0] if num_layers > 1 else None
    embed = tensors["mapping.embed.weight"].shape[0] if c_dim else None
    num_fp16 = sum(1 for b in blocks.values() if b.state.get("use_fp16"))
    clamp = conv1.get("conv_clamp")
    config = GeneratorConfig(
        z_dim=int(gs["z_dim"]),
        w_dim=int(gs["w_dim"]),
        c_dim=c_dim,
        img_resolution=int(gs["img_resolution"]),
        img_channels=int(gs.get("img_channels", 3)),
        channels=channels,
        mapping_layers=num_layers,
        mapping_hidden=int(hidden) if hidden is not None else None,
        embed_features=int(embed) if embed is not None else None,
        mapping_lr_multiplier=float(fc0.get("bias_gain", 0.01)),
        architecture=str(first_block.get("architecture", "skip")),  # type: ignore[arg-type]
        conv_clamp=float(clamp) if clamp is not None else None,
        use_noise=bool(conv1.get("use_noise", True)),
        resample_filter=taps,
        num_fp16_res=num_fp16 or 4,
    )
    has_w_avg = "mapping.w_avg" in tensors
    return LoadedCheckpoint(
        config=config,
        state_dict=tensors,
        format=FORMAT,
        w_avg_source="checkpoint: G_ema.mapping.w_avg" if has_w_avg else None,
    )
