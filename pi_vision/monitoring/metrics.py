"""Prometheus metrics of one running app, for ``/metrics`` (prometheus-client).

Stage and frame-age timings are histograms observed per processed frame. Everything the app
already counts (frames, drops, outages, tracks, objects, temperature) is read from its live
figures when Prometheus scrapes, by a custom collector, so no number is kept twice.
"""
from __future__ import annotations

from typing import Callable

from prometheus_client import CollectorRegistry, Counter, Histogram, Info, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

# From 0.5 ms (a resize) to 5 s (a stalled frame): the stages of a Pi 4 fall inside.
BUCKETS_S = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)


class Metrics:
    def __init__(self, info: dict[str, str]):
        self.registry = CollectorRegistry()
        self._stage = Histogram("pi_vision_stage_seconds", "Seconds per pipeline stage of a processed frame",
                                ["stage"], buckets=BUCKETS_S, registry=self.registry)
        self._age = Histogram("pi_vision_frame_age_seconds", "Seconds from capture to result", buckets=BUCKETS_S,
                              registry=self.registry)
        self._processed = Counter("pi_vision_frames_processed", "Frames run through the pipeline",
                                  registry=self.registry)
        Info("pi_vision", "The running model and runtime", registry=self.registry).info(info)
        self._live: Callable[[], dict] = dict
        self.registry.register(_LiveFigures(lambda: self._live()))

    def bind_live(self, live: Callable[[], dict]) -> None:
        """``live()`` returns the app's current figures (the fields of a stats line, plus totals)."""
        self._live = live

    def observe_frame(self, stage_seconds: dict[str, float], frame_age_s: float) -> None:
        for stage, seconds in stage_seconds.items():
            self._stage.labels(stage).observe(seconds)
        self._age.observe(frame_age_s)
        self._processed.inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _LiveFigures:
    """Counters and gauges read from the app's live figures at scrape time."""

    def __init__(self, live: Callable[[], dict]):
        self._live = live

    def describe(self):
        return []  # collected at scrape time only

    def collect(self):
        live = self._live()
        for name, key, text in (("pi_vision_camera_frames", "captured_total", "Frames the source delivered"),
                                ("pi_vision_frames_dropped", "dropped_total", "Frames dropped for newer ones"),
                                ("pi_vision_camera_outages", "outages", "Camera outages"),
                                ("pi_vision_camera_reconnects", "reconnects", "Camera reopened after an outage")):
            if key in live:
                yield CounterMetricFamily(name, text, value=live[key])
        gauges = (("pi_vision_camera_up", "camera_ok", "1 while the camera delivers frames"),
                  ("pi_vision_active_tracks", "tracks", "Confirmed tracks alive"),
                  ("pi_vision_cpu_temperature_celsius", "cpu_temp_c", "CPU temperature"))
        for name, key, text in gauges:
            if key in live:
                yield GaugeMetricFamily(name, text, value=float(live[key]))
        objects = GaugeMetricFamily("pi_vision_objects", "Objects of a class tracked at once, this window",
                                    labels=["class"])
        for cls, n in (live.get("objects") or {}).items():
            objects.add_metric([cls], n)
        yield objects
        throttled = GaugeMetricFamily("pi_vision_throttled", "Raspberry Pi throttle flags now set (1)",
                                      labels=["flag"])
        for flag in live.get("throttled") or []:
            throttled.add_metric([flag], 1)
        yield throttled
