import json
import logging
import time

import numpy as np
import pytest

from pi_vision import logging_setup
from pi_vision.monitoring.latency_stats import LogHistogram, summarize_ms
from pi_vision.monitoring.monitor import Monitor
from pi_vision.monitoring.system_stats import decode_throttled


@pytest.mark.parametrize("distribution", ["lognormal", "uniform", "bimodal"])
def test_run_histogram_percentiles_within_one_percent(distribution):
    rng = np.random.default_rng(1)
    samples = {
        "lognormal": rng.lognormal(np.log(0.02), 0.5, 20000),
        "uniform": rng.uniform(0.001, 0.1, 20000),
        "bimodal": np.concatenate([rng.normal(0.01, 0.001, 15000), rng.normal(0.2, 0.01, 5000)]),
    }[distribution]
    hist = LogHistogram()
    for s in samples:
        hist.add(float(s))
    exact = summarize_ms(samples)
    approx = hist.summary_ms()
    for key in ("p50", "p95", "p99"):
        assert approx[key] == pytest.approx(exact[key], rel=0.011), key
    assert approx["max"] == exact["max"]


def test_summarize_empty_and_known():
    assert summarize_ms([]) == {}
    out = summarize_ms([i / 1000 for i in range(1, 101)])
    assert out["p50"] == pytest.approx(50.5) and out["max"] == 100.0


class _Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


class _NoSystem:
    def sample(self, whole_run=False):
        return {}


def test_stats_line_every_interval_and_summary():
    clock = _Clock()
    monitor = Monitor(log_interval=5.0, clock=clock, system_stats=_NoSystem())
    for i in range(100):
        clock.t = i * 0.05
        monitor.record({"capture_wait": 0.001, "invoke": 0.010 + (i % 10) * 0.001}, frame_age=0.02)
        line = monitor.tick(captured=2 * (i + 1), dropped=i + 1)
        assert line is None  # t < 5 s
    clock.t = 5.0
    line = monitor.tick(captured=200, dropped=100)
    assert line["frames"] == 100 and line["fps"] == 20.0 and line["camera_fps"] == 40.0 and line["dropped"] == 100
    assert line["ms"]["invoke"]["p99"] == pytest.approx(19.0, abs=0.05)
    assert set(line["ms"]) == {"capture_wait", "invoke", "frame_age"}
    assert monitor.tick(captured=200, dropped=100) is None  # next interval not reached
    clock.t = 10.0
    summary = monitor.summary(captured=220, dropped=110)
    assert summary["event"] == "summary" and summary["frames"] == 100 and summary["dropped"] == 110
    assert summary["ms"]["frame_age"]["p50"] == pytest.approx(20.0, rel=0.01)


def test_json_lines_format(capsys):
    logging_setup.configure("json")
    try:
        monitor = Monitor(log_interval=0.0, system_stats=_NoSystem())
        monitor.record({"invoke": 0.01}, 0.02)
        monitor.tick(1, 0)
        logging.getLogger("x").warning("careful")
    finally:
        logging_setup.configure("text")
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines[0]["event"] == "stats" and lines[0]["ms"]["invoke"]["p50"] == 10.0
    assert lines[1] == {"event": "log", "level": "warning", "logger": "x", "message": "careful"}


@pytest.mark.parametrize("value, flags", [
    (0x0, []),
    (0x50005, ["under-voltage", "throttled", "under-voltage-occurred", "throttled-occurred"]),
    (0x80008, ["soft-temp-limit", "soft-temp-limit-occurred"]),
])
def test_throttle_flags(value, flags):
    assert decode_throttled(value) == flags


def test_process_cpu_over_the_run_and_since_the_last_sample():
    from pi_vision.monitoring.system_stats import SystemStats

    stats = SystemStats()
    end = time.process_time() + 0.3
    while time.process_time() < end:  # one busy core (less of it on a loaded machine)
        pass
    busy = stats.sample()["process_cpu_percent"]
    time.sleep(0.3)  # idle
    idle = stats.sample()["process_cpu_percent"]
    whole = stats.sample(whole_run=True)["process_cpu_percent"]
    assert busy > 20 and idle < 10
    assert idle < whole < busy
