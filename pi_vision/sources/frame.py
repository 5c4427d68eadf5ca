"""A captured frame and the latest-frame hand-off between capture and detection."""
from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from pi_vision.detection.preprocess import ModelInput


@dataclass(frozen=True)
class Frame:
    seq: int  # 0, 1, 2... in capture order, counting frames that were later dropped
    t_capture: float  # time.monotonic() when the source delivered it
    image: np.ndarray  # BGR at display resolution
    # The detector's input, already fitted on the capture thread (or None), and how long that took.
    model_input: ModelInput | None = None
    resize_s: float = 0.0


class LatestFrameSlot:
    """Holds at most one frame: the newest.

    A live camera must never wait for the detector, so ``put`` replaces an unread
    frame and counts it as dropped. A video file read as fast as the app can go calls
    ``wait_for_room`` before decoding the next frame, so every frame is processed and its
    age starts when it could be used. ``get`` hands a frame out once.
    """

    def __init__(self):
        self._cond = threading.Condition()
        self._frame: Frame | None = None
        self._closed = False
        self.captured = 0
        self.dropped = 0

    def wait_for_room(self, stop: threading.Event) -> None:
        """Block until the slot is empty (or ``stop`` is set)."""
        with self._cond:
            while self._frame is not None and not stop.is_set():
                self._cond.wait(timeout=0.1)

    def put(self, frame: Frame) -> None:
        with self._cond:
            if self._frame is not None:
                self.dropped += 1
            self._frame = frame
            self.captured += 1
            self._cond.notify_all()

    def get(self, timeout: float) -> Frame | None:
        """The newest unread frame, or None after ``timeout`` s or at the end of the stream."""
        with self._cond:
            if self._frame is None and not self._closed:
                self._cond.wait(timeout=timeout)
            frame, self._frame = self._frame, None
            self._cond.notify_all()
            return frame

    def close(self) -> None:
        """The source has ended: readers stop waiting once the last frame is taken."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        with self._cond:
            return self._closed and self._frame is None
