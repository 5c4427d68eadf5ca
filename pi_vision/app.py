"""The live pipeline: capture thread -> latest-frame slot -> detector -> tracker -> outputs,
with every stage timed by the monitor."""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from .config import Config, OutputConfig
from .detections import Detections
from .detector import Detector, create_detector
from .monitor import Monitor
from .outputs import Output, Outputs
from .overlay import Overlay
from .sources import CaptureThread, Frame, FrameSource, LatestFrameSlot, open_source
from .tracker import Tracker

log = logging.getLogger(__name__)

# How long the loop waits for a frame before it checks the stop flag and logs anyway
# (so a stalled camera shows up as 0 fps instead of silence).
FRAME_WAIT_S = 0.25
# Bound on waiting for the capture thread at exit (SIGTERM must finish within 2 s).
CAPTURE_JOIN_S = 1.0

ResultHandler = Callable[[Frame, Detections], None]


def build_outputs(config: OutputConfig, labels: list[str], fps: float, stop: threading.Event) -> list[Output]:
    """Open the configured outputs now, so a bad path fails at start-up (exit 2)."""
    from .outputs.display import Display
    from .outputs.events import EventsWriter
    from .outputs.recorder import Recorder

    outputs: list[Output] = []
    if config.events:
        outputs.append(EventsWriter(config.events, labels))
    if config.record:
        outputs.append(Recorder(config.record, fps))
    if config.display:
        outputs.append(Display(stop))
    return outputs


def _banner(detector: Detector, monitor: Monitor) -> str:
    last = monitor.last_window
    invoke = last.get("ms", {}).get("invoke", {}).get("p50")
    rate = f"{last['fps']:.1f} fps" if last else "-- fps"
    return (f"{detector.name} | {detector.threads} threads | {rate} | invoke p50 "
            f"{f'{invoke:.1f} ms' if invoke is not None else '--'}")


def run(config: Config, stop: threading.Event | None = None, on_result: ResultHandler | None = None,
        detector: Detector | None = None, source: FrameSource | None = None,
        extra_outputs: list[Output] = ()) -> dict:
    """Run until the source ends, a limit is reached or ``stop`` is set; returns the summary.

    ``detector`` and ``source`` replace the configured ones (benchmarks reuse a loaded
    detector; tests pass a fake camera, already opened); ``extra_outputs`` are added to
    the configured ones.
    """
    stop = stop or threading.Event()
    detector = detector or create_detector(config.detector)
    tracker = Tracker(config.tracker) if config.tracker.enabled else None
    if tracker is not None:
        # The tracker's second matching stage needs the low-score detections too.
        detector.score_threshold = min(config.detector.score_threshold, config.tracker.low_score)
    source = source or open_source(config.source, detector.input_size)
    outputs = Outputs([])
    try:
        outputs = Outputs(build_outputs(config.output, detector.labels, source.fps or config.source.fps, stop)
                          + list(extra_outputs))
    except BaseException:
        source.close()
        raise
    overlay = Overlay(detector.labels) if outputs.needs_image else None
    slot = LatestFrameSlot()
    capture = CaptureThread(source, slot, stop, fit=detector.fit)
    monitor = Monitor(config.monitor.log_interval, context={
        "model": detector.name, "threads": detector.threads, "source": source.name,
        "runtime": getattr(detector, "runtime", None),
        "xnnpack": bool(getattr(detector, "xnnpack_partitions", 0)),
        "detect_every": config.detector.every, "tracking": tracker is not None})
    limits = config.run
    capture.start()
    start = time.monotonic()
    processed = 0
    last_seq = -1
    detections = Detections.empty()
    try:
        while not stop.is_set():
            t0 = time.perf_counter()
            frame = slot.get(timeout=FRAME_WAIT_S)
            waited = time.perf_counter() - t0
            if frame is None:
                if slot.closed:
                    break
                monitor.tick(slot.captured, slot.dropped, _track_stats(tracker))
                continue
            timings = {"capture_wait": waited}
            # Camera frames since the last processed one (drops included): the tracker's
            # motion model counts in camera frames, whatever the detector keeps up with.
            elapsed = frame.seq - last_seq if last_seq >= 0 else 1
            last_seq = frame.seq
            run_detector = processed % config.detector.every == 0
            if run_detector:
                detections = detector.detect(frame.model_input, timings)
                # The resize ran on the capture thread; it is still part of preprocessing.
                timings["preprocess"] += frame.fit_s
            if tracker is not None:
                t1 = time.perf_counter()
                detections = tracker.update(detections, elapsed) if run_detector else tracker.predict_only(elapsed)
                timings["track"] = time.perf_counter() - t1
            if overlay is not None:
                t1 = time.perf_counter()
                overlay.draw(frame.image, detections, _banner(detector, monitor))
                timings["draw"] = time.perf_counter() - t1
            t1 = time.perf_counter()
            outputs.write(frame, detections, frame.image)
            if on_result is not None:
                on_result(frame, detections)
            timings["output"] = time.perf_counter() - t1
            monitor.record(timings, time.monotonic() - frame.t_capture)
            processed += 1
            monitor.tick(slot.captured, slot.dropped, _track_stats(tracker))
            if limits.max_frames and processed >= limits.max_frames:
                break
            if limits.duration and time.monotonic() - start >= limits.duration:
                break
    finally:
        stop.set()
        outputs.close()
        capture.join(timeout=CAPTURE_JOIN_S)
        if capture.is_alive():
            # A read stuck in the driver; the process exit releases the device.
            log.warning("capture thread still blocked in %s after %.1f s; exiting without waiting",
                        source.name, CAPTURE_JOIN_S)
    return monitor.summary(slot.captured, slot.dropped,
                           extra={"reconnects": capture.reconnects, **_track_stats(tracker, summary=True)})


def _track_stats(tracker: Tracker | None, summary: bool = False) -> dict:
    if tracker is None:
        return {}
    if summary:
        return {"tracks": tracker.active_count, "track_ids": tracker.ids_issued}
    return {"tracks": tracker.active_count}
