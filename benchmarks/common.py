"""What every benchmark records: the machine block of its JSON, and the JSON file itself."""

from __future__ import annotations

import datetime
import json
import os
import platform
from pathlib import Path
from typing import Any


def machine_info(device: str = "cpu", **details: Any) -> dict[str, Any]:
    """Date, CPU, threads, GPU (when the device is CUDA) and torch version, plus the run's details."""
    # Imported here: benchmarks/render.py keeps torch out of its parent process, whose peak RSS
    # its child renders would otherwise inherit across fork and exec.
    import torch

    return {
        "date": datetime.date.today().isoformat(),
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "cpu_threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name() if device.startswith("cuda") else None,
        "torch": torch.__version__,
        "device": device,
        **details,
    }


def sync(device) -> None:  # device: torch.device (torch is imported lazily, see machine_info)
    """Wait for a CUDA device's queued work, so a timer measures the work and not its launch."""
    if device.type == "cuda":
        import torch

        torch.cuda.synchronize()


def config_f(resolution: int):  # -> GeneratorConfig (torch is imported lazily, see machine_info)
    """The channel layout of StyleGAN2 config-f (channel_base 32768, max 512), any resolution."""
    from renderer.models.stylegan2 import GeneratorConfig

    channels = {r: min(32768 // r, 512) for r in (2**i for i in range(2, resolution.bit_length()))}
    return GeneratorConfig(z_dim=512, w_dim=512, img_resolution=resolution, channels=channels, conv_clamp=256)


def write_results(path: Path, machine: dict[str, Any], results: list[dict[str, Any]], *, quiet: bool = False, **extra: Any) -> None:
    """Write {"machine", extra..., "results"} as indented JSON and say where (unless quiet)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"machine": machine, **extra, "results": results}, indent=2) + "\n")
    if not quiet:
        print(f"wrote {path}")
