"""rosinality/stylegan2-pytorch checkpoints: `{'g_ema', 'latent_avg'}` and training checkpoints."""

from __future__ import annotations

import argparse
import pickle
import re
import zipfile
from pathlib import Path
from typing import Any

import torch

from renderer.errors import UnsafeCheckpointError
from renderer.models.checkpoints.common import LoadedCheckpoint, bad_file, filter_taps_from_2d, require
from renderer.models.stylegan2 import GeneratorConfig

FORMAT = "rosinality"
FORMAT_NAME = "rosinality stylegan2-pytorch checkpoint"
# rosinality's Generator hard-codes the mapping learning-rate multiplier (`lr_mlp=0.01`).
ROSINALITY_LR_MLP = 0.01


# A torch.save zip stores its records uncompressed; one that inflates far beyond its own size is a
# decompression bomb, refused from the sizes its directory declares before anything is inflated.
MAX_INFLATION = 20
INFLATION_FLOOR = 64 << 20  # bytes any file may inflate to whatever its ratio


def check_declared_sizes(path: Path) -> None:
    """CheckpointError when a zip's entries declare far more data than the file holds."""
    if not zipfile.is_zipfile(path):
        return  # legacy torch.save files are not zips, and hold their data as is
    try:
        with zipfile.ZipFile(path) as archive:
            declared = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise bad_file(path, f"truncated or corrupt PyTorch file ({e})") from None
    limit = max(INFLATION_FLOOR, MAX_INFLATION * path.stat().st_size)
    if declared > limit:
        raise bad_file(
            path, f"a zip that would inflate to {declared:,} bytes from {path.stat().st_size:,}; "
            "refused before inflating (torch.save writes its records uncompressed)"
        )


def load_torch_file(path: Path) -> Any:
    """torch.load with the weights-only reader, allowing only `argparse.Namespace` besides."""
    check_declared_sizes(path)
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        # torch names the refused global as "GLOBAL module.name" (wording varies by version).
        match = re.search(r"GLOBAL ([A-Za-z_][\w.]*)", str(e))
        if match:
            raise UnsafeCheckpointError(
                f"{path}: refused to load: the file asks for the global '{match.group(1)}', which "
                "no StyleGAN checkpoint needs (nothing from the file was run)"
            ) from None
        raise bad_file(path, f"truncated or corrupt PyTorch file ({_first_line(e)})") from None
    except (RuntimeError, EOFError, ValueError, OSError) as e:
        raise bad_file(path, f"truncated or corrupt PyTorch file ({_first_line(e)})") from None


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


def generator_state(obj: Any, path: Path) -> tuple[dict[str, torch.Tensor], torch.Tensor | None]:
    """The g_ema state dict and latent_avg (None when absent) of a rosinality file."""
    if isinstance(obj, dict) and "g_ema" in obj:
        latent_avg = obj.get("latent_avg")
        return dict(obj["g_ema"]), latent_avg if torch.is_tensor(latent_avg) else None
    if isinstance(obj, dict) and "style.1.weight" in obj:  # a bare g_ema state_dict
        return dict(obj), None
    if isinstance(obj, dict) and "g" in obj:
        raise bad_file(path, f"{FORMAT_NAME} without 'g_ema' (the training 'g' renders differently)")
    keys = ", ".join(sorted(map(str, obj))[:6]) if isinstance(obj, dict) else type(obj).__name__
    raise bad_file(
        path,
        f"a PyTorch file, but not a StyleGAN2 generator: expected a rosinality 'g_ema' state dict, found {keys}",
    )


def convert_rosinality(obj: Any, path: Path) -> LoadedCheckpoint:
    g_ema, latent_avg = generator_state(obj, path)
    src = {k: v.detach().float() for k, v in g_ema.items()}
    used: set[str] = set()

    def take(key: str) -> torch.Tensor:
        used.add(key)
        return require(src, key, path, FORMAT_NAME)

    n_mlp = sum(1 for k in src if re.fullmatch(r"style\.\d+\.weight", k))
    num_rgbs = sum(1 for k in src if re.fullmatch(r"to_rgbs\.\d+\.conv\.weight", k))
    if n_mlp == 0 or "input.input" not in src:
        raise bad_file(path, "not a rosinality StyleGAN2 generator (no 'style.*' or 'input.input')")
    resolutions = [2**i for i in range(2, num_rgbs + 3)]

    sd: dict[str, torch.Tensor] = {}
    for i in range(1, n_mlp + 1):
        sd[f"mapping.fc{i - 1}.weight"] = take(f"style.{i}.weight")
        sd[f"mapping.fc{i - 1}.bias"] = take(f"style.{i}.bias")

    def styled_conv(ours: str, theirs: str, noise: str) -> None:
        sd[f"{ours}.weight"] = take(f"{theirs}.conv.weight")[0]
        sd[f"{ours}.affine.weight"] = take(f"{theirs}.conv.modulation.weight")
        sd[f"{ours}.affine.bias"] = take(f"{theirs}.conv.modulation.bias")
        sd[f"{ours}.noise_strength"] = take(f"{theirs}.noise.weight").reshape(())
        sd[f"{ours}.bias"] = take(f"{theirs}.activate.bias")
        sd[f"{ours}.noise_const"] = take(f"noises.{noise}")[0, 0]

    def to_rgb(ours: str, theirs: str) -> None:
        sd[f"{ours}.weight"] = take(f"{theirs}.conv.weight")[0]
        sd[f"{ours}.affine.weight"] = take(f"{theirs}.conv.modulation.weight")
        sd[f"{ours}.affine.bias"] = take(f"{theirs}.conv.modulation.bias")
        sd[f"{ours}.bias"] = take(f"{theirs}.bias").reshape(-1)

    sd["synthesis.b4.const"] = take("input.input")[0]
    styled_conv("synthesis.b4.conv1", "conv1", "noise_0")
    to_rgb("synthesis.b4.torgb", "to_rgb1")
    for k, r in enumerate(resolutions[1:]):
        styled_conv(f"synthesis.b{r}.conv0", f"convs.{2 * k}", f"noise_{2 * k + 1}")
        styled_conv(f"synthesis.b{r}.conv1", f"convs.{2 * k + 1}", f"noise_{2 * k + 2}")
        to_rgb(f"synthesis.b{r}.torgb", f"to_rgbs.{k}")

    kernels = [k for k in src if k.endswith((".blur.kernel", ".upsample.kernel"))]
    used.update(kernels)
    leftover = sorted(set(src) - used)
    if leftover:
        raise bad_file(path, f"{FORMAT_NAME} with unexpected tensors {leftover[:4]} (a modified architecture?)")
    taps = filter_taps_from_2d(src[kernels[0]]) if kernels else (1.0, 3.0, 3.0, 1.0)

    w_avg_source = None
    if latent_avg is not None:
        sd["mapping.w_avg"] = latent_avg.detach().float().reshape(-1)
        w_avg_source = "checkpoint: latent_avg"
    config = GeneratorConfig(
        z_dim=int(sd["mapping.fc0.weight"].shape[1]),
        w_dim=int(sd[f"mapping.fc{n_mlp - 1}.weight"].shape[0]),
        img_resolution=resolutions[-1],
        img_channels=int(sd["synthesis.b4.torgb.weight"].shape[0]),
        channels={r: int(sd[f"synthesis.b{r}.conv1.weight"].shape[0]) for r in resolutions},
        mapping_layers=n_mlp,
        mapping_hidden=int(sd["mapping.fc0.weight"].shape[0]) if n_mlp > 1 else None,
        mapping_lr_multiplier=ROSINALITY_LR_MLP,
        architecture="skip",
        conv_clamp=None,
        resample_filter=taps,
    )
    notes: tuple[str, ...] = ()
    if isinstance(obj, dict) and "g" in obj and "g_ema" in obj:
        notes = ("training checkpoint: rendering with g_ema (the EMA generator), not g",)
    return LoadedCheckpoint(
        config=config, state_dict=sd, format=FORMAT, w_avg_source=w_avg_source, notes=notes
    )
