"""The web view: the annotated live stream, stats, health and Prometheus metrics over HTTP.

Routes (nothing else exists, nothing is served from the filesystem):
  /             a page with the stream and a live table of the stats
  /stream.mjpg  multipart MJPEG          /snapshot.jpg  the newest frame
  /stats.json   the last stats line      /healthz       200 while frames flow, 503 when not
  /metrics      Prometheus text format

The pipeline never waits for a client: a frame is handed to an encoder thread only while
someone watches, the encoder keeps just the newest frame and encodes it once for every
client, and each client's thread sends the newest JPEG it has not sent yet, so a slow or
stalled client misses frames (and is dropped after ``SEND_TIMEOUT_S``) without slowing the
loop or the other clients. The standard library's threading HTTP server does the HTTP.
"""
from __future__ import annotations

import collections
import hmac
import http.server
import json
import logging
import threading
import time
from typing import Callable
from urllib.parse import parse_qs, urlsplit

import cv2
import numpy as np

from pi_vision.detections import Detections
from pi_vision.errors import UserError
from pi_vision.monitoring.latency_stats import summarize_ms
from pi_vision.monitoring.metrics import Metrics
from pi_vision.outputs.web_page import PAGE
from pi_vision.sources import Frame

log = logging.getLogger(__name__)

# A client whose socket takes no data for this long (connected, never reading) is dropped.
SEND_TIMEOUT_S = 10.0
# /healthz says 503 when no frame was processed for this long.
HEALTH_STALE_S = 5.0
# A snapshot request keeps frames flowing to the encoder this long.
SNAPSHOT_WANT_S = 2.0
ENCODE_SAMPLES = 300
LOOPBACK = ("127.0.0.1", "localhost", "::1")


class FrameEncoder(threading.Thread):
    """JPEG-encodes the newest submitted frame, once, for every client."""

    def __init__(self, width: int, quality: int):
        super().__init__(name="web-encoder", daemon=True)
        self.width, self.quality = width, quality
        self._cond = threading.Condition()
        self._pending: np.ndarray | None = None
        self.jpeg: bytes | None = None
        self.seq = 0
        self.encode_s: collections.deque[float] = collections.deque(maxlen=ENCODE_SAMPLES)
        self._stop = threading.Event()

    def submit(self, image: np.ndarray) -> None:
        with self._cond:
            self._pending = image  # an older one not encoded yet is dropped
            self._cond.notify_all()

    def run(self) -> None:
        while not self._stop.is_set():
            with self._cond:
                if self._pending is None:
                    self._cond.wait(timeout=0.5)
                image, self._pending = self._pending, None
            if image is None:
                continue
            t0 = time.perf_counter()
            h, w = image.shape[:2]
            if self.width and w > self.width:
                image = cv2.resize(image, (self.width, round(h * self.width / w)), interpolation=cv2.INTER_AREA)
            ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
            self.encode_s.append(time.perf_counter() - t0)
            if ok:
                with self._cond:
                    self.jpeg, self.seq = data.tobytes(), self.seq + 1
                    self._cond.notify_all()

    def newer(self, seq: int, timeout: float) -> tuple[int, bytes] | None:
        """The newest JPEG after ``seq``, waiting up to ``timeout``."""
        with self._cond:
            self._cond.wait_for(lambda: self.seq > seq or self._stop.is_set(), timeout=timeout)
            return (self.seq, self.jpeg) if self.seq > seq and self.jpeg is not None else None

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def stop(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()


class WebServer:
    """An output that serves the web view; see the module docstring."""

    name = "web"

    def __init__(self, bind: str, token: str = "", max_clients: int = 10, width: int = 640, quality: int = 70,
                 info: dict | None = None):
        host, port = parse_bind(bind)
        if host not in LOOPBACK and not token:
            raise UserError(f"http error: --http {bind} is reachable from other machines; set http.token "
                            f"(clients send it as 'Authorization: Bearer TOKEN' or ?token=) or bind 127.0.0.1")
        self.token = token
        self.max_clients = max_clients
        self.encoder = FrameEncoder(width, quality)
        self.metrics = Metrics({k: str(v) for k, v in (info or {}).items()})
        self.last_stats: dict = {}
        self.streams = 0
        self.last_frame = 0.0
        self._snapshot_until = 0.0
        self._lock = threading.Lock()
        self._live: Callable[[], dict] = dict
        self._last_image: np.ndarray | None = None
        try:
            self._server = http.server.ThreadingHTTPServer((host, port), _handler(self))
        except OSError as e:
            raise UserError(f"http error: cannot listen on {bind} ({e.strerror}); pick another port for --http")
        self._server.daemon_threads = True
        self.address = f"{host}:{self._server.server_address[1]}"
        self.encoder.start()
        self._thread = threading.Thread(target=self._server.serve_forever, name="web", daemon=True)
        self._thread.start()
        log.info("web view on http://%s/ (%s, at most %d stream clients)", self.address,
                 "token required" if token else "no token: loopback only", max_clients)

    # ---------------------------------------------------------------- Output
    @property
    def needs_image(self) -> bool:
        """True only while someone watches: no overlay and no encoding for nobody."""
        return self.streams > 0 or time.monotonic() < self._snapshot_until

    def write(self, frame: Frame, detections: Detections) -> None:
        self.last_frame = time.monotonic()
        self._last_image = frame.image
        if self.needs_image:
            self.encoder.submit(frame.image)

    def on_frame(self, stage_seconds: dict[str, float], frame_age_s: float) -> None:
        self.metrics.observe_frame(stage_seconds, frame_age_s)

    def on_stats(self, data: dict) -> None:
        self.last_stats = dict(data)

    def stats(self) -> dict:
        """For the stats line: the viewers now and the JPEG encode time per frame (its own thread)."""
        return {"web_viewers": self.streams,
                **({"jpeg_encode_ms": summarize_ms(self.encoder.encode_s)} if self.encoder.encode_s else {})}

    def bind_live(self, live: Callable[[], dict]) -> None:
        self._live = live
        self.metrics.bind_live(live)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self.encoder.stop()

    # ---------------------------------------------------------------- requests
    def authorized(self, headers, query: dict) -> bool:
        if not self.token:
            return True
        given = headers.get("Authorization", "")
        given = given[7:] if given.startswith("Bearer ") else (query.get("token") or [""])[0]
        return hmac.compare_digest(given.encode(), self.token.encode())

    def healthy(self) -> tuple[bool, str]:
        if self._live().get("camera_ok") is False:
            return False, "camera out"
        age = time.monotonic() - self.last_frame
        if not self.last_frame or age > HEALTH_STALE_S:
            return False, f"no frame processed for {age:.0f} s" if self.last_frame else "no frame processed yet"
        return True, "frames flowing"

    def snapshot(self) -> tuple[int, bytes] | None:
        """The next frame, annotated; when none comes (a paused stream), the last one as it was."""
        seq = self.encoder.seq
        self._snapshot_until = time.monotonic() + SNAPSHOT_WANT_S
        got = self.encoder.newer(seq, timeout=1.0)
        if got is None and self._last_image is not None:
            self.encoder.submit(self._last_image)
            got = self.encoder.newer(seq, timeout=1.0)
        return got

    def join_stream(self) -> bool:
        with self._lock:
            if self.streams >= self.max_clients:
                return False
            self.streams += 1
            return True

    def leave_stream(self) -> None:
        with self._lock:
            self.streams -= 1


def parse_bind(bind: str) -> tuple[str, int]:
    host, sep, port = bind.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise UserError(f"http error: {bind!r} is not HOST:PORT; use for example --http 127.0.0.1:8080")
    return (host.strip("[]") or "127.0.0.1"), int(port)


def _handler(web: WebServer) -> type:
    class Handler(http.server.BaseHTTPRequestHandler):
        server_version = "pi-vision"
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 - the standard library's name
            url = urlsplit(self.path)
            route = ROUTES.get(url.path)
            if route is None:
                return self._send(404, b"not found\n", "text/plain")
            if not web.authorized(self.headers, parse_qs(url.query)):
                return self._send(401, b"unauthorized\n", "text/plain", {"WWW-Authenticate": "Bearer"})
            route(self)

        def page(self) -> None:
            self._send(200, PAGE, "text/html; charset=utf-8")

        def stats(self) -> None:
            self._send(200, json.dumps(web.last_stats).encode(), "application/json")

        def healthz(self) -> None:
            ok, why = web.healthy()
            self._send(200 if ok else 503, (why + "\n").encode(), "text/plain")

        def metrics(self) -> None:
            self._send(200, web.metrics.exposition(), "text/plain; version=0.0.4; charset=utf-8")

        def snapshot(self) -> None:
            got = web.snapshot()
            if got is None:
                return self._send(503, b"no frame yet\n", "text/plain")
            self._send(200, got[1], "image/jpeg")

        def stream(self) -> None:
            if not web.join_stream():
                return self._send(503, b"too many stream clients\n", "text/plain")
            try:
                self.connection.settimeout(SEND_TIMEOUT_S)  # a client that stops reading is dropped
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.send_header("Cache-Control", "no-store")
                self.send_header("Connection", "close")
                self.end_headers()
                seq = 0
                while True:
                    got = web.encoder.newer(seq, timeout=1.0)
                    if got is None:
                        if web.encoder.stopped:
                            break
                        continue
                    seq, jpeg = got
                    self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: "
                                     + str(len(jpeg)).encode() + b"\r\n\r\n" + jpeg + b"\r\n")
            except OSError:  # the client left, or stalled past the timeout
                pass
            finally:
                web.leave_stream()
                self.close_connection = True

        def _send(self, code: int, body: bytes, kind: str, headers: dict | None = None) -> None:
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, fmt, *args) -> None:
            log.debug("web %s: " + fmt, self.address_string(), *args)

    ROUTES: dict[str, Callable] = {"/": Handler.page, "/stream.mjpg": Handler.stream,
                                   "/snapshot.jpg": Handler.snapshot, "/stats.json": Handler.stats,
                                   "/healthz": Handler.healthz, "/metrics": Handler.metrics}
    return Handler
