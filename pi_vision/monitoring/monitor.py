"""Per-stage latency, frame age, FPS and drops, logged every interval and at exit.

Window figures are exact percentiles over the frames since the last line; the summary
covers the whole run with bounded memory (``LogHistogram``), so a service can run for
months.
"""
from __future__ import annotations

import contextlib
import logging
import time
from typing import Callable, Iterator

from pi_vision.detection.compare import format_table
from pi_vision.monitoring.latency_stats import StageStats
from pi_vision.tracking.object_counts import format_counts
from pi_vision.monitoring.system_stats import SystemStats

log = logging.getLogger(__name__)

FRAME_AGE = "frame_age"
# Short names for the text line; JSON uses the full stage names.
_SHORT = {"capture_wait": "wait", "preprocess": "pre", "invoke": "invoke", "postprocess": "post",
          "track": "track", "draw": "draw", "output": "out", FRAME_AGE: "age"}
_ORDER = {stage: i for i, stage in enumerate(_SHORT)}


class Monitor:
    def __init__(self, log_interval: float, context: dict | None = None, clock=time.monotonic,
                 system_stats: SystemStats | None = None):
        self.log_interval = log_interval
        self.context = context or {}
        self._clock = clock
        self._system = system_stats or SystemStats()
        self._stages = StageStats()
        self._start = self._window_start = clock()
        self._frames = self._window_frames = 0
        self._window_captured = self._window_dropped = 0
        self._pending: dict[str, float] = {}
        self.last_window: dict = {}

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time the block as stage ``name`` of the frame being processed."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self._pending[name] = self._pending.get(name, 0.0) + time.perf_counter() - t0

    def discard_stages(self) -> None:
        """Forget the stage blocks timed since the last record (no frame came of them)."""
        self._pending = {}

    def record(self, timings: dict[str, float], frame_age: float) -> dict[str, float]:
        """One processed frame: seconds per stage (``timings`` plus the ``stage`` blocks since the
        last record) and from capture to result; returns the frame's seconds per stage."""
        self._frames += 1
        self._window_frames += 1
        merged = dict(timings)
        for stage, seconds in self._pending.items():
            merged[stage] = merged.get(stage, 0.0) + seconds
        # Pipeline order (the first frame fixes the order of the stats line), then any others.
        for stage in sorted(merged, key=lambda s: _ORDER.get(s, len(_ORDER))):
            self._stages.add(stage, merged[stage])
        self._pending = {}
        self._stages.add(FRAME_AGE, frame_age)
        return merged

    def tick(self, captured: int, dropped: int, extra: Callable[[], dict] | dict | None = None) -> dict | None:
        """Log a stats line if an interval has passed; ``captured``/``dropped`` are run totals.

        ``extra`` adds fields; a callable is only called when a line is logged.
        """
        now = self._clock()
        elapsed = now - self._window_start
        if elapsed < self.log_interval:
            return None
        if callable(extra):
            extra = extra()
        data = {
            "event": "stats",
            "uptime_s": round(now - self._start, 1),
            "frames": self._window_frames,
            "fps": round(self._window_frames / elapsed, 2),
            "camera_fps": round((captured - self._window_captured) / elapsed, 2),
            "dropped": dropped - self._window_dropped,
            "ms": self._stages.window_ms(),
            **(extra or {}),
            **self._system.sample(),
        }
        log.info(format_text(data), extra={"event_data": data})
        self._window_start, self._window_frames = now, 0
        self._window_captured, self._window_dropped = captured, dropped
        self.last_window = data
        return data

    def summary(self, captured: int, dropped: int, extra: dict | None = None) -> dict:
        """Log and return the whole-run figures (``"event": "summary"``)."""
        elapsed = max(self._clock() - self._start, 1e-9)
        data = {
            "event": "summary",
            **self.context,
            "uptime_s": round(elapsed, 1),
            "frames": self._frames,
            "fps": round(self._frames / elapsed, 2),
            "camera_fps": round(captured / elapsed, 2),
            "captured": captured,
            "dropped": dropped,
            "ms": self._stages.run_ms(),
            **(extra or {}),
            **self._system.sample(whole_run=True),
        }
        log.info(format_text(data), extra={"event_data": data})
        return data


def format_text(data: dict) -> str:
    """One readable line: rates, then p50/p95/p99 per stage in ms, then the machine."""
    parts = [f"{data['event']} {data['uptime_s']:.0f}s: {data['fps']:.1f} fps "
             f"(camera {data['camera_fps']:.1f}, dropped {data['dropped']})"]
    if "tracks" in data:
        parts.append(f"tracks {data['tracks']}")
    if "objects" in data:
        parts.append(format_counts(data["objects"]))
    if data.get("camera_ok") is False:
        parts.append(f"CAMERA OUT (outages {data['outages']}, {data['outage_s']:.0f}s in all)")
    elif data.get("outages"):
        parts.append(f"outages {data['outages']} ({data['outage_s']:.0f}s)")
    stages = [f"{_SHORT.get(stage, stage)} {s['p50']:.1f}/{s['p95']:.1f}/{s['p99']:.1f}"
              for stage, s in data["ms"].items() if s]
    if stages:
        parts.append("ms p50/p95/p99: " + ", ".join(stages))
    machine = []
    if "cpu_percent" in data:
        machine.append(f"cpu {data['cpu_percent']:.0f}%")
    if "process_cpu_percent" in data:
        machine.append(f"proc {data['process_cpu_percent']:.0f}%")
    if "cpu_temp_c" in data:
        machine.append(f"{data['cpu_temp_c']:.1f}C")
    if data.get("throttled"):
        machine.append("THROTTLED: " + ",".join(data["throttled"]))
    if machine:
        parts.append(" ".join(machine))
    line = " | ".join(parts)
    if data.get("variants"):
        line += "\n" + "\n".join("  " + row for row in format_table(data["variants"]))
    return line
