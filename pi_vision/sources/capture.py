"""The capture thread: reads a source and keeps the newest frame in a slot."""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable

import numpy as np

from pi_vision.detection.preprocess import ModelInput
from pi_vision.sources.base import FrameSource
from pi_vision.sources.frame import Frame, LatestFrameSlot

# Resizes a frame to the detector's input (``Detector.resize_for_model``).
Resize = Callable[[np.ndarray], ModelInput]

log = logging.getLogger(__name__)

# Reconnect backoff for a live camera that failed: first wait, and the cap.
RETRY_FIRST_S = 0.5
RETRY_MAX_S = 10.0


class CaptureThread(threading.Thread):
    """Runs until ``stop`` is set or a finite source ends; owns and closes the source.

    A live source that fails (USB unplugged, RTSP dropped, camera busy) is reopened with
    backoff instead of ending the run: a service must outlive camera hiccups. With
    ``resize_for_model``, frames are resized to the detector's input here, in parallel with detection
    of the previous frame.
    """

    def __init__(self, source: FrameSource, slot: LatestFrameSlot, stop: threading.Event, resize_for_model: Resize | None = None):
        super().__init__(name="capture", daemon=True)
        self.source = source
        self.slot = slot
        self.stop = stop
        self.resize_for_model = resize_for_model
        self.reconnects = 0

    def run(self) -> None:
        seq = 0
        retry = RETRY_FIRST_S
        try:
            while not self.stop.is_set():
                if not self.source.live:
                    self.slot.wait_for_room(self.stop)
                    if self.stop.is_set():
                        break
                try:
                    got = self.source.read()
                except OSError as e:
                    if not self.source.live:
                        log.error("source %s failed: %s", self.source.name, e)
                        break
                    log.warning("camera %s failed (%s); reopening in %.1f s", self.source.name, e, retry)
                    retry = self._reopen(retry)
                    continue
                if got is None:
                    log.info("source %s ended after %d frames", self.source.name, seq)
                    break
                retry = RETRY_FIRST_S
                image, detect_image = got
                t_capture = time.monotonic()
                model_input, resize_s = None, 0.0
                if self.resize_for_model is not None:
                    model_input = self.resize_for_model(detect_image if detect_image is not None else image)
                    resize_s = time.monotonic() - t_capture
                self.slot.put(Frame(seq, t_capture, image, model_input, resize_s))
                seq += 1
        finally:
            self.slot.close()
            self.source.close()

    def _reopen(self, retry: float) -> float:
        self.source.close()
        if self.stop.wait(retry):
            return retry
        try:
            self.source.open()
            self.reconnects += 1
            log.info("camera %s reopened", self.source.name)
            return RETRY_FIRST_S
        except Exception as e:  # noqa: BLE001 - any failure to reopen is retried, never fatal
            log.warning("camera %s still unavailable: %s", self.source.name, e)
            return min(retry * 2, RETRY_MAX_S)

