"""Rendering on Ray: one video from many GPUs (or CPUs) on many hosts.

The driver (the process that calls `render`) does what a local render does around the frames:
it resolves the job and its whole timeline once (smoothing and pacing included, so segment seams
carry no discontinuity), keeps the journal, and joins the finished segments with the audio. The
frames themselves are made by Ray actors, `SegmentWorker`s: each loads the models once onto its GPU
(or CPU), then renders the segments it is handed, contiguous frames at a time, and encodes each into
a file of its own with the job's encoder settings. Only segment specs go in and small results come
out: the frames never pass through Ray's object store. A segment file is written straight into the
render's work folder when the worker sees it (a shared file system, at the same path), or comes back
to the driver as bytes when it does not.

Faults: a worker that dies has its segments handed to another (a replacement worker starts when
the cluster has room); a segment that fails twice stops the render with one line naming it and
the cause; Ctrl-C stops the workers. The output path changes only at the final join, as locally.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import socket
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from renderer.errors import RendererError, UsageError
from renderer.frames.pipeline import auto_batch_size
from renderer.jobs.job import RayOptions, RenderJob, require_ray
from renderer.jobs.render import (
    FrameSource,
    RenderProgress,
    RenderProgressFn,
    RenderResult,
    WorkerProgress,
    check_output,
    join_output,
    open_journal,
    sidecar,
)
from renderer.jobs.runner import Segment, SegmentRunner
from renderer.jobs.stills import animation_generator, load_animation, load_models
from renderer.output.files import OutputLock, atomic_path
from renderer.output.manifest import Journal, write_json_atomic
from renderer.output.writers import output_writer
from renderer.plan.timeline import Timeline

MAX_ATTEMPTS = 2  # a segment that fails this often stops the render
IN_FLIGHT = 2  # segments queued on a worker: the next generates while the last one's encoder finishes
POLL_S = 0.5  # how often the driver asks the workers how far they are
STOP_WAIT_S = 5.0  # how long stopped workers get to clean up before they are killed


def segment_name(index: int, suffix: str) -> str:
    """A segment's file (or folder) in the work folder: the same on every backend, so either resumes."""
    return f"segment{index:05d}{suffix}"


def driver_device(device: str) -> str:
    """The device the driver resolves keyframes on: the job's, where this host has it, else the CPU
    (a head node without GPUs)."""
    kind = device.split(":")[0]
    if (kind == "cuda" and not torch.cuda.is_available()) or (kind == "mps" and not torch.backends.mps.is_available()):
        return "cpu"
    return device


def worker_batching(job: RenderJob, gpus_per_worker: float) -> dict[str, Any]:
    """The batching every worker renders with: the job's device type (auto: CUDA on workers that
    reserve GPUs, else the CPU) and its batch size, or that device's automatic one."""
    device = torch.device(job.device) if job.device != "auto" else torch.device("cuda" if gpus_per_worker else "cpu")
    return {"device": device.type, "batch_size": job.batch_size or auto_batch_size(device)}


def render_on_ray(job: RenderJob, report: RenderProgressFn) -> RenderResult:
    """`render` of a job whose backend is "ray" (see renderer.jobs.render.render for what it raises)."""
    require_ray()
    clock = {"start": time.perf_counter()}
    writer = output_writer(job.kind)
    warnings = list(check_output(job))
    with OutputLock(job.path), _cluster(job.ray) as cluster:
        clock["connected"] = time.perf_counter()
        pool = WorkerPool(job, cluster)  # the actors start while the driver loads and resolves
        try:
            G, timeline = load_animation(job.script, device=driver_device(job.device), precision=job.precision)
            frames = FrameSource.for_job(job, G, timeline, writer)  # odd sizes: an error before any work
            clock["loaded"] = time.perf_counter()
            assert timeline.keys is not None, "a render's timeline is planned from resolved keyframes"
            # Every worker batches as the key says (device type and frames per batch move pixels by a level).
            batching = worker_batching(job, pool.gpus)
            job = dataclasses.replace(job, batch_size=batching["batch_size"])
            pool.job = job
            key = job.journal_key(timeline.keys, batching)
            journal, discarded = open_journal(job, key)
            reused = len(journal.done)
            done = sum(b - a for i, (a, b) in enumerate(job.segments) if i in journal.done)
            report(RenderProgress("generating", done, job.num_frames))
            todo = [Segment(i, a, b) for i, (a, b) in enumerate(job.segments) if i not in journal.done]
            try:
                pool.render(todo, timeline, journal, writer.segment_suffix, done, report, batching)
            except Exception:
                if not journal.done:  # nothing worth resuming: no hidden folder either
                    shutil.rmtree(job.work_folder, ignore_errors=True)
                raise
        finally:
            pool.close()
        clock["generated"] = time.perf_counter()
        warnings += pool.warnings

        report(RenderProgress("joining", job.num_frames, job.num_frames))
        encoder = pool.encoder or frames.encoder
        join_output(job, journal, writer, key, encoder)
        clock["joined"] = time.perf_counter()
        timings = {
            "ray_connect_s": clock["connected"] - clock["start"],
            "load_s": clock["loaded"] - clock["start"],
            "workers_ready_s": (pool.first_ready or clock["generated"]) - clock["start"],
            "rendering_s": clock["generated"] - (pool.first_ready or clock["generated"]),  # from the first worker ready
            "generate_s": sum(s["generate_s"] for s in pool.segment_stats),
            "generate_and_encode_s": clock["generated"] - clock["loaded"],
            "join_s": clock["joined"] - clock["generated"],
            "total_s": clock["joined"] - clock["start"],
        }
        facts = sidecar(job, key, G, dataclasses.replace(frames, encoder=encoder), timings)
        if pool.ready_ever:
            facts["device"] = "ray: " + ", ".join(sorted({w.device for w in pool.workers if w.device}))
        facts["backend"] = pool.describe()
        write_json_atomic(job.sidecar, facts)
        shutil.rmtree(job.work_folder, ignore_errors=True)
        report(RenderProgress("done", job.num_frames, job.num_frames))
        return RenderResult(
            output=job.path, sidecar=job.sidecar, num_frames=job.num_frames, fps=job.fps, size=frames.size,
            segments_rendered=len(job.segments) - reused, segments_reused=reused,
            discarded_segments=discarded, timings=timings, warnings=tuple(warnings),
        )


# ---------------------------------------------------------------------------------------------
# The cluster


@dataclasses.dataclass(frozen=True)
class _Cluster:
    cpus: float
    gpus: float
    node: str  # the driver's host name


class _cluster:  # noqa: N801 - used as a context manager, like open()
    """Ray, joined (or started locally) for the render and shut down after it when this started it;
    a caller that has already called ray.init keeps its cluster."""

    def __init__(self, options: RayOptions) -> None:
        self.options = options
        self.started = False

    def __enter__(self) -> _Cluster:
        import logging

        import ray

        if not ray.is_initialized():
            address = self.options.address
            try:
                ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
            except (ConnectionError, RuntimeError, ValueError) as e:
                where = f" at {address}" if address else ""
                first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                raise RendererError(f"cannot connect to the Ray cluster{where}: {first}") from None
            self.started = True
        resources = ray.cluster_resources()
        return _Cluster(cpus=float(resources.get("CPU", 0)), gpus=float(resources.get("GPU", 0)), node=socket.gethostname())

    def __exit__(self, *exc: object) -> None:
        if self.started:
            import ray

            ray.shutdown()


# ---------------------------------------------------------------------------------------------
# The worker (a Ray actor)


class SegmentWorker:
    """Renders and encodes segments of one job on one GPU (or CPU): a Ray actor.

    Up to IN_FLIGHT segments are queued on it; one generates at a time (a lock), so the next
    segment's frames are made while the last one's encoder finishes.
    """

    def __init__(self, job: RenderJob) -> None:
        self.job = job
        self.writer = output_writer(job.kind)
        self.source: FrameSource | None = None
        self.work_folder = job.work_folder
        self.generate_lock = threading.Lock()
        self.state_lock = threading.Lock()
        self.stopping = threading.Event()
        self.in_flight: dict[int, int] = {}  # segment index -> frames generated
        self.frames = 0
        self.started: float | None = None  # when the first segment started generating
        self.scratch = Path(tempfile.mkdtemp(prefix="renderer-segments-"))  # segments sent back as bytes

    def load(self, timeline: Timeline, probe: str | None, cwd: str, batching: dict[str, Any]) -> dict[str, Any]:
        """Load the models onto this worker's device; returns where it runs and whether it sees the
        driver's work folder (the probe file the driver wrote there).

        Relative paths in the job (checkpoints, the output) mean what they mean to the driver, in
        its folder `cwd`, wherever that folder exists too.
        """
        t0 = time.perf_counter()
        if Path(cwd).is_dir():
            os.chdir(cwd)
        self.work_folder = self.job.work_folder.absolute()
        job = self.job
        base, transfer = load_models(job.script, device=job.device)
        G = animation_generator(job.script, timeline, base, transfer, device=job.device, precision=job.precision)
        self.source = FrameSource.for_job(job, G, timeline, self.writer)
        if self.source.batching != batching:  # the journal's key says how every segment is batched
            raise UsageError(
                f"this worker renders on {self.source.batching['device']} where the render expects "
                f"{batching['device']}; give --device {batching['device']} or run the workers where it exists"
            )
        if self.source.torch_threads is not None:  # set once: segments run on several threads
            torch.set_num_threads(self.source.torch_threads)
        device = str(G.device) + (f" ({torch.cuda.get_device_name(G.device)})" if G.device.type == "cuda" else "")
        sees = probe is not None and Path(probe).is_file() and os.access(self.work_folder, os.W_OK | os.X_OK)
        return {
            "host": socket.gethostname(), "pid": os.getpid(), "device": device, "shared": sees,
            "encoder": self.source.encoder, "load_s": time.perf_counter() - t0,
        }

    def render_segment(self, index: int, start: int, stop: int, shared: bool) -> dict[str, Any]:
        """Generate and encode frames [start, stop) as segment `index`: into the work folder when
        `shared`, else sent back as bytes (a folder of PNG frames as (name, bytes) pairs)."""
        assert self.source is not None, "load() first"
        source = self.source
        name = segment_name(index, self.writer.segment_suffix)
        target = (self.work_folder if shared else self.scratch) / name
        t_call = time.perf_counter()
        timing = {"wait_s": 0.0, "generate_s": 0.0, "last_batch": t_call}
        held = [False]

        def frames(a: int, b: int) -> Iterator[Any]:
            t0 = time.perf_counter()
            self.generate_lock.acquire()
            held[0] = True
            timing["wait_s"] = time.perf_counter() - t0
            try:
                t0 = time.perf_counter()
                with self.state_lock:
                    self.started = self.started or t0
                    self.in_flight[index] = 0
                for batch in source.frames(a, b):
                    if self.stopping.is_set():
                        raise RendererError("stopped by the driver")
                    now = time.perf_counter()
                    with self.state_lock:
                        self.in_flight[index] += len(batch)
                        self.frames += len(batch)
                    timing["generate_s"] += now - t0
                    yield batch
                    t0 = time.perf_counter()
                timing["last_batch"] = time.perf_counter()
            finally:
                release()

        def release() -> None:
            if held[0]:
                held[0] = False
                self.generate_lock.release()

        def open_writer(segment: Segment) -> Any:
            width, height = source.size
            return self.writer.open_segment(
                target, width=width, height=height, fps=self.job.fps, settings=source.encoder, first_frame=segment.start,
                layout=source.layout,
            )

        try:
            SegmentRunner(1).run([Segment(index, start, stop)], frames=frames, open_writer=open_writer)
        finally:
            release()
            with self.state_lock:
                self.in_flight.pop(index, None)
        result: dict[str, Any] = {
            "index": index, "name": name, "frames": stop - start, "data": None, "bytes": 0,
            "wait_s": timing["wait_s"], "generate_s": timing["generate_s"],
            "tail_s": time.perf_counter() - timing["last_batch"],  # the encoder finishing after the last frame
        }
        if not shared:
            result["data"] = _read_segment(target)
            result["bytes"] = _size(result["data"])
            _remove(target)
        result["wall_s"] = time.perf_counter() - t_call
        return result

    def progress(self) -> dict[str, Any]:
        """Frames generated of each segment in progress, and in all."""
        with self.state_lock:
            elapsed = time.perf_counter() - self.started if self.started else 0.0
            return {"segments": dict(self.in_flight), "frames": self.frames, "fps": self.frames / elapsed if elapsed else 0.0}

    def stop(self) -> None:
        """Abort the segments in progress (their unfinished files are deleted) and the queued ones."""
        self.stopping.set()
        shutil.rmtree(self.scratch, ignore_errors=True)


def _read_segment(path: Path) -> bytes | list[tuple[str, bytes]]:
    if path.is_dir():
        return [(p.name, p.read_bytes()) for p in sorted(path.iterdir()) if p.is_file()]
    return path.read_bytes()


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _size(data: bytes | list[tuple[str, bytes]]) -> int:
    return len(data) if isinstance(data, bytes) else sum(len(b) for _, b in data)


def _store_segment(folder: Path, name: str, data: bytes | list[tuple[str, bytes]]) -> None:
    """A segment sent back as bytes, written into the work folder under its final name only when whole."""
    if isinstance(data, bytes):
        with atomic_path(folder / name) as tmp:
            tmp.write_bytes(data)
        return
    staging = folder / f".{name}.{uuid.uuid4().hex[:8]}.partial"
    try:
        staging.mkdir()
        for frame, content in data:
            (staging / frame).write_bytes(content)
        shutil.rmtree(folder / name, ignore_errors=True)  # frames of an earlier, abandoned attempt
        os.replace(staging, folder / name)
    except OSError as e:
        shutil.rmtree(staging, ignore_errors=True)
        raise RendererError(f"{folder / name}: cannot write the segment ({e.strerror or e})") from None


# ---------------------------------------------------------------------------------------------
# The driver's side


@dataclasses.dataclass
class _Worker:
    """The driver's record of one actor."""

    number: int
    handle: Any
    state: str = "starting"  # "starting", "loading", "ready", "dead" (died), "failed" (could not load)
    host: str = ""
    pid: int = 0
    device: str = ""
    shared: bool = False
    in_flight: dict[Any, Segment] = dataclasses.field(default_factory=dict)  # ObjectRef -> segment
    progress: dict[int, int] = dataclasses.field(default_factory=dict)  # segment index -> frames generated
    frames: int = 0
    fps: float = 0.0
    segments: int = 0
    poll: Any = None  # the progress() call in flight

    @property
    def name(self) -> str:
        return f"worker {self.number}" + (f" on {self.host}" if self.host else "")

    @property
    def live(self) -> bool:
        return self.state in ("starting", "loading", "ready")


class WorkerPool:
    """The actors of one render, the segments handed to them, and what came back."""

    def __init__(self, job: RenderJob, cluster: _Cluster) -> None:
        import ray

        self.job = job
        options = job.ray
        gpus = options.gpus_per_worker
        if gpus is None:
            gpus = 1.0 if cluster.gpus > 0 else 0.0
        if gpus > cluster.gpus:
            raise UsageError(
                f"each worker asks for {gpus:g} GPUs and the Ray cluster has {cluster.gpus:g}; "
                "use --gpus-per-worker 0 to render on CPUs"
            )
        if options.cpus_per_worker > cluster.cpus:
            raise UsageError(f"each worker asks for {options.cpus_per_worker:g} CPUs and the Ray cluster has {cluster.cpus:g}")
        self.gpus = gpus
        fit = int(cluster.gpus // gpus) if gpus else int(cluster.cpus // options.cpus_per_worker)
        count = options.workers or max(1, fit)
        count = max(1, min(count, len(job.segments)))
        self.warnings: list[str] = []
        if count > fit:
            self.warnings.append(
                f"only {fit} of the {count} Ray workers fit the cluster's free resources; the others wait for room"
            )
        self.actor = ray.remote(SegmentWorker).options(
            num_cpus=options.cpus_per_worker, num_gpus=gpus, max_restarts=0, max_task_retries=0,
            max_concurrency=IN_FLIGHT + 2, scheduling_strategy="SPREAD",
        )
        self.count = count
        self.replacements = count  # workers started in place of ones that died, at most
        self.workers: list[_Worker] = []
        self.refs: dict[Any, tuple[_Worker, str]] = {}  # ObjectRef -> (worker, "load" or "segment")
        self.encoder: Any = None
        self.first_ready: float | None = None
        self.ready_ever = False
        self.retried: list[dict[str, Any]] = []
        self.segment_stats: list[dict[str, Any]] = []
        self.last_death: str | None = None
        self.submitted: dict[Any, float] = {}  # ObjectRef -> when the segment was handed out
        self._timeline: Any = None
        self._probe: Path | None = None
        for _ in range(count):
            self._start()

    def _start(self) -> _Worker:
        worker = _Worker(len(self.workers) + 1, self.actor.remote(self.job))
        self.workers.append(worker)
        if self._timeline is not None:
            self._load(worker)
        return worker

    def _load(self, worker: _Worker) -> None:
        probe = str(self._probe) if self._probe is not None else None
        self.refs[worker.handle.load.remote(self._timeline, probe, os.getcwd(), self.batching)] = (worker, "load")
        worker.state = "loading"

    # -- the render --------------------------------------------------------------------------

    def render(
        self, todo: list[Segment], timeline: Timeline, journal: Journal, suffix: str, done: int, report: RenderProgressFn,
        batching: dict[str, Any],
    ) -> None:
        """Render every segment of `todo` on the workers, recording each in the journal as it arrives."""
        import ray

        self.journal, self.suffix, self.report, self.batching = journal, suffix, report, batching
        self.done_frames = done
        if not todo:
            return
        self._timeline = ray.put(timeline)  # once, for every worker: the keyframes and tracks, not frames
        if self.job.ray.segment_storage != "bytes":
            self._probe = self.job.work_folder.absolute() / f".probe-{uuid.uuid4().hex}"
            self._probe.write_text("the driver's work folder\n")
        for worker in self.workers:
            self._load(worker)
        self.pending: deque[Segment] = deque(todo)
        self.attempts: dict[int, int] = {}
        self.failed_on: dict[int, set[int]] = {}
        last_poll = 0.0
        try:
            while self.pending or any(w.in_flight for w in self.workers):
                self._assign()
                if not any(w.live for w in self.workers):
                    raise RendererError("every Ray worker is gone; " + (self.last_death or "no worker could start"))
                ready, _ = ray.wait(list(self.refs), num_returns=1, timeout=POLL_S)
                if ready:
                    ready, _ = ray.wait(list(self.refs), num_returns=len(self.refs), timeout=0)
                for ref in ready:
                    if ref not in self.refs:  # a dead worker's other segment, handed back already
                        continue
                    worker, kind = self.refs.pop(ref)
                    if kind == "load":
                        self._loaded(worker, ref)
                    else:
                        self._finished(worker, ref)
                if time.perf_counter() - last_poll >= POLL_S:
                    self._poll()
                    last_poll = time.perf_counter()
        finally:
            if self._probe is not None:
                self._probe.unlink(missing_ok=True)

    def _assign(self) -> None:
        """Hand pending segments to ready workers, a segment preferably to a worker it has not failed
        on. A second one is queued on a busy worker (IN_FLIGHT at most) only while there are more
        pending segments than idle or loading workers to take them, so the last ones are shared out."""
        for worker in self.workers:
            while worker.state == "ready" and self.pending and len(worker.in_flight) < self._depth():
                segment = self._pick(worker)
                if segment is None:
                    break
                ref = worker.handle.render_segment.remote(segment.index, segment.start, segment.stop, worker.shared)
                worker.in_flight[ref] = segment
                self.submitted[ref] = time.perf_counter()
                self.refs[ref] = (worker, "segment")

    def _depth(self) -> int:
        idle = sum(1 for w in self.workers if w.live and not w.in_flight)
        return IN_FLIGHT if len(self.pending) > idle else 1

    def _pick(self, worker: _Worker) -> Segment | None:
        others = [w for w in self.workers if w is not worker and w.live]
        for segment in self.pending:
            failed = self.failed_on.get(segment.index, set())
            if worker.number not in failed or all(w.number in failed for w in others):
                self.pending.remove(segment)
                return segment
        return None

    def _loaded(self, worker: _Worker, ref: Any) -> None:
        import ray

        try:
            info = ray.get(ref)
        except ray.exceptions.RayTaskError as e:
            worker.state = "failed"
            ray.kill(worker.handle)
            if not any(w.live for w in self.workers):
                raise _remote_error(e.cause, f"{worker.name}: ") from None
            self.warnings.append(f"{worker.name} could not start: {e.cause}")
            return
        except ray.exceptions.RayError:
            self._died(worker)
            return
        worker.host, worker.pid, worker.device = info["host"], info["pid"], info["device"]
        if self.job.ray.segment_storage == "shared" and not info["shared"]:
            raise UsageError(
                f"{worker.name} cannot see the work folder {self.job.work_folder} (no shared file system there); "
                "use --segment-storage bytes or auto"
            )
        worker.shared = info["shared"] and self.job.ray.segment_storage != "bytes"
        worker.state = "ready"
        self.encoder = self.encoder or info["encoder"]
        self.ready_ever = True
        self.first_ready = self.first_ready or time.perf_counter()

    def _finished(self, worker: _Worker, ref: Any) -> None:
        import ray

        segment = worker.in_flight.pop(ref)
        worker.progress.pop(segment.index, None)
        submitted = self.submitted.pop(ref, time.perf_counter())
        try:
            result = ray.get(ref)
        except ray.exceptions.RayTaskError as e:
            self._failed(worker, segment, e.cause)
            return
        except ray.exceptions.RayError:
            worker.in_flight[ref] = segment  # handed back with the rest of the worker's segments
            self._died(worker)
            return
        if result["data"] is not None:
            _store_segment(self.job.work_folder, result["name"], result["data"])
        self.journal.record(segment.index, result["name"])
        worker.segments += 1
        self.done_frames += segment.stop - segment.start
        # roundtrip_s - wall_s: what Ray, the transfer and this loop add to the worker's own time
        stats = {k: v for k, v in result.items() if k != "data"}
        self.segment_stats.append(stats | {"worker": worker.number, "roundtrip_s": time.perf_counter() - submitted})
        self._report()

    def _failed(self, worker: _Worker, segment: Segment, cause: BaseException) -> None:
        """A segment that raised on its worker: retried on another, or the render stops."""
        count = self.attempts[segment.index] = self.attempts.get(segment.index, 0) + 1
        self.failed_on.setdefault(segment.index, set()).add(worker.number)
        if count >= MAX_ATTEMPTS:
            raise _remote_error(
                cause, f"segment {segment.index} (frames {segment.start}-{segment.stop - 1}) failed {count} times, last on {worker.name}: "
            )
        self.retried.append({"segment": segment.index, "worker": worker.number, "error": str(cause).splitlines()[0]})
        self.pending.appendleft(segment)

    def _died(self, worker: _Worker) -> None:
        """A worker that died: its segments go back in the queue (each counting a failed attempt),
        and a replacement starts while the cluster has room for it."""
        import ray

        if worker.state == "dead":
            return
        worker.state = "dead"
        self.last_death = f"{worker.name} died"
        lost = sorted(worker.in_flight.values())
        for ref in worker.in_flight:
            self.refs.pop(ref, None)
            self.submitted.pop(ref, None)
        worker.in_flight.clear()
        worker.progress.clear()
        for segment in reversed(lost):
            self.pending.appendleft(segment)
        for segment in lost:
            count = self.attempts[segment.index] = self.attempts.get(segment.index, 0) + 1
            self.failed_on.setdefault(segment.index, set()).add(worker.number)
            self.retried.append({"segment": segment.index, "worker": worker.number, "error": "the worker died"})
            if count >= MAX_ATTEMPTS:
                raise RendererError(
                    f"segment {segment.index} (frames {segment.start}-{segment.stop - 1}) failed {count} times: "
                    f"{worker.name} died while rendering it"
                )
        ray.kill(worker.handle)
        if self.replacements > 0:
            self.replacements -= 1
            self._start()
        self._report()

    def _poll(self) -> None:
        """Ask the busy workers how far they are (without waiting on them), then report."""
        import ray

        for worker in self.workers:
            if worker.poll is not None:
                ready, _ = ray.wait([worker.poll], timeout=0)
                if not ready:
                    continue
                try:
                    state = ray.get(worker.poll)
                except ray.exceptions.RayError:
                    state = None  # a death shows up on its segments
                worker.poll = None
                if state is not None and worker.state == "ready":
                    mine = {s.index for s in worker.in_flight.values()}
                    worker.progress = {i: n for i, n in state["segments"].items() if i in mine}
                    worker.frames, worker.fps = state["frames"], state["fps"]
            if worker.state == "ready":
                worker.poll = worker.handle.progress.remote()
        self._report()

    def _report(self) -> None:
        in_flight = sum(sum(w.progress.values()) for w in self.workers if w.state == "ready")
        workers = tuple(
            WorkerProgress(w.name, w.host, w.pid, w.device, w.frames, w.fps) for w in self.workers if w.state == "ready"
        )
        done = min(self.done_frames + in_flight, self.job.num_frames)
        self.report(RenderProgress("generating", done, self.job.num_frames, workers))

    # -- the end -----------------------------------------------------------------------------

    def close(self) -> None:
        """Stop every worker (its unfinished segment files are deleted), then end the actors."""
        import ray

        live = [w for w in self.workers if w.live]
        stops = [w.handle.stop.remote() for w in live]
        busy = [ref for w in live for ref in w.in_flight]
        if busy:
            ray.wait(busy, num_returns=len(busy), timeout=STOP_WAIT_S)
        ray.wait(stops, num_returns=len(stops), timeout=1.0)
        for worker in self.workers:
            with contextlib.suppress(Exception):  # an actor that is gone already
                ray.kill(worker.handle)
        for stale in self.job.work_folder.glob(".segment*.partial*"):  # of workers killed mid-segment
            _remove(stale)

    def describe(self) -> dict[str, Any]:
        """The sidecar's account of the workers and segments."""
        return {
            "name": "ray",
            "address": self.job.ray.address,
            "workers": [
                {"name": w.name, "host": w.host, "pid": w.pid, "device": w.device, "state": w.state,
                 "storage": "shared" if w.shared else "bytes", "segments": w.segments}
                for w in self.workers
            ],
            "retried": self.retried,
            "segments": sorted(self.segment_stats, key=lambda s: s["index"]),
        }


def _remote_error(cause: BaseException, prefix: str) -> RendererError:
    """One line for an error raised on a worker, of the same type when it is the library's own."""
    message = prefix + (str(cause).strip().splitlines() or [type(cause).__name__])[0]
    if isinstance(cause, RendererError):
        try:
            return type(cause)(message)
        except TypeError:  # a subclass with another constructor
            return RendererError(message)
    return RendererError(message + f" ({type(cause).__name__})")


__all__ = ["IN_FLIGHT", "MAX_ATTEMPTS", "SegmentWorker", "WorkerPool", "driver_device", "render_on_ray", "segment_name"]
