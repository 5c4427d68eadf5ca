"""Fake devices for tests: the camera is faked, never the math."""
from __future__ import annotations

import threading
import time

import numpy as np


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FakeCamera:
    """A live camera delivering one real image at a fixed rate; it can fail on cue.

    Only the device is faked: frames go through the real slot, detector and monitor.
    ``faults`` maps a read number (1-based) to what goes wrong at that read:
    "disconnect" (OSError, as a USB unplug), "stall" (the read blocks until ``release``
    is set, as a stuck driver), "none" (no frame), "grey" and "float" (a frame of the
    wrong shape or dtype), "corrupt" (a decoder error) and "resize" (from then on the
    frames are twice the size).
    """

    live = True

    def __init__(self, image: np.ndarray, fps: float = 30.0, fail_at: tuple[int, ...] = (), frames: int = 0,
                 faults: dict[int, str] | None = None):
        self.image = image
        self.fps = fps
        self.name = "fake camera"
        self.faults = {n: "disconnect" for n in fail_at} | dict(faults or {})
        self.frames = frames  # 0 = endless
        self.reads = 0
        self.opens = 0
        self.closed = False
        self.release = threading.Event()
        self._lock = threading.Lock()
        self._next_due = 0.0

    def open(self) -> None:
        self.opens += 1
        self.closed = False
        self._next_due = time.monotonic()

    def read(self):
        with self._lock:  # an abandoned, stalled read and the new reader may overlap
            if self.frames and self.reads >= self.frames:
                return None
            self.reads += 1
            fault = self.faults.get(self.reads)
        if fault == "disconnect":
            raise OSError("simulated USB disconnect")
        if fault == "stall":
            self.release.wait()
            raise OSError("the stalled read returned at last")
        if fault == "none":
            return None
        if fault == "corrupt":
            raise ValueError("corrupt JPEG data: premature end of data segment")
        if fault == "resize":
            self.image = np.repeat(np.repeat(self.image, 2, axis=0), 2, axis=1)
        self._next_due += 1.0 / self.fps
        delay = self._next_due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        if fault == "grey":
            return self.image[:, :, 0], None
        if fault == "float":
            return self.image.astype(np.float32), None
        return self.image, None

    def close(self) -> None:
        self.closed = True


class MjpegServer:
    """A network camera: an HTTP server streaming one real image as multipart MJPEG, the
    way IP cameras do. Only the camera is faked; OpenCV's FFmpeg reads it as any stream."""

    def __init__(self, image: np.ndarray, fps: float = 15.0):
        import cv2
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        jpeg = cv2.imencode(".jpg", image)[1].tobytes()
        server_stop = threading.Event()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                try:
                    while not server_stop.is_set():
                        self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: "
                                         + str(len(jpeg)).encode() + b"\r\n\r\n" + jpeg + b"\r\n")
                        time.sleep(1.0 / fps)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args):
                pass

        self._stop = server_stop
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/stream.mjpg"
        self._server.server_close()  # the port is known; it serves only from start() on
        self._thread: threading.Thread | None = None
        self._make = lambda: ThreadingHTTPServer(("127.0.0.1", self.port), Handler)

    def start(self) -> None:
        self._server = self._make()
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._server.shutdown()
            self._server.server_close()
