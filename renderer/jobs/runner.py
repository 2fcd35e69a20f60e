"""The segment runner: generation on the calling thread, encoding on encoder threads, overlapped.

`SegmentRunner.run` generates each segment's frames in batches and hands them, through a bounded
queue, to an encoder thread that feeds that segment's writer; up to `encoders` segments encode at
once, and memory does not grow with the video's length. This is the only module that knows about
those threads and queues; how many threads torch and the encoders get is `threads`' policy.

With `auto`, `encoders` is only the most that may run: once the first segment is encoded, the
runner measures how fast frames were made and how fast that one encoder took them (its CPU
time), and keeps threads.choose_encoders(...) segments encoding at once from then on.
"""

from __future__ import annotations

import contextlib
import dataclasses
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, NamedTuple

import numpy as np

from renderer.errors import RendererError
from renderer.jobs.threads import ThreadPlan, choose_encoders, use_threads
from renderer.output.kind import SegmentWriter

QUEUE_BATCHES = 4  # batches waiting per encoder: bounds memory, keeps the encoders fed


class Segment(NamedTuple):
    """A segment of the video: its number and its frames [start, stop)."""

    index: int
    start: int
    stop: int


FramesFn = Callable[[int, int], Iterable[np.ndarray]]  # (start, stop) -> uint8 batches in order
OpenWriterFn = Callable[[Segment], SegmentWriter]


@dataclasses.dataclass(frozen=True)
class EncoderChoice:
    """What --encoders auto measured on the first segment, and the encoders it chose from that."""

    encoders: int  # segments encoded at once after the first
    bound: int  # the most the cores allowed
    generation_fps: float | None  # frames per second of generation (None: not measured)
    encoder_fps: float | None  # frames per CPU second of the first segment's encoder (None: unknown)


class SegmentRunner:
    """Generates segments and encodes them on `encoders` threads, with torch on `torch_threads` threads.

    Args:
        encoders: segments encoded at once, each by its own thread (and its writer's ffmpeg process);
            with auto, the most that may be
        torch_threads: torch's intra-op threads while generating (None: unchanged), restored after
        auto: `encoders` segments encode at once until the first segment is encoded; from then on as
            many as keep up with the generator (threads.choose_encoders), measured on that segment.
            `choice` then says what was measured and chosen.
    """

    def __init__(self, encoders: int, *, torch_threads: int | None = None, auto: bool = False) -> None:
        self.encoders = encoders
        self.torch_threads = torch_threads
        self.auto = auto
        self.choice: EncoderChoice | None = None

    def run(
        self,
        segments: Sequence[Segment],
        *,
        frames: FramesFn,
        open_writer: OpenWriterFn,
        on_batch: Callable[[np.ndarray], None] = lambda batch: None,
        on_done: Callable[[Segment], None] = lambda segment: None,
    ) -> float:
        """Write every segment; returns the seconds spent generating (waiting on frames()).

        Args:
            segments: in playback order
            frames: the frames of a segment, in batches (called on this thread)
            open_writer: the writer of a segment, opened just before its frames are generated
            on_batch: after each batch is queued for its encoder (on this thread)
            on_done: after a segment's writer closed successfully (on its encoder thread)

        Raises:
            the first encoder's error, before another segment's writer is opened; any error or
            KeyboardInterrupt stops the encoders and aborts the unfinished segments (finished ones,
            already reported to on_done, are kept)
        """
        workers = max(1, min(self.encoders, len(segments))) if self.auto else self.encoders
        encode = _Encoders(workers)
        generating = 0.0
        first: dict[str, float] = {}  # the first segment's generation, less its first batch (warm-up)
        with _torch_threads(self.torch_threads):
            try:
                for number, segment in enumerate(segments):
                    encode.check()  # a failed encoder stops the run before another ffmpeg starts
                    writer = open_writer(segment)
                    closed = self._decide(first, len(segments), encode) if self.auto and number == 0 else None
                    job = encode.start(writer, on_done=lambda s=segment: on_done(s), on_closed=closed)
                    t0 = time.perf_counter()
                    for count, batch in enumerate(frames(segment.start, segment.stop)):
                        seconds = time.perf_counter() - t0
                        generating += seconds
                        if number == 0 and count > 0:
                            first["frames"] = first.get("frames", 0) + len(batch)
                            first["seconds"] = first.get("seconds", 0.0) + seconds
                        job.put(batch)
                        on_batch(batch)
                        t0 = time.perf_counter()
                    job.finish()
                encode.wait()
            except BaseException:
                encode.abort()
                raise
        return generating

    def _decide(self, first: dict[str, float], segments: int, encode: _Encoders) -> Callable[[SegmentWriter], None]:
        """What runs once the first segment's writer closed: measure, then set the encoders' limit."""

        def closed(writer: SegmentWriter) -> None:
            generation = first["frames"] / first["seconds"] if first.get("seconds") else None
            encoder = writer.frames_written / writer.cpu_seconds if writer.cpu_seconds else None
            chosen = choose_encoders(
                generation or 0.0, encoder or 0.0, bound=encode.workers, segments=max(1, segments - 1)
            )
            self.choice = EncoderChoice(chosen, encode.workers, generation, encoder)
            encode.slots.set_limit(chosen)

        return closed


# ---------------------------------------------------------------------------------------------


class _Job:
    """One segment's frames on their way to its encoder thread."""

    _END = object()

    def __init__(self, writer: SegmentWriter) -> None:
        self.writer = writer
        self.queue: queue.Queue[Any] = queue.Queue(maxsize=QUEUE_BATCHES)
        self.future: Future[None] | None = None

    def put(self, item: Any) -> None:
        # Never block forever on a dead encoder: wake up to look at its result.
        while True:
            if self.future is not None and self.future.done():
                self.future.result()  # raises the encoder's error
                raise RendererError("the encoder stopped early")
            try:
                self.queue.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def finish(self) -> None:
        self.put(self._END)

    def run(self, slots: _Slots, on_done: Callable[[], None], on_closed: Callable[[SegmentWriter], None] | None) -> None:
        if not slots.acquire():  # aborted while waiting for its turn
            self.writer.abort()
            return
        try:
            while (item := self.queue.get()) is not self._END:
                if item is None:  # abort
                    self.writer.abort()
                    return
                self.writer.write(item)
            self.writer.close()
            if on_closed is not None:
                on_closed(self.writer)
        except BaseException:
            self.writer.abort()
            raise
        finally:
            slots.release()
        on_done()


class _Slots:
    """At most `limit` segments encode at once; the limit can change while they run."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.busy = 0
        self.aborted = False
        self.changed = threading.Condition()

    def acquire(self) -> bool:
        """Wait for a free slot and take it; False when aborted instead."""
        with self.changed:
            while self.busy >= self.limit and not self.aborted:
                self.changed.wait()
            if self.aborted:
                return False
            self.busy += 1
            return True

    def release(self) -> None:
        with self.changed:
            self.busy -= 1
            self.changed.notify_all()

    def set_limit(self, limit: int) -> None:
        with self.changed:
            self.limit = max(1, limit)
            self.changed.notify_all()

    def abort(self) -> None:
        with self.changed:
            self.aborted = True
            self.changed.notify_all()


class _Encoders:
    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="encoder")
        self.slots = _Slots(workers)
        self.jobs: list[_Job] = []

    def check(self) -> None:
        """Raise the error of a finished encoder, if one failed; forget the ones that succeeded."""
        for job in self.jobs:
            if job.future is not None and job.future.done():
                job.future.result()
        self.jobs = [j for j in self.jobs if not (j.future and j.future.done())]

    def start(
        self, writer: SegmentWriter, on_done: Callable[[], None], on_closed: Callable[[SegmentWriter], None] | None = None
    ) -> _Job:
        job = _Job(writer)
        self.jobs.append(job)  # before submitting: an abort must see its writer
        job.future = self.pool.submit(job.run, self.slots, on_done, on_closed)
        return job

    def wait(self) -> None:
        for job in self.jobs:
            assert job.future is not None
            job.future.result()
        self.pool.shutdown()

    def abort(self) -> None:
        self.slots.abort()  # encoders waiting for their turn stop too
        for job in self.jobs:
            # Drop the frames still queued, so each encoder stops at once instead of encoding them.
            while True:
                try:
                    job.queue.get_nowait()
                except queue.Empty:
                    break
            job.queue.put_nowait(None)
        self.pool.shutdown(wait=True, cancel_futures=True)
        for job in self.jobs:
            job.writer.abort()


@contextlib.contextmanager
def _torch_threads(count: int | None) -> Iterator[None]:
    """torch's intra-op threads set to `count` for the block (None: unchanged), then restored."""
    if count is None:
        yield
        return
    with use_threads(ThreadPlan(torch=count)):
        yield


__all__ = ["QUEUE_BATCHES", "EncoderChoice", "Segment", "SegmentRunner"]
