"""The web view: routes, security, client limits, /metrics, and the page in a real browser."""
from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from fakes import FakeCamera, free_port
from pi_vision import app
from pi_vision.config import Config, DetectorConfig, HttpConfig, MonitorConfig, SourceConfig
from pi_vision.detection.detector import TFLiteDetector

REPO = Path(__file__).resolve().parent.parent
TOKEN = "s3cret-token"
FRAMES = 60


@pytest.fixture(scope="module")
def detector(reference_path):
    return TFLiteDetector(DetectorConfig(model=str(reference_path), threads=2))


class RunningApp:
    """The app on a fake camera in a thread, serving the web view on a free loopback port.
    With ``frames`` the camera delivers that many and then blocks (as a paused stream
    would), so the figures stand still while the test reads them."""

    def __init__(self, detector, image, token: str = "", max_clients: int = 10, frames: int = 0):
        self.port = free_port()
        self.stop = threading.Event()
        self.camera = FakeCamera(image, fps=30.0, faults={frames + 1: "stall"} if frames else {})
        config = Config(source=SourceConfig(stall_timeout=0), monitor=MonitorConfig(log_interval=0.3),
                        http=HttpConfig(bind=f"127.0.0.1:{self.port}", token=token, max_clients=max_clients))
        self.summary: dict = {}
        self._thread = threading.Thread(target=lambda: self.summary.update(
            app.run(config, stop=self.stop, detector=detector, source=self.camera)), daemon=True)
        self._thread.start()
        self.wait_for(lambda: self.get("/healthz", token=token)[0] == 200)

    def get(self, path: str, token: str = "", header: bool = True, timeout: float = 5.0):
        headers = {"Authorization": f"Bearer {token}"} if token and header else {}
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            return response.status, response.read() if "stream" not in path else response.read(20000)
        finally:
            conn.close()

    @staticmethod
    def wait_for(condition, timeout: float = 20.0) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                if condition():
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError("condition not met in time")

    def close(self) -> dict:
        self.stop.set()
        self._thread.join(timeout=10)
        self.camera.release.set()
        return self.summary


@pytest.fixture
def web(detector, street_image):
    running = RunningApp(detector, street_image)
    yield running
    running.close()


@pytest.mark.parametrize("path, code, kind", [
    ("/", 200, b"<!doctype html>"),
    ("/healthz", 200, b"frames flowing"),
    ("/snapshot.jpg", 200, b"\xff\xd8"),
    ("/stream.mjpg", 200, b"--frame"),
    ("/nope", 404, b"not found"),
    ("/../etc/passwd", 404, b"not found"),
    ("/%2e%2e/README.md", 404, b"not found"),
    ("/models/ssd_mbv1_0.5_160.tflite", 404, b"not found"),
])
def test_only_the_fixed_routes_exist(web, path, code, kind):
    status, body = web.get(path)
    assert status == code and body.startswith(kind) if kind != b"--frame" else kind in body


def test_snapshot_is_the_annotated_frame(web):
    status, body = web.get("/snapshot.jpg")
    image = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
    assert status == 200 and image.shape[1] == 640  # scaled to http.jpeg_width


def test_stats_json_has_the_fields_of_the_stats_line(web):
    web.wait_for(lambda: json.loads(web.get("/stats.json")[1]).get("event") == "stats")
    stats = json.loads(web.get("/stats.json")[1])
    assert {"fps", "camera_fps", "dropped", "ms", "tracks", "objects", "camera_ok", "outages"} <= set(stats)


def test_metrics_parse_and_the_frame_counter_matches_the_summary(detector, street_image):
    web = RunningApp(detector, street_image, frames=FRAMES)

    def scrape() -> dict:
        return {f.name: f for f in text_string_to_metric_families(web.get("/metrics")[1].decode())}

    web.wait_for(lambda: web.camera.reads > FRAMES)  # the camera has paused
    time.sleep(0.5)
    families = scrape()
    summary = web.close()
    assert 0 < families["pi_vision_frames_processed"].samples[0].value == summary["frames"] <= FRAMES
    assert families["pi_vision_camera_frames"].samples[0].value == summary["captured"]
    assert {"pi_vision_stage_seconds", "pi_vision_frame_age_seconds", "pi_vision_camera_frames",
            "pi_vision_frames_dropped", "pi_vision_active_tracks", "pi_vision_objects", "pi_vision_camera_up",
            "pi_vision_camera_outages", "pi_vision_camera_reconnects", "pi_vision_info"} <= set(families)
    info = families["pi_vision_info"].samples[0].labels
    assert info["runtime"] and info["threads"] == "2" and info["xnnpack"] in ("True", "False")
    stages = {s.labels["stage"] for s in families["pi_vision_stage_seconds"].samples if s.name.endswith("_count")}
    assert {"invoke", "preprocess", "postprocess", "track", "output"} <= stages


@pytest.mark.parametrize("how, code", [("none", 401), ("wrong", 401), ("header", 200), ("query", 200)])
@pytest.mark.parametrize("path", ["/", "/stream.mjpg", "/snapshot.jpg", "/stats.json", "/metrics"])
def test_a_token_guards_every_route(detector, street_image, how, code, path):
    running = RunningApp(detector, street_image, token=TOKEN)
    try:
        if how == "query":
            status, body = running.get(f"{path}?token={TOKEN}")
        else:
            status, body = running.get(path, token={"none": "", "wrong": "guess", "header": TOKEN}[how])
        assert status == code
        if code == 401:
            assert b"\xff\xd8" not in body and b"pi_vision" not in body  # never a frame or a figure
    finally:
        running.close()


def test_stream_clients_beyond_the_limit_get_503(detector, street_image):
    running = RunningApp(detector, street_image, max_clients=1)
    try:
        first = http.client.HTTPConnection("127.0.0.1", running.port, timeout=5)
        first.request("GET", "/stream.mjpg")
        assert first.getresponse().status == 200
        running.wait_for(lambda: running.get("/stream.mjpg")[0] == 503)
        first.close()
        running.wait_for(lambda: running.get("/stream.mjpg")[0] == 200)  # its place is free again
    finally:
        running.close()


def test_a_non_loopback_bind_without_a_token_is_refused():
    result = subprocess.run([sys.executable, "-m", "pi_vision", "--source", "demo", "--http", "0.0.0.0:0",
                             "--max-frames", "1"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "set http.token" in result.stderr and "Traceback" not in result.stderr


def _browser_missing() -> str:
    for tool in ("chromium", "chromedriver"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install chromium chromium-driver)"
    return ""


def test_the_page_in_headless_chromium_shows_the_stream_and_the_stats(web, tmp_path):
    missing = _browser_missing()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the browser test: {missing}")
        pytest.skip(missing)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,800"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    try:
        driver.get(f"http://127.0.0.1:{web.port}/")
        fingerprint = """
            const img = document.getElementById('stream');
            if (!img.complete || !img.naturalWidth) return null;
            const c = document.createElement('canvas'); c.width = 64; c.height = 48;
            const g = c.getContext('2d'); g.drawImage(img, 0, 0, 64, 48);
            return Array.from(g.getImageData(0, 0, 64, 48).data).join(',');"""
        web.wait_for(lambda: driver.execute_script(fingerprint) is not None)
        first = driver.execute_script(fingerprint)
        web.wait_for(lambda: driver.execute_script(fingerprint) != first)  # the stream moves
        rows = "return document.querySelectorAll(arguments[0]).length"
        web.wait_for(lambda: driver.execute_script(rows, "#summary tbody tr") >= 5)
        web.wait_for(lambda: driver.execute_script(rows, "#stages tbody tr") >= 4)
        shot = tmp_path / "web_view.png"
        driver.save_screenshot(str(shot))
        if os.environ.get("PI_VISION_SCREENSHOT"):
            shutil.copy(shot, os.environ["PI_VISION_SCREENSHOT"])
        # One read of the table (it is rebuilt every second, so elements go stale).
        cells = driver.execute_script("return Array.from(document.querySelectorAll('#summary td'), td => td.textContent)")
        assert cells[0] == "fps" and float(cells[1]) > 0
    finally:
        driver.quit()
