"""The live pipeline: capture thread -> latest-frame slot -> detector -> monitor."""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from .config import Config
from .detections import Detections
from .detector import Detector, create_detector
from .monitor import Monitor
from .sources import CaptureThread, Frame, FrameSource, LatestFrameSlot, open_source

log = logging.getLogger(__name__)

# How long the loop waits for a frame before it checks the stop flag and logs anyway
# (so a stalled camera shows up as 0 fps instead of silence).
FRAME_WAIT_S = 0.25
# Bound on waiting for the capture thread at exit (SIGTERM must finish within 2 s).
CAPTURE_JOIN_S = 1.0

ResultHandler = Callable[[Frame, Detections], None]


def run(config: Config, stop: threading.Event | None = None, on_result: ResultHandler | None = None,
        detector: Detector | None = None, source: FrameSource | None = None) -> dict:
    """Run until the source ends, a limit is reached or ``stop`` is set; returns the summary.

    ``detector`` and ``source`` replace the configured ones (benchmarks reuse a loaded
    detector; tests pass a fake camera, already opened).
    """
    stop = stop or threading.Event()
    detector = detector or create_detector(config.detector)
    source = source or open_source(config.source, detector.input_size)
    slot = LatestFrameSlot()
    capture = CaptureThread(source, slot, stop, fit=detector.fit)
    monitor = Monitor(config.monitor.log_interval, context={
        "model": detector.name, "threads": detector.threads, "source": source.name,
        "runtime": getattr(detector, "runtime", None),
        "xnnpack": bool(getattr(detector, "xnnpack_partitions", 0))})
    limits = config.run
    capture.start()
    start = time.monotonic()
    processed = 0
    try:
        while not stop.is_set():
            t0 = time.perf_counter()
            frame = slot.get(timeout=FRAME_WAIT_S)
            waited = time.perf_counter() - t0
            if frame is None:
                if slot.closed:
                    break
                monitor.tick(slot.captured, slot.dropped)
                continue
            timings = {"capture_wait": waited}
            detections = detector.detect(frame.model_input, timings)
            # The resize ran on the capture thread; it is still part of preprocessing.
            timings["preprocess"] += frame.fit_s
            if on_result is not None:
                on_result(frame, detections)
            monitor.record(timings, time.monotonic() - frame.t_capture)
            processed += 1
            monitor.tick(slot.captured, slot.dropped)
            if limits.max_frames and processed >= limits.max_frames:
                break
            if limits.duration and time.monotonic() - start >= limits.duration:
                break
    finally:
        stop.set()
        capture.join(timeout=CAPTURE_JOIN_S)
        if capture.is_alive():
            # A read stuck in the driver; the process exit releases the device.
            log.warning("capture thread still blocked in %s after %.1f s; exiting without waiting",
                        source.name, CAPTURE_JOIN_S)
    return monitor.summary(slot.captured, slot.dropped, extra={"reconnects": capture.reconnects})
