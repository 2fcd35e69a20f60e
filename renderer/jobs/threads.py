"""How many threads each part of a command gets: one policy for render, preview, project, generate
and any later command (finetune).

Left to themselves, torch starts one intra-op thread per core (plus an inter-op pool) and x264
about 1.5 threads per core, in every process. On a machine whose cores are already busy (other
jobs, or this command's own encoders) those threads preempt each other: torch's OpenMP threads wait
at every barrier for the one that was descheduled, and an image costs several times the CPU time of
a single thread (benchmarks/RESULTS.md, "Threads"). The policy therefore counts the cores this
process may use, takes off the ones other processes keep busy and the ones its own encoders need,
and gives torch the rest, never more than the work can use:

- `usable_cores()`: the CPUs this process may run on (its affinity), not the machine's count.
- `idle_cores(cores, load)`: those cores less the 1-minute load average, at least one.
- `plan_threads(...)`: torch intra-op threads, torch inter-op threads and each ffmpeg encoder's
  threads for a command on a device, from those counts and the work (pixels per call). With
  `encoders="auto"` it also bounds the encoder processes by the cores torch leaves them.
- `choose_encoders(...)`: how many of those encoders keep the generator busy, from the measured
  generation rate and one encoder's rate (a render measures both on its first segment).
- `use_threads(plan)`: apply a plan for a block and restore torch's intra-op threads after.

`RENDERER_THREADS=N` in the environment sets torch's threads outright (encoders keep one thread
each on a CPU); `OMP_NUM_THREADS` caps them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
from collections.abc import Iterator
from typing import Literal

import torch

SMALL_WORK_PIXELS = 128 * 128  # pixels per call below which a second torch thread costs more than it saves
GPU_TORCH_THREADS = 1  # on a GPU torch's CPU threads only launch kernels and copy frames


@dataclasses.dataclass(frozen=True)
class ThreadPlan:
    """The threads of one command.

    Attributes:
        torch: torch's intra-op threads while the command generates or optimises
        interop: torch's inter-op threads (the renderer never runs operators concurrently)
        encoder: threads of each ffmpeg encoder (x264 `-threads`); None: ffmpeg's own choice
        encoders: encoder processes: the count asked for, or with "auto" the most the cores left to
            them hold (choose_encoders picks how many of those run)
    """

    torch: int
    interop: int = 1
    encoder: int | None = None
    encoders: int = 0


def usable_cores() -> int:
    """The CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def machine_load() -> float:
    """The 1-minute load average (runnable processes); 0 where the OS does not report one."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return 0.0


def idle_cores(cores: int, load: float) -> int:
    """Cores not kept busy by the load: cores - load, rounded, between 1 and cores."""
    return max(1, min(cores, math.floor(cores - load + 0.5)))


def plan_threads(
    device: torch.device | str = "cpu",
    *,
    encoders: int | Literal["auto"] = 0,
    work_pixels: int | None = None,
    cores: int | None = None,
    load: float | None = None,
    environ: dict[str, str] | None = None,
) -> ThreadPlan:
    """The threads of a command on `device`.

    Args:
        device: where the command's model runs
        encoders: ffmpeg encoders running beside the generation for the whole command, each given
            a core of its own on a CPU (a light encoder, such as a preview's draft, counts 0).
            "auto": up to one single-threaded encoder per core that torch does not use (on a CPU
            torch is planned as beside one encoder; on a GPU every core but the one driving it)
        work_pixels: pixels per model call (resolution squared times batch); below
            SMALL_WORK_PIXELS torch gets one thread. None: unknown, not limited
        cores: usable cores (None: usable_cores())
        load: other processes' load (None: machine_load())
        environ: the environment (None: os.environ), read for RENDERER_THREADS and OMP_NUM_THREADS
    """
    env = os.environ if environ is None else environ
    cores = usable_cores() if cores is None else cores
    free = idle_cores(cores, machine_load() if load is None else load)
    auto = encoders == "auto"
    if torch.device(device).type != "cpu":
        # The GPU generates: the CPU's cores belong to the encoders, shared between them.
        count = max(1, free - GPU_TORCH_THREADS) if auto else int(encoders)
        return ThreadPlan(torch=GPU_TORCH_THREADS, interop=1, encoder=max(1, free // max(1, count)), encoders=count)
    forced = _whole(env.get("RENDERER_THREADS"))
    if forced is not None:
        return ThreadPlan(torch=forced, interop=1, encoder=1, encoders=max(1, free - forced) if auto else int(encoders))
    threads = max(1, free - (1 if auto else int(encoders)))
    if work_pixels is not None and work_pixels < SMALL_WORK_PIXELS:
        threads = 1
    cap = _whole(env.get("OMP_NUM_THREADS"))
    if cap is not None:
        threads = min(threads, cap)
    # Generation and encoding share the CPU: each encoder gets one x264 thread, so its threads do
    # not keep preempting torch's.
    return ThreadPlan(torch=threads, interop=1, encoder=1, encoders=max(1, free - threads) if auto else int(encoders))


def choose_encoders(generation_fps: float, encoder_fps: float, *, bound: int, segments: int) -> int:
    """Encoder processes that keep up with the generator: generation_fps / encoder_fps rounded up,
    at least 1, at most `bound` (plan_threads' encoders for "auto") and `segments` (segments left
    to encode at once). An unknown or zero rate keeps 1.

    Args:
        generation_fps: frames per second the generator makes (while one encoder runs beside it)
        encoder_fps: frames per second one encoder takes at this size, codec, crf and preset
    """
    if not (math.isfinite(generation_fps) and math.isfinite(encoder_fps)) or generation_fps <= 0 or encoder_fps <= 0:
        return 1
    needed = math.ceil(generation_fps / encoder_fps * (1 - 1e-9))
    return max(1, min(needed, bound, segments))


@contextlib.contextmanager
def use_threads(plan: ThreadPlan) -> Iterator[ThreadPlan]:
    """torch's threads set to the plan's for the block, intra-op threads restored after.

    torch fixes its inter-op pool at its first parallel operator: the plan's count applies when this
    is the process's first use, and is left as it is otherwise.
    """
    before = torch.get_num_threads()
    if torch.get_num_interop_threads() != plan.interop:
        with contextlib.suppress(RuntimeError):
            torch.set_num_interop_threads(plan.interop)
    torch.set_num_threads(plan.torch)
    try:
        yield plan
    finally:
        torch.set_num_threads(before)


def _whole(value: str | None) -> int | None:
    try:
        number = int(value) if value else None
    except ValueError:
        return None
    return number if number is not None and number >= 1 else None


__all__ = [
    "GPU_TORCH_THREADS",
    "SMALL_WORK_PIXELS",
    "ThreadPlan",
    "choose_encoders",
    "idle_cores",
    "machine_load",
    "plan_threads",
    "usable_cores",
    "use_threads",
]
