"""Fake devices for tests: the camera is faked, never the math."""
from __future__ import annotations

import time

import numpy as np


class FakeCamera:
    """A live camera delivering one real image at a fixed rate; it can fail on cue.

    Only the device is faked: frames go through the real slot, detector and monitor.
    """

    live = True

    def __init__(self, image: np.ndarray, fps: float = 30.0, fail_at: tuple[int, ...] = (), frames: int = 0):
        self.image = image
        self.fps = fps
        self.name = "fake camera"
        self.fail_at = set(fail_at)
        self.frames = frames  # 0 = endless
        self.reads = 0
        self.opens = 0
        self.closed = False
        self._next_due = 0.0

    def open(self) -> None:
        self.opens += 1
        self.closed = False
        self._next_due = time.monotonic()

    def read(self):
        if self.frames and self.reads >= self.frames:
            return None
        self.reads += 1
        if self.reads in self.fail_at:
            raise OSError("simulated USB disconnect")
        self._next_due += 1.0 / self.fps
        delay = self._next_due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        return self.image, None

    def close(self) -> None:
        self.closed = True
