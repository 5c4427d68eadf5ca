"""The live pipeline: capture thread -> latest-frame slot -> detector -> tracker -> outputs,
with every stage timed by the monitor."""
from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
from typing import Callable

from pi_vision.detection.compare import format_table
from pi_vision.config import Config
from pi_vision.detections import Detections
from pi_vision.detection.detector import Detector, create_detector
from pi_vision.monitoring.monitor import Monitor
from pi_vision.tracking.object_counts import ObjectCounts
from pi_vision.outputs import Output, Outputs
from pi_vision.outputs.overlay import Overlay
from pi_vision.errors import SourceUnavailable, UserError
from pi_vision.monitoring.hang_watch import HangWatch
from pi_vision.monitoring.monitor import format_text
from pi_vision.monitoring.systemd_notify import SystemdNotifier
from pi_vision.sources import CaptureThread, Frame, FrameSource, LatestFrameSlot, describe, open_source
from pi_vision.tracking.tracker import Tracker

log = logging.getLogger(__name__)

# How long the loop waits for a frame before it checks the stop flag and logs anyway
# (so a stalled camera shows up as 0 fps instead of silence).
FRAME_WAIT_S = 0.25
# Bound on waiting for the capture thread at exit (SIGTERM must finish within 2 s).
CAPTURE_JOIN_S = 1.5
# In a camera outage the loop still tells the watchdog it is alive, as long as the capture
# supervisor (retrying the camera) has shown a pulse this recently: a hang anywhere stops the pings.
SUPERVISOR_STALE_S = 30.0

ResultHandler = Callable[[Frame, Detections], None]


def build_outputs(config: Config, labels: list[str], fps: float, stop: threading.Event,
                  on_key: Callable[[str], None] | None = None, info: dict | None = None) -> list[Output]:
    """Open the configured outputs now, so a bad path or port fails at start-up (exit 2)."""
    from pi_vision.outputs.display import Display
    from pi_vision.outputs.events import EventsWriter
    from pi_vision.outputs.recorder import Recorder
    from pi_vision.outputs.web import WebServer

    outputs: list[Output] = []
    http, mqtt = config.http, config.mqtt
    if http.bind:
        outputs.append(WebServer(http.bind, http.token, http.max_clients, http.jpeg_width, http.jpeg_quality,
                                 info=info))
    if mqtt.host:
        from pi_vision.outputs.mqtt import MqttPublisher  # paho-mqtt only when used
        outputs.append(MqttPublisher(mqtt.host, mqtt.port, labels, mqtt.username, mqtt.password, mqtt.tls,
                                     mqtt.topic_prefix, mqtt.client_id, mqtt.discovery))
    config = config.output
    if config.events:
        outputs.append(EventsWriter(config.events, labels, int(config.events_max_mb * 2**20), config.events_keep))
    if config.record:
        outputs.append(Recorder(config.record, fps, config.record_segment_s, int(config.record_max_mb * 2**20),
                                config.record_max_age_h * 3600))
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


class Stages:
    """What a config reload may swap while the camera keeps running: the detector, the
    tracker and the outputs, built from one config."""

    def __init__(self, config: Config, stop: threading.Event, detector: Detector | None = None,
                 extra_outputs: list[Output] = (), fps: float | None = None):
        self.config = config
        self.detector = detector or create_detector(config.detector)
        self.tracker = Tracker(config.tracker) if config.tracker.enabled else None
        self._tune_detector()
        self._stop = stop
        self._fps = fps or config.source.fps
        self._extra_outputs = list(extra_outputs)
        self.outputs = self._build_outputs(config)

    def _tune_detector(self) -> None:
        # The tracker's second matching stage needs the low-score detections too.
        self.detector.score_threshold = (min(self.config.detector.score_threshold, self.config.tracker.low_score)
                                         if self.tracker else self.config.detector.score_threshold)

    def _build_outputs(self, config: Config) -> Outputs:
        d = self.detector
        info = {"model": d.name, "runtime": getattr(d, "runtime", None), "threads": d.threads,
                "xnnpack": bool(getattr(d, "xnnpack_partitions", 0))}
        return Outputs(build_outputs(config, d.labels, self._fps, self._stop, on_key=self.on_key, info=info)
                       + self._extra_outputs)

    def on_key(self, key: str) -> None:
        if self.detector.on_key(key) and self.tracker is not None:
            self.tracker.reset()  # another model's boxes: start the tracks afresh

    def reload(self, new: Config) -> None:
        """Rebuild what ``new`` changes. A model that does not load raises UserError before
        anything running is replaced; outputs that cannot open raise it after the running
        config's outputs are reopened."""
        old = self.config
        detector = create_detector(new.detector) if new.detector != old.detector else self.detector
        if (new.output, new.http, new.mqtt) != (old.output, old.http, old.mqtt) or detector is not self.detector:
            # The old outputs close first: a web view on the same port, or an MQTT client with
            # the same id, would clash with its successor. Outputs take the model's labels.
            self.outputs.close()
            previous, self.detector = self.detector, detector
            try:
                self.outputs = self._build_outputs(new)
            except Exception:
                self.detector = previous
                self.outputs = self._build_outputs(old)
                raise
        self.config = new
        if new.tracker != old.tracker:
            self.tracker = Tracker(new.tracker) if new.tracker.enabled else None
        self._tune_detector()

    def close(self) -> None:
        self.outputs.close()


def run(config: Config, stop: threading.Event | None = None, on_result: ResultHandler | None = None,
        detector: Detector | None = None, source: FrameSource | None = None,
        extra_outputs: list[Output] = (), reload: threading.Event | None = None,
        reload_config: Callable[[], Config] | None = None) -> dict:
    """Run until the source ends, a limit is reached or ``stop`` is set; returns the summary.

    ``detector`` and ``source`` replace the configured ones (benchmarks reuse a loaded
    detector; tests pass a fake camera, already opened); ``extra_outputs`` are added to
    the configured ones. A live camera that cannot be opened, or stays away, is retried
    for ``source.max_outage`` seconds; then SourceUnavailable is raised (exit 75).
    When ``reload`` is set (SIGHUP), ``reload_config()`` is read again: the detector,
    tracker and outputs it changes are rebuilt while the camera keeps running; a new
    source restarts the pipeline; a bad config is logged and the running one kept.
    """
    stop = stop or threading.Event()
    while True:
        summary, restart_with = _run_source(config, stop, on_result, detector, source, extra_outputs, reload,
                                            reload_config)
        if restart_with is None:
            return summary
        config, detector, source = restart_with, None, None


def _run_source(config, stop, on_result, detector, source, extra_outputs, reload, reload_config):
    stages = Stages(config, stop, detector, extra_outputs, fps=source.fps if source else None)
    reopen: Callable[[], FrameSource] | None = None
    if source is None:
        reopen = functools.partial(open_source, config.source, stages.detector.input_size)
        try:
            source = reopen()
        except SourceUnavailable as e:  # not there yet (booting IP camera, USB not enumerated)
            log.warning("%s; retrying for up to %g s (source.max_outage)", e, config.source.max_outage)
        except BaseException:
            stages.close()
            raise
    slot = LatestFrameSlot()
    # The capture thread owns the source from here (and replaces it after a failure); it
    # resizes frames off the detector's thread.
    capture = CaptureThread(source, slot, threading.Event(), resize_for_model=stages.detector.resize_for_model,
                            reopen=reopen, stall_timeout=config.source.stall_timeout,
                            max_outage=config.source.max_outage,
                            name=source.name if source else describe(config.source.spec))
    with contextlib.ExitStack() as resources:
        # Closed in reverse order, also when opening the next one fails.
        resources.callback(lambda: capture.ident is None and capture.source is not None and capture.source.close())
        resources.callback(stages.close)
        notifier = resources.enter_context(contextlib.closing(SystemdNotifier()))
        hang_watch = resources.enter_context(HangWatch(config.monitor.hang_warning))
        reloader = (lambda: _reloaded(stages, capture, reload_config)) if reload is not None else None
        summary, restart_with = _loop(stages, stop, capture, slot, on_result, notifier, hang_watch, reload,
                                      reloader)
        if capture.gave_up:
            raise SourceUnavailable(f"source error: {capture.source_name} sent no frame for "
                                    f"{config.source.max_outage:g} s (source.max_outage); exiting so that the "
                                    f"service restarts")
        return summary, restart_with


def _reloaded(stages: Stages, capture: CaptureThread, reload_config: Callable[[], Config]) -> Config | None:
    """Apply a re-read config; the config the source must restart with, or None."""
    try:
        new = reload_config()
        if new == stages.config:
            log.info("reload: the config has not changed")
            return None
        if new.source != stages.config.source:
            log.info("reload: the source changed; reopening it with the new config")
            return new
        stages.reload(new)
    except UserError as e:
        log.error("reload failed, keeping the running config: %s", e)
        return None
    capture.resize_for_model = stages.detector.resize_for_model
    log.info("reload: applied (camera kept open)")
    return None


def _loop(stages: Stages, stop: threading.Event, capture: CaptureThread, slot: LatestFrameSlot,
          on_result: ResultHandler | None, notifier: SystemdNotifier, hang_watch: HangWatch,
          reload: threading.Event | None, reloader: Callable[[], Config | None] | None) -> tuple[dict, Config | None]:
    config = stages.config
    monitor = Monitor(config.monitor.log_interval, context={
        "model": stages.detector.name, "threads": stages.detector.threads, "source": capture.source_name,
        "runtime": getattr(stages.detector, "runtime", None),
        "xnnpack": bool(getattr(stages.detector, "xnnpack_partitions", 0)),
        "detect_every": config.detector.every, "tracking": stages.tracker is not None})
    counts = ObjectCounts()

    def extra(whole_run: bool = False) -> dict:
        fields = _track_stats(stages.tracker, summary=whole_run)
        fields["objects"] = counts.run() if whole_run else counts.window()
        return (fields | capture.health() | {"hangs": hang_watch.hangs} | stages.outputs.stats()
                | stages.detector.stats(whole_run))

    def tick() -> None:
        data = monitor.tick(slot.captured, slot.dropped, extra)
        if data is not None:
            notifier.status(format_text(data))
            stages.outputs.on_stats(data)

    def live() -> dict:  # the figures now, for /metrics and /healthz
        system = {k: v for k, v in monitor.last_window.items() if k in ("cpu_temp_c", "throttled")}
        return {"captured_total": slot.captured, "dropped_total": slot.dropped, **system, **extra()}

    overlay = Overlay()
    bound_outputs = None

    capture.start()
    start = time.monotonic()
    processed = 0
    last_seq = -1
    detections = Detections.empty()
    restart_with = None
    try:
        while not stop.is_set():
            if reload is not None and reload.is_set():
                reload.clear()
                restart_with = reloader()
                if restart_with is not None:
                    break
                monitor.log_interval = stages.config.monitor.log_interval
            config, detector, tracker = stages.config, stages.detector, stages.tracker
            if stages.outputs is not bound_outputs:  # new outputs after a reload
                bound_outputs = stages.outputs
                bound_outputs.bind_live(live)
            with monitor.stage("capture_wait"):
                frame = slot.get(timeout=FRAME_WAIT_S)
            if frame is None:
                monitor.discard_stages()
                if slot.closed:
                    break
                if not capture.camera_ok and time.monotonic() - capture.heartbeat < SUPERVISOR_STALE_S:
                    notifier.watchdog()  # a known outage, being retried: alive, not hung
                tick()
                continue
            timings: dict[str, float] = {}
            # Camera frames since the last processed one (drops included): the tracker's
            # motion model counts in camera frames, whatever the detector keeps up with.
            elapsed = frame.seq - last_seq if last_seq >= 0 else 1
            last_seq = frame.seq
            run_detector = processed % config.detector.every == 0
            if run_detector:
                model_input = frame.model_input
                if model_input.image.shape[:2] != tuple(detector.input_size):
                    model_input = detector.resize_for_model(frame.image)  # resized for the model before a reload
                with hang_watch.guard(f"invoke of {detector.name}"):
                    detections = detector.detect(model_input, timings)
                # The resize ran on the capture thread; it is still part of preprocessing.
                timings["preprocess"] += frame.resize_s
            if tracker is not None:
                with monitor.stage("track"):
                    detections = tracker.update(detections, elapsed) if run_detector else tracker.predict_only(elapsed)
            counts.update(detections, detector.labels)
            if stages.outputs.needs_image:  # a window, a recording, or someone watching the web view
                with monitor.stage("draw"):
                    overlay.draw(frame.image, detections, detector.labels, _banner(detector, monitor))
            with monitor.stage("output"):
                stages.outputs.write(frame, detections)
                if on_result is not None:
                    on_result(frame, detections)
            age = time.monotonic() - frame.t_capture
            stages.outputs.on_frame(monitor.record(timings, age), age)
            processed += 1
            notifier.ready()  # after the first processed frame: the service does what it is for
            notifier.watchdog()
            tick()
            if config.run.max_frames and processed >= config.run.max_frames:
                break
            if config.run.duration and time.monotonic() - start >= config.run.duration:
                break
    finally:
        # The shutdown ladder: stop the capture, bounded join, then give up loudly.
        capture.stop.set()
        if restart_with is None:
            notifier.stopping()
        capture.join(timeout=CAPTURE_JOIN_S)
        if capture.is_alive():
            log.warning("capture thread of %s still busy after %.1f s; exiting without waiting",
                        capture.source_name, CAPTURE_JOIN_S)
        # Logged also when the loop fails (a failing invoke), so the journal has the run's figures.
        summary = monitor.summary(slot.captured, slot.dropped, extra=extra(whole_run=True))
    # A run shorter than one log interval has no stats line: the fleet still gets its figures.
    stages.outputs.on_stats(summary)
    return summary, restart_with


def _track_stats(tracker: Tracker | None, summary: bool = False) -> dict:
    if tracker is None:
        return {}
    if summary:
        return {"tracks": tracker.active_count, "track_ids": tracker.ids_issued}
    return {"tracks": tracker.active_count}
