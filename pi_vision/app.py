"""The live pipeline: capture thread -> latest-frame slot -> detector -> tracker -> outputs,
with every stage timed by the monitor."""
from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import Callable

from pi_vision.detection.compare import format_table
from pi_vision.config import Config, OutputConfig
from pi_vision.detections import Detections
from pi_vision.detection.detector import Detector, create_detector
from pi_vision.monitoring.monitor import Monitor
from pi_vision.tracking.object_counts import ObjectCounts
from pi_vision.outputs import Output, Outputs
from pi_vision.outputs.overlay import Overlay
from pi_vision.sources import CaptureThread, Frame, FrameSource, LatestFrameSlot, open_source
from pi_vision.tracking.tracker import Tracker

log = logging.getLogger(__name__)

# How long the loop waits for a frame before it checks the stop flag and logs anyway
# (so a stalled camera shows up as 0 fps instead of silence).
FRAME_WAIT_S = 0.25
# Bound on waiting for the capture thread at exit (SIGTERM must finish within 2 s).
CAPTURE_JOIN_S = 1.0

ResultHandler = Callable[[Frame, Detections], None]


def build_outputs(config: OutputConfig, labels: list[str], fps: float, stop: threading.Event,
                  on_key: Callable[[str], None] | None = None) -> list[Output]:
    """Open the configured outputs now, so a bad path fails at start-up (exit 2)."""
    from pi_vision.outputs.display import Display
    from pi_vision.outputs.events import EventsWriter
    from pi_vision.outputs.recorder import Recorder

    outputs: list[Output] = []
    if config.events:
        outputs.append(EventsWriter(config.events, labels))
    if config.record:
        outputs.append(Recorder(config.record, fps))
    if config.display:
        outputs.append(Display(stop, on_key=on_key))
    return outputs


def _banner(detector: Detector, monitor: Monitor) -> list[str]:
    last = monitor.last_window
    invoke = last.get("ms", {}).get("invoke", {}).get("p50")
    rate = f"{last['fps']:.1f} fps" if last else "-- fps"
    lines = [f"{detector.title()} | {rate} | invoke p50 {f'{invoke:.1f} ms' if invoke is not None else '--'}"]
    variants = last.get("variants")
    return lines + (format_table(variants) if variants else [])


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
    # The tracker's second matching stage needs the low-score detections too.
    detector.score_threshold = (min(config.detector.score_threshold, config.tracker.low_score) if tracker
                                else config.detector.score_threshold)

    def on_key(key: str) -> None:
        if detector.on_key(key) and tracker is not None:
            tracker.reset()  # another model's boxes: start the tracks afresh

    with contextlib.ExitStack() as resources:
        # Closed in reverse order, also when opening the next one fails (a bad output path). The
        # capture thread closes the source as well; closing twice is safe.
        source = resources.enter_context(contextlib.closing(source or open_source(config.source,
                                                                                  detector.input_size)))
        outputs = resources.enter_context(Outputs(build_outputs(
            config.output, detector.labels, source.fps or config.source.fps, stop, on_key=on_key) + list(extra_outputs)))
        return _loop(config, stop, detector, tracker, source, outputs, on_result)


def _loop(config: Config, stop: threading.Event, detector: Detector, tracker: Tracker | None,
          source: FrameSource, outputs: Outputs, on_result: ResultHandler | None) -> dict:
    overlay = Overlay() if outputs.needs_image else None
    slot = LatestFrameSlot()
    capture = CaptureThread(source, slot, stop, resize_for_model=detector.resize_for_model)  # resizes off the detector's thread
    monitor = Monitor(config.monitor.log_interval, context={
        "model": detector.name, "threads": detector.threads, "source": source.name,
        "runtime": getattr(detector, "runtime", None), "xnnpack": bool(getattr(detector, "xnnpack_partitions", 0)),
        "detect_every": config.detector.every, "tracking": tracker is not None})
    counts = ObjectCounts()

    def extra(whole_run: bool = False) -> dict:
        fields = _track_stats(tracker, summary=whole_run)
        fields["objects"] = counts.run() if whole_run else counts.window()
        return fields | detector.stats(whole_run)

    limits = config.run
    capture.start()
    start = time.monotonic()
    processed = 0
    last_seq = -1
    detections = Detections.empty()
    try:
        while not stop.is_set():
            with monitor.stage("capture_wait"):
                frame = slot.get(timeout=FRAME_WAIT_S)
            if frame is None:
                monitor.discard_stages()
                if slot.closed:
                    break
                monitor.tick(slot.captured, slot.dropped, extra)
                continue
            timings: dict[str, float] = {}
            # Camera frames since the last processed one (drops included): the tracker's
            # motion model counts in camera frames, whatever the detector keeps up with.
            elapsed = frame.seq - last_seq if last_seq >= 0 else 1
            last_seq = frame.seq
            run_detector = processed % config.detector.every == 0
            if run_detector:
                detections = detector.detect(frame.model_input, timings)
                # The resize ran on the capture thread; it is still part of preprocessing.
                timings["preprocess"] += frame.resize_s
            if tracker is not None:
                with monitor.stage("track"):
                    detections = tracker.update(detections, elapsed) if run_detector else tracker.predict_only(elapsed)
            counts.update(detections, detector.labels)
            if overlay is not None:
                with monitor.stage("draw"):
                    overlay.draw(frame.image, detections, detector.labels, _banner(detector, monitor))
            with monitor.stage("output"):
                outputs.write(frame, detections)
                if on_result is not None:
                    on_result(frame, detections)
            monitor.record(timings, time.monotonic() - frame.t_capture)
            processed += 1
            monitor.tick(slot.captured, slot.dropped, extra)
            if limits.max_frames and processed >= limits.max_frames:
                break
            if limits.duration and time.monotonic() - start >= limits.duration:
                break
    finally:
        # The shutdown ladder: stop event, bounded join, then give up loudly.
        stop.set()
        capture.join(timeout=CAPTURE_JOIN_S)
        if capture.is_alive():
            # A read stuck in the driver; the process exit releases the device.
            log.warning("capture thread still blocked in %s after %.1f s; exiting without waiting",
                        source.name, CAPTURE_JOIN_S)
    return monitor.summary(slot.captured, slot.dropped, extra={"reconnects": capture.reconnects,
                                                               **extra(whole_run=True)})


def _track_stats(tracker: Tracker | None, summary: bool = False) -> dict:
    if tracker is None:
        return {}
    if summary:
        return {"tracks": tracker.active_count, "track_ids": tracker.ids_issued}
    return {"tracks": tracker.active_count}
