"""The live pipeline: capture thread -> latest-frame slot -> detector -> tracker -> outputs,
with every stage timed by the monitor."""
from __future__ import annotations

import dataclasses
import logging
import threading
import time
from typing import Callable

from .compare import Comparison, format_table
from .config import Config, DetectorConfig, OutputConfig
from .detections import Detections
from .detector import Detector, create_detector
from .monitor import Monitor
from .object_counts import ObjectCounts
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


def build_outputs(config: OutputConfig, labels: list[str], fps: float, stop: threading.Event,
                  on_key: Callable[[str], None] | None = None) -> list[Output]:
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
        outputs.append(Display(stop, on_key=on_key))
    return outputs


def _create_detectors(config: DetectorConfig) -> list[Detector]:
    models = config.compare or (config.model,)
    return [create_detector(dataclasses.replace(config, model=model)) for model in models]


class _Shown:
    """Which variant is drawn, tracked and written in compare mode; v in the window cycles."""

    def __init__(self, detectors: list[Detector], tracker: Tracker | None):
        self.index = 0
        self._detectors = detectors
        self._tracker = tracker

    @property
    def detector(self) -> Detector:
        return self._detectors[self.index]

    def on_key(self, key: str) -> None:
        if key == "v" and len(self._detectors) > 1:
            self.index = (self.index + 1) % len(self._detectors)
            if self._tracker is not None:
                self._tracker.reset()  # another model's boxes: start the tracks afresh
            log.info("showing %s", self.detector.name)


def _banner(shown: _Shown, monitor: Monitor) -> list[str]:
    last = monitor.last_window
    detector = shown.detector
    invoke = last.get("ms", {}).get("invoke", {}).get("p50")
    rate = f"{last['fps']:.1f} fps" if last else "-- fps"
    lines = [f"{detector.name} | {detector.threads} threads | {rate} | invoke p50 "
             f"{f'{invoke:.1f} ms' if invoke is not None else '--'}"]
    if last.get("variants"):
        lines[0] = f"showing {detector.name} (v: next) | {rate}"
        lines += format_table(last["variants"])
    return lines


def run(config: Config, stop: threading.Event | None = None, on_result: ResultHandler | None = None,
        detector: Detector | None = None, source: FrameSource | None = None,
        extra_outputs: list[Output] = ()) -> dict:
    """Run until the source ends, a limit is reached or ``stop`` is set; returns the summary.

    ``detector`` and ``source`` replace the configured ones (benchmarks reuse a loaded
    detector; tests pass a fake camera, already opened); ``extra_outputs`` are added to
    the configured ones.
    """
    stop = stop or threading.Event()
    detectors = [detector] if detector is not None else _create_detectors(config.detector)
    tracker = Tracker(config.tracker) if config.tracker.enabled else None
    for d in detectors:
        # The tracker's second matching stage needs the low-score detections too.
        d.score_threshold = (min(config.detector.score_threshold, config.tracker.low_score) if tracker
                             else config.detector.score_threshold)
    comparison = Comparison(detectors, config.detector.score_threshold) if len(detectors) > 1 else None
    shown = _Shown(detectors, tracker)
    source = source or open_source(config.source, detectors[0].input_size)
    try:
        outputs = Outputs(build_outputs(config.output, detectors[0].labels, source.fps or config.source.fps, stop,
                                        on_key=shown.on_key) + list(extra_outputs))
    except BaseException:
        source.close()
        raise
    overlay = Overlay(detectors[0].labels) if outputs.needs_image else None
    slot = LatestFrameSlot()
    # One model: resize on the capture thread. Compare mode: each variant fits its own size.
    capture = CaptureThread(source, slot, stop, fit=detectors[0].fit if comparison is None else None)
    monitor = Monitor(config.monitor.log_interval, context={
        "model": ", ".join(d.name for d in detectors), "threads": detectors[0].threads, "source": source.name,
        "runtime": getattr(detectors[0], "runtime", None),
        "xnnpack": all(getattr(d, "xnnpack_partitions", 0) for d in detectors),
        "detect_every": config.detector.every, "tracking": tracker is not None})

    counts = ObjectCounts()

    def extra(whole_run: bool = False) -> dict:
        fields = _track_stats(tracker, summary=whole_run)
        fields["objects"] = counts.run() if whole_run else counts.window()
        if comparison is not None:
            fields["variants"] = comparison.table(whole_run=whole_run)
        return fields

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
                monitor.tick(slot.captured, slot.dropped, extra)
                continue
            timings = {"capture_wait": waited}
            # Camera frames since the last processed one (drops included): the tracker's
            # motion model counts in camera frames, whatever the detector keeps up with.
            elapsed = frame.seq - last_seq if last_seq >= 0 else 1
            last_seq = frame.seq
            run_detector = processed % config.detector.every == 0
            if run_detector and comparison is not None:
                detections = comparison.detect_all(frame.image, timings)[shown.index]
            elif run_detector:
                detections = shown.detector.detect(frame.model_input, timings)
                # The resize ran on the capture thread; it is still part of preprocessing.
                timings["preprocess"] += frame.fit_s
            if tracker is not None:
                t1 = time.perf_counter()
                detections = tracker.update(detections, elapsed) if run_detector else tracker.predict_only(elapsed)
                timings["track"] = time.perf_counter() - t1
            counts.update(detections, shown.detector.labels)
            if overlay is not None:
                t1 = time.perf_counter()
                overlay.labels = shown.detector.labels
                overlay.draw(frame.image, detections, _banner(shown, monitor))
                timings["draw"] = time.perf_counter() - t1
            t1 = time.perf_counter()
            outputs.write(frame, detections, frame.image)
            if on_result is not None:
                on_result(frame, detections)
            timings["output"] = time.perf_counter() - t1
            monitor.record(timings, time.monotonic() - frame.t_capture)
            processed += 1
            monitor.tick(slot.captured, slot.dropped, extra)
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
    return monitor.summary(slot.captured, slot.dropped, extra={"reconnects": capture.reconnects,
                                                               **extra(whole_run=True)})


def _track_stats(tracker: Tracker | None, summary: bool = False) -> dict:
    if tracker is None:
        return {}
    if summary:
        return {"tracks": tracker.active_count, "track_ids": tracker.ids_issued}
    return {"tracks": tracker.active_count}
