import threading
import time

import numpy as np

from fakes import FakeCamera
from pi_vision.sources import CaptureThread, Frame, LatestFrameSlot
from pi_vision.sources import capture as capture_mod


def _frame(seq):
    return Frame(seq, time.monotonic(), np.zeros((2, 2, 3), np.uint8))


def test_slot_keeps_only_the_newest_and_counts_drops():
    slot = LatestFrameSlot()
    for seq in range(5):
        slot.put(_frame(seq))
    assert slot.get(timeout=0).seq == 4
    assert slot.get(timeout=0) is None  # handed out once
    assert (slot.captured, slot.dropped) == (5, 4)


def test_get_waits_for_a_frame_and_returns_none_on_timeout():
    slot = LatestFrameSlot()
    t0 = time.monotonic()
    assert slot.get(timeout=0.05) is None
    assert time.monotonic() - t0 >= 0.04
    threading.Timer(0.02, slot.put, args=(_frame(7),)).start()
    assert slot.get(timeout=1.0).seq == 7


def test_closed_only_after_the_last_frame_is_taken():
    slot = LatestFrameSlot()
    slot.put(_frame(0))
    slot.close()
    assert not slot.closed
    assert slot.get(timeout=0).seq == 0
    assert slot.closed


def _drain(slot: LatestFrameSlot, work_s: float = 0.0) -> list[int]:
    """Consume until the stream ends, spending ``work_s`` per frame; the sequence numbers seen."""
    seen = []
    while not slot.closed:
        frame = slot.get(timeout=0.1)
        if frame is not None:
            seen.append(frame.seq)
            time.sleep(work_s)
    return seen


def test_fast_camera_slow_consumer_never_sees_a_frame_twice():
    """The capture thread never blocks; the consumer sees strictly increasing sequence numbers."""
    slot, stop = LatestFrameSlot(), threading.Event()
    camera = FakeCamera(np.zeros((4, 4, 3), np.uint8), fps=500, frames=400)
    capture = CaptureThread(camera, slot, stop)
    capture.start()
    seen = _drain(slot, work_s=0.01)  # a detector slower than the camera
    capture.join(timeout=2)
    assert seen == sorted(set(seen))
    assert slot.dropped > 0
    assert slot.captured == 400 == len(seen) + slot.dropped
    assert camera.closed


def test_lossless_source_hands_over_every_frame():
    slot, stop = LatestFrameSlot(), threading.Event()
    camera = FakeCamera(np.zeros((4, 4, 3), np.uint8), fps=1000, frames=100)
    camera.live = False  # like a video file read as fast as the app goes
    capture = CaptureThread(camera, slot, stop)
    capture.start()
    seen = _drain(slot)
    capture.join(timeout=2)
    assert seen == list(range(100)) and slot.dropped == 0


def test_camera_failure_is_survived_by_reopening(monkeypatch):
    monkeypatch.setattr(capture_mod, "RETRY_FIRST_S", 0.01)
    slot, stop = LatestFrameSlot(), threading.Event()
    camera = FakeCamera(np.zeros((4, 4, 3), np.uint8), fps=200, fail_at=(5, 6, 30), frames=60)
    capture = CaptureThread(camera, slot, stop)
    capture.start()
    capture.join(timeout=5)
    assert not capture.is_alive()
    assert capture.reconnects == 3 and camera.opens == 3
    assert slot.captured == 57  # 60 reads, 3 of them failed


def test_stop_ends_the_thread_promptly():
    slot, stop = LatestFrameSlot(), threading.Event()
    capture = CaptureThread(FakeCamera(np.zeros((4, 4, 3), np.uint8), fps=30), slot, stop)
    capture.start()
    time.sleep(0.1)
    t0 = time.monotonic()
    stop.set()
    capture.join(timeout=2)
    assert not capture.is_alive() and time.monotonic() - t0 < 0.5
