import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from fakes import FakeCamera
from pi_vision import app
from pi_vision.config import Config, DetectorConfig, MonitorConfig, OutputConfig, RunConfig, SourceConfig
from pi_vision.detection.detector import TFLiteDetector

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def detector(reference_path):
    return TFLiteDetector(DetectorConfig(model=str(reference_path), threads=2))


def _config(**run):
    return Config(monitor=MonitorConfig(log_interval=1e9), run=RunConfig(**run))


def test_paced_camera_frames_are_fresh_and_never_processed_twice(detector, street_image):
    """A 30 FPS camera: frame age p95 stays within invoke p95 + one frame period (no queueing)."""
    seqs = []
    camera = FakeCamera(street_image, fps=30.0)
    camera.open()
    summary = app.run(_config(max_frames=90), detector=detector, source=camera,
                      on_result=lambda frame, _: seqs.append(frame.seq))
    assert len(seqs) == 90 and seqs == sorted(set(seqs))
    age, invoke = summary["ms"]["frame_age"], summary["ms"]["invoke"]
    assert age["p95"] <= invoke["p95"] + 33.3, summary["ms"]
    assert summary["dropped"] + summary["frames"] <= summary["captured"]
    assert camera.closed


def test_stop_event_ends_the_run_and_summarises(detector, street_image):
    camera = FakeCamera(street_image, fps=30.0)
    camera.open()
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()
    t0 = time.monotonic()
    summary = app.run(_config(), stop=stop, detector=detector, source=camera)
    assert time.monotonic() - t0 < 1.5
    assert summary["event"] == "summary" and summary["frames"] > 0 and camera.closed


def test_video_file_runs_every_frame_in_order(detector, data_dir):
    seqs = []
    config = Config(source=SourceConfig(spec=str(data_dir / "videos" / "vtest.avi")),
                    monitor=MonitorConfig(log_interval=1e9), run=RunConfig(max_frames=40))
    summary = app.run(config, detector=detector, on_result=lambda frame, _: seqs.append(frame.seq))
    assert seqs == list(range(40)) and summary["dropped"] == 0


def _pi_vision(*args, **kwargs):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.Popen([sys.executable, "-m", "pi_vision", *args], cwd=REPO, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_within_two_seconds_with_a_summary(reference_path, sig):
    proc = _pi_vision("--model", str(reference_path), "--source", "demo", "--log-format", "json",
                      "--log-interval", "0.5")
    # Wait for the first stats line so the signal lands in the running loop.
    for line in proc.stdout:
        if '"event": "stats"' in line:
            break
    t0 = time.monotonic()
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=10)
    assert time.monotonic() - t0 < 2.0
    assert proc.returncode == 0, err
    last = json.loads(out.strip().splitlines()[-1])
    assert last["event"] == "summary" and last["frames"] > 0


def test_cli_json_summary_has_every_stage(reference_path, data_dir):
    proc = _pi_vision("--model", str(reference_path), "--source", str(data_dir / "videos" / "vtest.avi"),
                      "--max-frames", "30", "--log-format", "json")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["event"] == "summary" and summary["frames"] == 30
    assert {"fps", "dropped", "camera_fps"} <= set(summary)
    for stage in ("capture_wait", "preprocess", "invoke", "postprocess", "frame_age"):
        assert {"p50", "p95", "p99", "max"} <= set(summary["ms"][stage]), stage
    assert summary["xnnpack"] is True


def test_detect_every_3_runs_the_network_on_a_third_and_keeps_ids(detector, data_dir):
    ids_per_frame = []
    config = Config(source=SourceConfig(spec=str(data_dir / "videos" / "vtest.avi")),
                    detector=DetectorConfig(every=3), monitor=MonitorConfig(log_interval=1e9),
                    run=RunConfig(max_frames=60))
    summary = app.run(config, detector=detector,
                      on_result=lambda frame, dets: ids_per_frame.append(set(dets.track_ids.tolist())))
    assert len(ids_per_frame) == 60
    # invoke is timed on detector frames only; track on every frame.
    assert summary["ms"]["invoke"] and summary["ms"]["track"]
    assert summary["detect_every"] == 3
    # Frames between detector runs carry the same tracks, predicted forward.
    for k in range(0, 57, 3):
        assert ids_per_frame[k + 1] <= ids_per_frame[k] and ids_per_frame[k + 2] <= ids_per_frame[k]
    assert summary["track_ids"] >= summary["tracks"] > 0


def test_outputs_and_track_stage_are_wired_and_timed(detector, data_dir, tmp_path):
    config = Config(source=SourceConfig(spec=str(data_dir / "videos" / "vtest.avi")),
                    output=OutputConfig(record=str(tmp_path / "v.avi"), events=str(tmp_path / "e.jsonl")),
                    monitor=MonitorConfig(log_interval=1e9), run=RunConfig(max_frames=20))
    summary = app.run(config, detector=detector)
    assert {"track", "draw", "output"} <= set(summary["ms"])
    events = [json.loads(line) for line in (tmp_path / "e.jsonl").read_text().splitlines()]
    assert [e["seq"] for e in events] == list(range(20))
    assert any(obj["id"] > 0 for e in events for obj in e["objects"])
    import cv2
    segments = sorted(tmp_path.glob("v-*.avi"))  # --record writes time-stamped segments
    assert len(segments) == 1 and int(cv2.VideoCapture(str(segments[0])).get(cv2.CAP_PROP_FRAME_COUNT)) == 20


class LogLines:
    """The app's log lines, read on a thread so that a missing line fails instead of hanging."""

    def __init__(self, proc):
        self.lines: list[str] = []
        self._queue: queue.Queue = queue.Queue()
        threading.Thread(target=lambda: [self._queue.put(line) for line in proc.stdout], daemon=True).start()

    def wait_for(self, text: str, timeout: float = 30.0) -> str:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                line = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            self.lines.append(line)
            if text in line:
                return line
        raise AssertionError(f"{text!r} not logged within {timeout} s; got:\n{''.join(self.lines)}")

    def rest(self, timeout: float = 5.0) -> list[str]:
        time.sleep(0.2)
        while True:
            try:
                self.lines.append(self._queue.get(timeout=timeout))
            except queue.Empty:
                return self.lines


DEMO = "source:\n  spec: demo\n"
# SIGHUP: (what the config file becomes, what the log must say). The camera stays open
# unless the source changed; a bad config keeps the running one.
RELOADS = [
    pytest.param(DEMO + "tracker:\n  enabled: false\n", "reload: applied (camera kept open)", id="tracker off"),
    pytest.param(DEMO + "detector:\n  model: ssd_mbv1_0.25_128\n", "reload: applied (camera kept open)",
                 id="another model"),
    pytest.param(DEMO + "detector:\n  treads: 2\n", "reload failed, keeping the running config", id="bad key"),
    pytest.param(DEMO + "detector:\n  model: ssd_mbv1_9_999\n", "reload failed, keeping the running config",
                 id="bad model"),
    pytest.param("source:\n  spec: demo\n  fps: 15\n", "reload: the source changed", id="new source"),
]


@pytest.mark.parametrize("new_config, expected", RELOADS)
def test_sighup_reloads_the_config(tmp_path, new_config, expected):
    config = tmp_path / "c.yaml"
    config.write_text(DEMO)
    proc = _pi_vision("--config", str(config), "--log-format", "json", "--log-interval", "0.3",
                      "--events", str(tmp_path / "e.jsonl"))
    log = LogLines(proc)
    try:
        log.wait_for('"event": "stats"')
        config.write_text(new_config)
        proc.send_signal(signal.SIGHUP)
        line = log.wait_for(expected)
        assert ('"level": "error"' in line) == ("failed" in expected), line
        log.wait_for('"event": "stats"')  # still running
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0, proc.stderr.read()
    finally:
        proc.kill()
    lines = log.rest(timeout=1.0)
    assert json.loads(lines[-1])["event"] == "summary"
    assert sum("reload failed" in x for x in lines) == ("failed" in expected)
    # The capture numbers frames from 0 when it opens the source: one restart for a new source, none else.
    seqs = [json.loads(x)["seq"] for x in (tmp_path / "e.jsonl").read_text().splitlines()]
    restarts = sum(b < a for a, b in zip(seqs, seqs[1:]))
    assert restarts == (1 if "source changed" in expected else 0), seqs


def test_sighup_can_change_the_web_view_on_its_own_port(tmp_path):
    import http.client

    from fakes import free_port

    port = free_port()
    config = tmp_path / "c.yaml"
    config.write_text(DEMO + f"http:\n  bind: 127.0.0.1:{port}\n")
    proc = _pi_vision("--config", str(config), "--log-format", "json", "--log-interval", "0.3")
    log = LogLines(proc)

    def healthz(token: str = "") -> int:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/healthz", headers={"Authorization": f"Bearer {token}"} if token else {})
        status = conn.getresponse().status
        conn.close()
        return status

    try:
        log.wait_for('"event": "stats"')
        assert healthz() == 200
        config.write_text(DEMO + f"http:\n  bind: 127.0.0.1:{port}\n  token: t0ken\n")
        proc.send_signal(signal.SIGHUP)
        log.wait_for("reload: applied (camera kept open)")
        log.wait_for('"event": "stats"')
        assert healthz() == 401 and healthz("t0ken") == 200  # the same port, now with the token
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        proc.kill()
