"""Fault injection: each fault ends as designed, with the events flushed and a summary logged.

The camera, a failing invoke and a failing output are faked; detection, tracking, the
capture supervisor, the monitor and the systemd notifications are the real ones.
"""
from __future__ import annotations

import errno
import json
import logging
import signal
import socket
import threading
import time

import pytest

from fakes import FakeCamera, MjpegServer
from pi_vision import app
from pi_vision.config import Config, DetectorConfig, MonitorConfig, OutputConfig, RunConfig, SourceConfig
from pi_vision.detection.detector import TFLiteDetector
from pi_vision.sources import capture as capture_mod

FRAMES = 40
STALL_TIMEOUT = 0.4


@pytest.fixture(scope="module")
def detector(reference_path):
    return TFLiteDetector(DetectorConfig(model=str(reference_path), threads=2))


class FaultyDetector:
    """The real detector, whose ``detect`` raises or hangs at call ``at``."""

    def __init__(self, detector, fault: str, at: int = 5):
        self.__dict__.update(_detector=detector, fault=fault, at=at, calls=0, release=threading.Event())

    def __getattr__(self, name):
        return getattr(self._detector, name)

    def __setattr__(self, name, value):
        setattr(self._detector, name, value)

    def detect(self, model_input, timings):
        self.__dict__["calls"] += 1
        if self.calls == self.at:
            if self.fault == "raise":
                raise RuntimeError("the delegate failed (simulated)")
            self.release.wait()
        return self._detector.detect(model_input, timings)


class FailingOutput:
    """An output whose disk fills up (ENOSPC) or whose file loses its permission (EACCES)."""

    name = "failing"
    needs_image = False

    def __init__(self, code: int, at: int = 5):
        self.code, self.at, self.writes = code, at, 0

    def write(self, frame, detections) -> None:
        self.writes += 1
        if self.writes >= self.at:
            raise OSError(self.code, f"simulated {errno.errorcode[self.code]}")

    def close(self) -> None:
        pass


class NotifySocket:
    """A stand-in for systemd's notify socket, recording (time, message)."""

    def __init__(self, path):
        self.path = str(path)
        self.messages: list[tuple[float, str]] = []
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(self.path)
        self._sock.settimeout(0.1)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._receive, daemon=True)
        self._thread.start()

    def _receive(self):
        while not self._stop.is_set():
            try:
                data = self._sock.recv(4096)
            except socket.timeout:
                continue
            for line in data.decode().splitlines():
                self.messages.append((time.monotonic(), line))

    def times(self, message: str) -> list[float]:
        return [t for t, m in self.messages if m == message]

    def close(self):
        self._stop.set()
        self._thread.join(timeout=1)
        self._sock.close()


def _run(detector, camera, tmp_path, extra_outputs=(), **source):
    config = Config(source=SourceConfig(**source), monitor=MonitorConfig(log_interval=1e9, hang_warning=0.3),
                    output=OutputConfig(events=str(tmp_path / "e.jsonl")), run=RunConfig(max_frames=FRAMES))
    return app.run(config, detector=detector, source=camera, extra_outputs=list(extra_outputs))


def _events(tmp_path) -> list[dict]:
    return [json.loads(line) for line in (tmp_path / "e.jsonl").read_text().splitlines()]


# Source faults: (fault at read 10, what the summary must say). Every one is survived:
# the run reaches its frame count.
SOURCE_FAULTS = [
    pytest.param({10: "disconnect"}, {"reconnects": 1, "outages": 1, "stalls": 0}, id="disconnect"),
    pytest.param({10: "stall"}, {"reconnects": 1, "outages": 1, "stalls": 1}, id="stall inside read"),
    pytest.param({10: "grey", 11: "float"}, {"reconnects": 0, "bad_frames": 2}, id="wrong shape and dtype"),
    pytest.param({10: "corrupt"}, {"reconnects": 1, "outages": 1}, id="corrupt data"),
    pytest.param({10: "resize"}, {"reconnects": 0, "outages": 0}, id="resolution change"),
]


@pytest.mark.parametrize("faults, expected", SOURCE_FAULTS)
def test_source_faults_are_survived(detector, street_image, tmp_path, monkeypatch, caplog, faults, expected):
    monkeypatch.setattr(capture_mod, "RETRY_FIRST_S", 0.1)
    camera = FakeCamera(street_image, fps=30.0, faults=faults)
    with caplog.at_level(logging.INFO):
        summary = _run(detector, camera, tmp_path, stall_timeout=STALL_TIMEOUT)
    camera.release.set()
    assert summary["frames"] == FRAMES and summary["camera_ok"]
    assert {k: summary[k] for k in expected} == expected
    events = _events(tmp_path)
    assert len(events) == FRAMES  # every processed frame reached the events file
    assert "summary" in caplog.text
    if "stall" in faults.values():
        # Recovered within stall_timeout plus one backoff step (and the reopen and first frame).
        gaps = [b["time"] - a["time"] for a, b in zip(events, events[1:])]
        assert max(gaps) < STALL_TIMEOUT + capture_mod.RETRY_FIRST_S + 0.3, max(gaps)
        print(f"stall: largest gap between processed frames {max(gaps):.2f} s (stall_timeout {STALL_TIMEOUT} s, "
              f"first backoff {capture_mod.RETRY_FIRST_S} s)")
        assert "stalled" in caplog.text


def test_a_source_that_says_it_ended_ends_the_run_cleanly(detector, street_image, tmp_path, caplog):
    # None is the end of a stream by the source contract (a device that fails raises instead).
    with caplog.at_level(logging.INFO):
        summary = _run(detector, FakeCamera(street_image, fps=30.0, faults={10: "none"}), tmp_path)
    assert 0 < summary["frames"] == len(_events(tmp_path)) <= 9  # a live camera drops what detection misses
    assert "ended after 9 frames" in caplog.text and "summary" in caplog.text


def test_a_failing_invoke_ends_the_run_with_its_figures_logged(detector, street_image, tmp_path, caplog):
    faulty = FaultyDetector(detector, "raise", at=5)
    with caplog.at_level(logging.INFO), pytest.raises(RuntimeError, match="delegate failed"):
        _run(faulty, FakeCamera(street_image, fps=30.0), tmp_path)
    assert len(_events(tmp_path)) == 4  # the frames before it, flushed
    assert "summary" in caplog.text


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EACCES], ids=["ENOSPC", "EACCES"])
def test_a_failing_output_is_stopped_and_detection_goes_on(detector, street_image, tmp_path, caplog, code):
    with caplog.at_level(logging.INFO):
        summary = _run(detector, FakeCamera(street_image, fps=30.0), tmp_path, extra_outputs=[FailingOutput(code)])
    assert summary["frames"] == FRAMES and len(_events(tmp_path)) == FRAMES
    assert "failing output stopped" in caplog.text and errno.errorcode[code] in caplog.text


def test_watchdog_pings_while_frames_flow_and_stop_while_invoke_hangs(detector, street_image, tmp_path,
                                                                       monkeypatch, caplog):
    notify = NotifySocket(tmp_path / "notify")
    monkeypatch.setenv("NOTIFY_SOCKET", notify.path)
    monkeypatch.setenv("WATCHDOG_USEC", "200000")  # pings every 0.1 s
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    # The hang comes late enough (~0.8 s of frames at 30 fps) for a loaded machine to
    # send several pings first; READY waits for the first processed frame.
    hang_at = 25
    hanging = FaultyDetector(detector, "hang", at=hang_at)
    hang_s = 1.5
    released = []

    def release_later():
        while hanging.calls < hang_at:
            time.sleep(0.01)
        time.sleep(hang_s)
        released.append(time.monotonic())
        hanging.release.set()

    threading.Thread(target=release_later, daemon=True).start()
    with caplog.at_level(logging.INFO):
        summary = _run(hanging, FakeCamera(street_image, fps=30.0), tmp_path)
    time.sleep(0.2)
    notify.close()
    assert summary["frames"] == FRAMES and summary["hangs"] == 1
    assert f"invoke of {detector.name} has not returned" in caplog.text
    ready, pings = notify.times("READY=1"), notify.times("WATCHDOG=1")
    assert len(ready) == 1 and pings and ready[0] <= pings[0] + 0.05
    hang_end = released[0]
    hang_start = hang_end - hang_s
    # Regular pings before the hang, none while invoke hangs, pings again after it.
    before = [t for t in pings if t < hang_start]
    assert len(before) >= 2 and max(b - a for a, b in zip(before, before[1:])) < 0.5
    assert not [t for t in pings if hang_start + 0.15 < t < hang_end]
    assert [t for t in pings if t > hang_end]


@pytest.mark.parametrize("abstract", [False, True], ids=["path", "abstract namespace"])
def test_notifier_speaks_the_datagram_protocol(tmp_path, abstract):
    from pi_vision.monitoring.systemd_notify import SystemdNotifier

    if abstract:
        name = f"pi-vision-test-{time.monotonic_ns()}"
        server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        server.bind("\0" + name)
        address = "@" + name
    else:
        server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        server.bind(str(tmp_path / "n"))
        address = str(tmp_path / "n")
    server.settimeout(1)
    notifier = SystemdNotifier({"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "1000000"})
    notifier.ready()
    notifier.ready()  # once only
    notifier.status("stats 5s: 29.8 fps\n  a table row")
    notifier.watchdog()
    notifier.watchdog()  # rate-limited to half the period
    got = [server.recv(4096).decode() for _ in range(3)]
    server.settimeout(0.1)
    with pytest.raises(socket.timeout):
        server.recv(4096)
    assert got == ["READY=1", "STATUS=stats 5s: 29.8 fps   a table row", "WATCHDOG=1"]
    assert notifier.watchdog_interval == 0.5
    server.close()


def test_notifier_outside_systemd_does_nothing():
    from pi_vision.monitoring.systemd_notify import SystemdNotifier

    notifier = SystemdNotifier({})
    notifier.ready()
    notifier.watchdog()
    assert not notifier.enabled and not notifier.ready_sent and notifier.watchdog_interval is None


@pytest.mark.parametrize("delay", [3.0, pytest.param(20.0, marks=pytest.mark.slow)], ids=["3 s", "20 s"])
def test_a_network_camera_that_comes_up_late_is_picked_up_without_a_restart(street_image, tmp_path, delay):
    from test_app import LogLines, _pi_vision

    camera = MjpegServer(street_image)
    proc = _pi_vision("--source", camera.url, "--max-outage", "60", "--log-format", "json", "--log-interval", "0.5",
                      "--events", str(tmp_path / "e.jsonl"))
    log = LogLines(proc)
    try:
        log.wait_for("retrying for up to 60 s")
        started = time.monotonic()
        threading.Timer(delay, camera.start).start()
        back = log.wait_for("back after", timeout=delay + 30)
        picked_up = time.monotonic() - started
        stats = json.loads(log.wait_for('"event": "stats"'))
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        proc.kill()
        camera.close()
    assert "unavailable" in "".join(log.lines)  # retried while it was away
    # Picked up by the backoff, at most one step (10 s) after it came up.
    assert delay <= picked_up < delay + capture_mod.RETRY_MAX_S + 2, (picked_up, back)
    assert stats["outages"] == 1 and stats["camera_ok"] and len(_events(tmp_path)) > 0
    print(f"camera up after {delay:.0f} s, picked up after {picked_up:.1f} s")
