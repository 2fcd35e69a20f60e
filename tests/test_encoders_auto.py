"""--encoders auto: as many encoder processes as keep the generator busy, from measured rates, bounded
by the cores the thread policy leaves them and by the segments."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from renderer.errors import EncoderError, UsageError
from renderer.jobs.job import RenderSettings
from renderer.jobs.runner import Segment, SegmentRunner
from renderer.jobs.threads import GPU_TORCH_THREADS, SMALL_WORK_PIXELS, choose_encoders, plan_threads
from renderer.output.ffmpeg import probe, read_frames
from renderer.output.kind import SegmentWriter
from tests.test_cli import assert_one_line_error, invoke
from tests.test_render import write_script

rates = st.floats(min_value=1e-3, max_value=1e5, allow_nan=False, allow_infinity=False)
counts = st.integers(min_value=1, max_value=64)


# ---------------------------------------------------------------------------------------------
# The decision


@given(generation=rates, encoder=rates, bound=counts, segments=counts)
def test_the_choice_is_at_least_one_and_never_more_than_the_cores_or_segments_allow(
    generation: float, encoder: float, bound: int, segments: int
) -> None:
    chosen = choose_encoders(generation, encoder, bound=bound, segments=segments)
    assert 1 <= chosen <= min(bound, segments)
    # Enough to keep up whenever the bounds allow it, and never one more than needed.
    if chosen < min(bound, segments):
        assert chosen * encoder >= generation * (1 - 1e-6)
    if chosen > 1:
        assert (chosen - 1) * encoder < generation


@given(encoder=rates, ratios=st.lists(st.floats(0.0, 100.0), min_size=2, max_size=8), bound=counts, segments=counts)
def test_the_choice_grows_with_the_ratio_of_generation_to_encoding(
    encoder: float, ratios: list[float], bound: int, segments: int
) -> None:
    chosen = [choose_encoders(r * encoder, encoder, bound=bound, segments=segments) for r in sorted(ratios)]
    assert chosen == sorted(chosen)


@given(generation=rates, encoder=rates, scale=st.floats(0.01, 100.0), bound=counts, segments=counts)
def test_the_choice_depends_only_on_the_ratio(generation: float, encoder: float, scale: float, bound: int, segments: int) -> None:
    ratio = generation / encoder
    a = choose_encoders(generation, encoder, bound=bound, segments=segments)
    b = choose_encoders(generation * scale, encoder * scale, bound=bound, segments=segments)
    if abs(ratio - round(ratio)) > 1e-6:  # away from a whole ratio, where rounding may tip either way
        assert a == b


@pytest.mark.parametrize("generation,encoder", [(0.0, 5.0), (5.0, 0.0), (float("nan"), 5.0), (5.0, float("inf"))])
def test_an_unknown_rate_keeps_one_encoder(generation: float, encoder: float) -> None:
    assert choose_encoders(generation, encoder, bound=8, segments=8) == 1


@settings(max_examples=200)
@given(cores=st.integers(1, 64), load=st.floats(0.0, 80.0), work=st.sampled_from([None, 64 * 64, 256 * 256, 1024 * 1024]))
def test_auto_never_gives_the_encoders_more_cores_than_torch_leaves(cores: int, load: float, work: int | None) -> None:
    plan = plan_threads("cpu", encoders="auto", work_pixels=work, cores=cores, load=load, environ={})
    free = max(1, min(cores, int(cores - load + 0.5)))
    assert plan.encoders >= 1 and plan.encoder == 1
    assert plan.encoders == max(1, free - plan.torch)
    # The generator is planned as beside one encoder: what a fixed --encoders 1 gives it.
    assert plan.torch == plan_threads("cpu", encoders=1, work_pixels=work, cores=cores, load=load, environ={}).torch
    gpu = plan_threads("cuda", encoders="auto", work_pixels=work, cores=cores, load=load, environ={})
    assert gpu.encoders == max(1, free - GPU_TORCH_THREADS) and gpu.encoder == max(1, free // gpu.encoders)


def test_on_two_cores_auto_is_one_encoder_whatever_the_load_and_work() -> None:
    """Why auto cannot make a 2-core CPU render slower than --encoders 1: it is exactly that plan."""
    for load in (0.0, 0.5, 1.0, 1.5, 3.0):
        for work in (None, SMALL_WORK_PIXELS - 1, 256 * 256):
            auto = plan_threads("cpu", encoders="auto", work_pixels=work, cores=2, load=load, environ={})
            one = plan_threads("cpu", encoders=1, work_pixels=work, cores=2, load=load, environ={})
            assert (auto.encoders, auto.torch, auto.encoder) == (1, one.torch, one.encoder)


def test_auto_bounds_follow_the_thread_policy() -> None:
    assert plan_threads("cpu", encoders="auto", work_pixels=256 * 256, cores=16, load=0.0, environ={}).encoders == 1
    small = plan_threads("cpu", encoders="auto", work_pixels=32 * 32, cores=16, load=0.0, environ={})
    assert (small.torch, small.encoders) == (1, 15)  # a tiny model leaves the cores to the encoders
    assert plan_threads("cpu", encoders="auto", cores=16, load=0.0, environ={"RENDERER_THREADS": "4"}).encoders == 12
    assert plan_threads("cpu", encoders="auto", cores=16, load=0.0, environ={"OMP_NUM_THREADS": "6"}).encoders == 10
    gpu = plan_threads("cuda", encoders="auto", cores=16, load=0.0, environ={})
    assert (gpu.torch, gpu.encoders, gpu.encoder) == (1, 15, 1)


def test_settings_take_auto_or_a_count() -> None:
    assert RenderSettings(device="cpu", encoders="auto").encoders == "auto"
    for bad in (0, -1, "two", True, 1.5):
        with pytest.raises(UsageError, match="encoders must be 'auto' or at least 1"):
            RenderSettings(device="cpu", encoders=bad)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# The runner measures the first segment, then keeps that many encoding


class TimedWriter(SegmentWriter):
    """Encodes at `fps` frames per second (sleeps), reports that as its CPU time; counts who runs at once."""

    def __init__(self, segment: Segment, fps: float | None, active: list[int], peak: dict[int, int], lock: threading.Lock,
                 fail: bool = False) -> None:
        super().__init__(Path(f"segment{segment.index}"), width=2, height=2, first_frame=segment.start)
        self.segment, self.fps, self.active, self.peak, self.lock, self.fail = segment, fps, active, peak, lock, fail
        self.started = False
        self.start_time = self.close_time = float("inf")
        self.closed = self.aborted = False

    def _write(self, batch: np.ndarray) -> None:
        if self.fail:
            raise EncoderError("ffmpeg stopped")
        if not self.started:
            self.started = True
            self.start_time = time.perf_counter()
            with self.lock:
                self.active[0] += 1
                self.peak[self.segment.index] = self.active[0]  # how many encode while this one starts
        time.sleep(len(batch) / (self.fps or 100.0))

    def _finish(self) -> None:
        self.cpu_seconds = self.frames_written / self.fps if self.fps else None
        self.closed = True
        self.close_time = time.perf_counter()
        with self.lock:
            self.active[0] -= 1

    def _discard(self) -> None:
        self.aborted = True
        if self.started:
            with self.lock:
                self.active[0] -= 1


def frames_at(fps: float):
    def frames(start: int, stop: int) -> Iterator[np.ndarray]:
        for a in range(start, stop, 2):
            time.sleep(2 / fps)
            yield np.zeros((min(2, stop - a), 2, 2, 3), np.uint8)
    return frames


def run_auto(bound: int, generation_fps: float, encoder_fps: float | None, segments: int = 8, fail_at: int | None = None):
    active, peak, lock = [0], {}, threading.Lock()
    writers: list[TimedWriter] = []

    def open_writer(segment: Segment) -> TimedWriter:
        writers.append(TimedWriter(segment, encoder_fps, active, peak, lock, fail=segment.index == fail_at))
        return writers[-1]

    runner = SegmentRunner(bound, auto=True)
    todo = [Segment(i, 8 * i, 8 * i + 8) for i in range(segments)]
    runner.run(todo, frames=frames_at(generation_fps), open_writer=open_writer)
    return runner, peak, writers


def started_after_the_choice(writers: list[TimedWriter], peak: dict[int, int]) -> list[int]:
    """How many encoded at once as each segment started once the first was encoded (and the choice made)."""
    return [peak[w.segment.index] for w in writers[1:] if w.start_time > writers[0].close_time + 0.005]


def test_the_runner_measures_the_first_segment_and_keeps_that_many_encoding() -> None:
    runner, peak, writers = run_auto(bound=6, generation_fps=400.0, encoder_fps=100.0)
    choice = runner.choice
    assert choice is not None and choice.bound == 6 and choice.encoder_fps == pytest.approx(100.0)
    assert choice.generation_fps is not None and 0 < choice.generation_fps <= 400.0 * 1.05
    assert choice.encoders == choose_encoders(choice.generation_fps, 100.0, bound=6, segments=7)
    assert all(w.closed for w in writers) and len(writers) == 8
    # Segments that started after the choice never ran beside more than it allows.
    later = started_after_the_choice(writers, peak)
    assert later and max(later) <= choice.encoders


def test_without_the_encoders_cpu_time_auto_keeps_one() -> None:
    runner, peak, writers = run_auto(bound=4, generation_fps=400.0, encoder_fps=None, segments=6)
    assert runner.choice is not None and runner.choice.encoders == 1 and runner.choice.encoder_fps is None
    later = started_after_the_choice(writers, peak)
    assert later and max(later) == 1


def test_a_failed_encoder_stops_an_auto_run_with_encoders_waiting_their_turn() -> None:
    with pytest.raises(EncoderError, match="ffmpeg stopped"):
        run_auto(bound=3, generation_fps=1000.0, encoder_fps=None, segments=6, fail_at=2)


# ---------------------------------------------------------------------------------------------
# From the command line


def test_cli_render_with_auto_encoders_makes_a_valid_video(tmp_path: Path) -> None:
    script = write_script(tmp_path, "demo", size=32)
    result = invoke("render", script, "--device", "cpu", "--encoders", "auto", "--res", "32", "-q", "-o", tmp_path / "auto.mp4")
    assert result.exit_code == 0, result.output
    info = probe(tmp_path / "auto.mp4")
    assert (info.video_codec, info.pix_fmt, info.width, info.height, info.num_frames) == ("h264", "yuv420p", 32, 32, 37)
    frames = np.stack(list(read_frames(tmp_path / "auto.mp4")))
    assert frames.shape == (37, 32, 32, 3) and frames.std() > 1
    sidecar = json.loads((tmp_path / "auto.mp4.json").read_text())
    encoders = sidecar["encoders"]
    assert encoders["asked"] == "auto" and 1 <= encoders["ran"] <= encoders["bound"]
    assert encoders["encoder_fps"] is None or encoders["encoder_fps"] > 0
    assert sidecar["frame_layout"] == "rgb24"  # a CPU render: ffmpeg converts


def test_cli_refuses_encoders_that_are_neither_auto_nor_a_count(tmp_path: Path) -> None:
    script = write_script(tmp_path, "demo", size=32)
    assert_one_line_error(invoke("render", script, "--encoders", "many"), 2, "encoders must be 'auto' or a number")
    assert_one_line_error(invoke("render", script, "--encoders", "0"), 2, "encoders must be 'auto' or at least 1")

