"""The segment runner: generation on the calling thread, encoding on encoder threads, overlapped.

`SegmentRunner.run` generates each segment's frames in batches and hands them, through a bounded
queue, to an encoder thread that feeds that segment's writer; up to `encoders` segments encode at
once, and memory does not grow with the video's length. This is the only module that knows about
those threads and queues; how many threads torch and the encoders get is `threads`' policy.
"""

from __future__ import annotations

import contextlib
import queue
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, NamedTuple

import numpy as np

from renderer.errors import RendererError
from renderer.jobs.threads import ThreadPlan, use_threads
from renderer.output.kind import SegmentWriter

QUEUE_BATCHES = 4  # batches waiting per encoder: bounds memory, keeps the encoders fed


class Segment(NamedTuple):
    """A segment of the video: its number and its frames [start, stop)."""

    index: int
    start: int
    stop: int


FramesFn = Callable[[int, int], Iterable[np.ndarray]]  # (start, stop) -> uint8 [n, H, W, 3] batches in order
OpenWriterFn = Callable[[Segment], SegmentWriter]


class SegmentRunner:
    """Generates segments and encodes them on `encoders` threads, with torch on `torch_threads` threads.

    Args:
        encoders: segments encoded at once, each by its own thread (and its writer's ffmpeg process)
        torch_threads: torch's intra-op threads while generating (None: unchanged), restored after
    """

    def __init__(self, encoders: int, *, torch_threads: int | None = None) -> None:
        self.encoders = encoders
        self.torch_threads = torch_threads

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
        encode = _Encoders(self.encoders)
        generating = 0.0
        with _torch_threads(self.torch_threads):
            try:
                for segment in segments:
                    encode.check()  # a failed encoder stops the run before another ffmpeg starts
                    writer = open_writer(segment)
                    job = encode.start(writer, on_done=lambda s=segment: on_done(s))
                    t0 = time.perf_counter()
                    for batch in frames(segment.start, segment.stop):
                        generating += time.perf_counter() - t0
                        job.put(batch)
                        on_batch(batch)
                        t0 = time.perf_counter()
                    job.finish()
                encode.wait()
            except BaseException:
                encode.abort()
                raise
        return generating


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

    def run(self, on_done: Callable[[], None]) -> None:
        try:
            while (item := self.queue.get()) is not self._END:
                if item is None:  # abort
                    self.writer.abort()
                    return
                self.writer.write(item)
            self.writer.close()
        except BaseException:
            self.writer.abort()
            raise
        on_done()


class _Encoders:
    def __init__(self, workers: int) -> None:
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="encoder")
        self.jobs: list[_Job] = []

    def check(self) -> None:
        """Raise the error of a finished encoder, if one failed; forget the ones that succeeded."""
        for job in self.jobs:
            if job.future is not None and job.future.done():
                job.future.result()
        self.jobs = [j for j in self.jobs if not (j.future and j.future.done())]

    def start(self, writer: SegmentWriter, on_done: Callable[[], None]) -> _Job:
        job = _Job(writer)
        self.jobs.append(job)  # before submitting: an abort must see its writer
        job.future = self.pool.submit(job.run, on_done)
        return job

    def wait(self) -> None:
        for job in self.jobs:
            assert job.future is not None
            job.future.result()
        self.pool.shutdown()

    def abort(self) -> None:
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


__all__ = ["QUEUE_BATCHES", "Segment", "SegmentRunner"]
