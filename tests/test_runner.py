"""The segment runner: frames reach their segment's writer in order, failures and Ctrl-C stop it cleanly."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from renderer.errors import EncoderError
from renderer.jobs.runner import QUEUE_BATCHES, Segment, SegmentRunner
from renderer.output.kind import SegmentWriter


class FakeWriter(SegmentWriter):
    """Keeps the frames it is given; fails on its first write when told to."""

    def __init__(self, segment: Segment, *, fail: bool = False) -> None:
        super().__init__(Path(f"segment{segment.index}"), width=2, height=2, first_frame=segment.start)
        self.frames: list[int] = []
        self.fail = fail
        self.closed = self.aborted = False

    def _write(self, batch: np.ndarray) -> None:
        if self.fail:
            raise EncoderError("ffmpeg stopped")
        self.frames += [int(frame[0, 0, 0]) for frame in batch]

    def _finish(self) -> None:
        self.closed = True

    def _discard(self) -> None:
        self.aborted = True


def frames(start: int, stop: int) -> Iterator[np.ndarray]:
    """Batches of two 2x2 frames whose pixels hold their frame number."""
    for a in range(start, stop, 2):
        yield np.arange(a, min(a + 2, stop), dtype=np.uint8)[:, None, None, None].repeat(2, 1).repeat(2, 2).repeat(3, 3)


SEGMENTS = [Segment(0, 0, 5), Segment(1, 5, 9), Segment(3, 12, 15)]  # a resumed render skips segment 2


@pytest.mark.parametrize("encoders", [1, 2])
def test_every_frame_reaches_its_segments_writer_in_order(encoders: int) -> None:
    writers: dict[int, FakeWriter] = {}
    done: list[int] = []
    batches: list[int] = []

    def open_writer(segment: Segment) -> FakeWriter:
        writers[segment.index] = FakeWriter(segment)
        return writers[segment.index]

    seconds = SegmentRunner(encoders).run(
        SEGMENTS, frames=frames, open_writer=open_writer, on_batch=lambda b: batches.append(len(b)),
        on_done=lambda s: done.append(s.index),
    )
    assert seconds >= 0
    assert {i: w.frames for i, w in writers.items()} == {0: [0, 1, 2, 3, 4], 1: [5, 6, 7, 8], 3: [12, 13, 14]}
    assert all(w.closed and not w.aborted for w in writers.values())
    assert sorted(done) == [0, 1, 3] and sum(batches) == 12


def test_a_failed_encoder_stops_the_run_before_another_writer_opens() -> None:
    opened: list[FakeWriter] = []

    def open_writer(segment: Segment) -> FakeWriter:
        opened.append(FakeWriter(segment, fail=segment.index == 0))
        return opened[-1]

    def many_frames(start: int, stop: int) -> Iterator[np.ndarray]:
        yield from frames(0, 4 * (QUEUE_BATCHES + 2))  # more than the queue holds: generation must wait

    with pytest.raises(EncoderError, match="ffmpeg stopped"):
        SegmentRunner(1).run(SEGMENTS, frames=many_frames, open_writer=open_writer)
    assert len(opened) == 1 and opened[0].aborted


def test_ctrl_c_aborts_the_unfinished_segment_and_keeps_the_finished_one() -> None:
    writers: list[FakeWriter] = []
    first_done = threading.Event()

    def open_writer(segment: Segment) -> FakeWriter:
        writers.append(FakeWriter(segment))
        return writers[-1]

    def on_done(segment: Segment) -> None:
        if segment.index == 0:
            first_done.set()

    def on_batch(batch: np.ndarray) -> None:
        if len(writers) == 2:  # generating the second segment
            assert first_done.wait(10)
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        SegmentRunner(1).run(SEGMENTS, frames=frames, open_writer=open_writer, on_batch=on_batch, on_done=on_done)
    assert [(w.closed, w.aborted) for w in writers] == [(True, False), (False, True)]


def test_torch_threads_are_set_while_generating_and_restored() -> None:
    before = torch.get_num_threads()
    seen: list[int] = []
    SegmentRunner(1, torch_threads=1).run(
        SEGMENTS[:1], frames=frames, open_writer=FakeWriter, on_batch=lambda b: seen.append(torch.get_num_threads())
    )
    assert set(seen) == {1} and torch.get_num_threads() == before
