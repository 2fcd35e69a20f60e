"""The discriminator a training checkpoint carries, read as safely as its generator.

NVIDIA snapshots carry `D`, original TensorFlow pickles `(G, D, Gs)` carry `D`, rosinality training
checkpoints carry `d`; converter outputs and our .safetensors generators carry none. Every format is
converted to NVIDIA's names (renderer.models.discriminator), so fine-tuning can continue from it.
"""

from __future__ import annotations

import pickle
import re
import struct
from pathlib import Path
from typing import Any

import numpy as np
import torch

from renderer.errors import CheckpointError, UnsafeCheckpointError
from renderer.models.checkpoints.common import bad_file, filter_taps_from_2d
from renderer.models.checkpoints.native import read_native_discriminator
from renderer.models.checkpoints.nvidia_pickle import children, flatten
from renderer.models.checkpoints.rosinality import load_torch_file
from renderer.models.checkpoints.safe_pickle import PersistentObject, TFNetwork, restricted_load
from renderer.models.discriminator import Discriminator, DiscriminatorConfig


def _channels_from_state(state: dict[str, torch.Tensor], img_resolution: int) -> dict[int, int]:
    channels = {img_resolution: int(state[f"b{img_resolution}.fromrgb.weight"].shape[0])}
    r = img_resolution
    while r > 4:
        channels[r // 2] = int(state[f"b{r}.conv1.weight"].shape[0])
        r //= 2
    return channels


def _resolution_from_state(state: dict[str, torch.Tensor]) -> int:
    tops = [int(m.group(1)) for k in state if (m := re.fullmatch(r"b(\d+)\.fromrgb\.weight", k))]
    if len(tops) != 1:
        raise KeyError("b{R}.fromrgb.weight")
    return tops[0]


def _nvidia(obj: dict[str, Any], path: Path) -> tuple[DiscriminatorConfig, dict[str, torch.Tensor]] | None:
    D = obj.get("D")
    if D is None:
        return None
    if not isinstance(D, PersistentObject) or D.class_name != "Discriminator":
        raise bad_file(path, "its 'D' is not a StyleGAN2 Discriminator")
    if int(D.state.get("c_dim", 0)):
        raise bad_file(path, "a conditional discriminator (c_dim > 0); fine-tuning supports unconditional models")
    blocks = children(D)
    if any(b.state.get("architecture", "resnet") != "resnet" for b in blocks.values() if b.class_name == "DiscriminatorBlock"):
        raise bad_file(path, "a discriminator of an architecture other than 'resnet'")
    state = flatten(D)
    filters = [k for k in state if k.endswith("resample_filter")]
    taps = filter_taps_from_2d(state[filters[0]]) if filters else (1.0, 3.0, 3.0, 1.0)
    for key in filters:
        del state[key]
    res = int(D.state["img_resolution"])
    epilogue = blocks["b4"].state
    conv = children(blocks[f"b{res}"])["conv0"].state
    clamp = conv.get("conv_clamp")
    config = DiscriminatorConfig(
        img_resolution=res,
        channels=_channels_from_state(state, res),
        img_channels=int(D.state.get("img_channels", 3)),
        mbstd_group_size=int(epilogue.get("mbstd_group_size") or 4),
        mbstd_num_channels=int(epilogue.get("mbstd_num_channels", 1)),
        conv_clamp=float(clamp) if clamp is not None else None,
        resample_filter=taps,
    )
    return config, state


def _tf(networks: tuple[TFNetwork, ...], path: Path) -> tuple[DiscriminatorConfig, dict[str, torch.Tensor]]:
    D = networks[1]
    kw = D.state.get("static_kwargs") or {}
    if kw.get("architecture", "resnet") != "resnet":
        raise bad_file(path, "a discriminator of an architecture other than 'resnet'")
    if int(kw.get("label_size", 0)):
        raise bad_file(path, "a conditional discriminator; fine-tuning supports unconditional models")
    v = {str(n): torch.from_numpy(np.array(a, dtype=np.float32)) for n, a in D.state["variables"]}
    res = int(kw.get("resolution", 1024))
    state: dict[str, torch.Tensor] = {}

    def conv(ours: str, theirs: str, bias: bool = True) -> None:
        state[f"{ours}.weight"] = v[f"{theirs}/weight"].permute(3, 2, 0, 1).contiguous()
        if bias:
            state[f"{ours}.bias"] = v[f"{theirs}/bias"]

    conv(f"b{res}.fromrgb", f"{res}x{res}/FromRGB")
    r = res
    while r > 4:
        conv(f"b{r}.conv0", f"{r}x{r}/Conv0")
        conv(f"b{r}.conv1", f"{r}x{r}/Conv1_down")
        conv(f"b{r}.skip", f"{r}x{r}/Skip", bias=False)
        r //= 2
    conv("b4.conv", "4x4/Conv")
    state["b4.fc.weight"] = v["4x4/Dense0/weight"].t().contiguous()
    state["b4.fc.bias"] = v["4x4/Dense0/bias"]
    state["b4.out.weight"] = v["Output/weight"].t().contiguous()
    state["b4.out.bias"] = v["Output/bias"]
    config = DiscriminatorConfig(
        img_resolution=res,
        channels=_channels_from_state(state, res),
        img_channels=int(kw.get("num_channels", 3)),
        mbstd_group_size=int(kw.get("mbstd_group_size", 4)),
        mbstd_num_channels=int(kw.get("mbstd_num_features", 1)),
        resample_filter=tuple(float(t) for t in kw.get("resample_kernel", (1, 3, 3, 1))),
    )
    return config, state


def _rosinality(d: dict[str, torch.Tensor]) -> tuple[DiscriminatorConfig, dict[str, torch.Tensor]]:
    src = {k: t.detach().float() for k, t in d.items()}
    # convs.0 is fromrgb, then one block per resolution from img_resolution down to 8.
    num_convs = len({k.split(".")[1] for k in src if k.startswith("convs.")})
    res = 2 ** (num_convs + 1)
    state: dict[str, torch.Tensor] = {
        f"b{res}.fromrgb.weight": src["convs.0.0.weight"],
        f"b{res}.fromrgb.bias": src["convs.0.1.bias"],
    }
    i, r = 1, res
    while r > 4:
        p = f"convs.{i}"
        state[f"b{r}.conv0.weight"] = src[f"{p}.conv1.0.weight"]
        state[f"b{r}.conv0.bias"] = src[f"{p}.conv1.1.bias"]
        state[f"b{r}.conv1.weight"] = src[f"{p}.conv2.1.weight"]
        state[f"b{r}.conv1.bias"] = src[f"{p}.conv2.2.bias"]
        state[f"b{r}.skip.weight"] = src[f"{p}.skip.1.weight"]
        i, r = i + 1, r // 2
    state["b4.conv.weight"] = src["final_conv.0.weight"]
    state["b4.conv.bias"] = src["final_conv.1.bias"]
    state["b4.fc.weight"] = src["final_linear.0.weight"]
    state["b4.fc.bias"] = src["final_linear.0.bias"]
    state["b4.out.weight"] = src["final_linear.1.weight"]
    state["b4.out.bias"] = src["final_linear.1.bias"]
    kernel = src.get("convs.1.conv2.0.kernel")
    taps = filter_taps_from_2d(kernel) if kernel is not None else (1.0, 3.0, 3.0, 1.0)
    config = DiscriminatorConfig(img_resolution=res, channels=_channels_from_state(state, res), resample_filter=taps)
    return config, state


def read_discriminator(path: str | Path) -> tuple[DiscriminatorConfig, dict[str, torch.Tensor]] | None:
    """The discriminator stored in a checkpoint (config and state in our names), or None if it has none.

    Pickles go through the same restricted unpickler as generators: nothing in the file is run.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise bad_file(path, f"cannot read ({e.strerror})") from None
    try:
        if data[:4] == b"PK\x03\x04":
            obj = load_torch_file(path)
            if isinstance(obj, dict) and isinstance(obj.get("d"), dict):
                return _rosinality(obj["d"])
            return None
        if data[:8] and len(data) > 9 and data[8:9] == b"{":  # a renderer .safetensors (maybe with D)
            found = read_native_discriminator(path)
            return None if found is None else (DiscriminatorConfig.from_dict(found[0]), found[1])
        if data[:1] != b"\x80":
            return None  # converter outputs and other formats carry no discriminator
        try:
            obj = restricted_load(data)
        except UnsafeCheckpointError as e:
            raise UnsafeCheckpointError(f"{path}: {e}") from None
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError,
                KeyError, RuntimeError, OverflowError, MemoryError, struct.error) as e:
            raise bad_file(path, f"truncated or corrupt pickle ({type(e).__name__}: {e})") from None
        if isinstance(obj, dict):
            return _nvidia(obj, path)
        if isinstance(obj, tuple) and len(obj) == 3 and all(isinstance(n, TFNetwork) for n in obj):
            return _tf(obj, path)
        return None
    except KeyError as e:
        raise bad_file(path, f"its discriminator lacks the tensor {e.args[0]}") from None


def load_discriminator(path: str | Path, *, device: str | torch.device = "cpu") -> Discriminator | None:
    """The checkpoint's discriminator as a module (float32, on `device`), or None when it has none."""
    found = read_discriminator(path)
    if found is None:
        return None
    config, state = found
    D = Discriminator(config)
    expected = D.state_dict()
    wrong = sorted(set(expected) ^ set(state)) + [k for k in expected if k in state and expected[k].shape != state[k].shape]
    if wrong:
        raise CheckpointError(f"{path}: its discriminator does not fit a StyleGAN2 'resnet' discriminator ({wrong[:4]})")
    D.load_state_dict(state)
    return D.to(device)
