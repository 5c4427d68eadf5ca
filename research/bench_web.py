"""Does watching slow detection down? The app with and without web viewers, side by side.

    .venv/bin/python -m research.bench_web                       # 60 s each way, 10 viewers + 1 stalled
    .venv/bin/python -m research.bench_web --seconds 20 --rounds 2

Each round runs the app on the demo scene (a live 30 FPS source, as a camera) for the same
time twice: with nobody watching, and with ``--clients`` viewers reading /stream.mjpg as
fast as they can plus one viewer that connects and never reads. It prints the processed
FPS and the frame-age p95 of both, their ratios, the JPEG encode time per frame and what
the viewers received. Within 5% means the viewers cost the loop nothing it can feel.
"""
from __future__ import annotations

import argparse
import http.client
import logging
import socket
import threading
import time

from pi_vision import app
from pi_vision.config import Config, DetectorConfig, HttpConfig, MonitorConfig, RunConfig, SourceConfig


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _viewer(port: int, stop: threading.Event, received: list[int], index: int) -> None:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/stream.mjpg")
        response = conn.getresponse()
        while not stop.is_set():
            chunk = response.read(65536)
            if not chunk:
                break
            received[index] += chunk.count(b"--frame")
        conn.close()
    except OSError:
        pass


def _stalled(port: int, stop: threading.Event) -> None:
    """Connects, asks for the stream and never reads a byte."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(b"GET /stream.mjpg HTTP/1.1\r\nHost: x\r\n\r\n")
    stop.wait()
    sock.close()


def run_once(model: str, seconds: float, clients: int) -> tuple[dict, list[int]]:
    port = _free_port()
    config = Config(source=SourceConfig(spec="demo"), detector=DetectorConfig(model=model),
                    monitor=MonitorConfig(log_interval=max(seconds / 4, 1.0)),
                    http=HttpConfig(bind=f"127.0.0.1:{port}", max_clients=clients + 1),
                    run=RunConfig(duration=seconds))
    stop = threading.Event()
    received = [0] * clients

    def start_viewers() -> None:
        time.sleep(1.0)  # the server is up
        for i in range(clients):
            threading.Thread(target=_viewer, args=(port, stop, received, i), daemon=True).start()
        if clients:
            threading.Thread(target=_stalled, args=(port, stop), daemon=True).start()

    threading.Thread(target=start_viewers, daemon=True).start()
    summary = app.run(config)  # its summary carries the JPEG encode time (jpeg_encode_ms)
    stop.set()
    return summary, received


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=DetectorConfig().model)
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--clients", type=int, default=10)
    p.add_argument("--rounds", type=int, default=1)
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    for r in range(args.rounds):
        alone, _ = run_once(args.model, args.seconds, 0)
        watched, received = run_once(args.model, args.seconds, args.clients)
        encode = watched.get("jpeg_encode_ms", {})
        fps_ratio = watched["fps"] / alone["fps"]
        age_ratio = watched["ms"]["frame_age"]["p95"] / alone["ms"]["frame_age"]["p95"]
        print(f"round {r + 1}: no viewers {alone['fps']:.2f} fps, frame age p95 {alone['ms']['frame_age']['p95']:.1f} ms"
              f" | {args.clients} viewers + 1 stalled {watched['fps']:.2f} fps, frame age p95 "
              f"{watched['ms']['frame_age']['p95']:.1f} ms | ratio fps {fps_ratio:.3f}, frame age p95 {age_ratio:.3f}")
        print(f"  JPEG encode per frame: p50 {encode.get('p50', float('nan')):.2f} ms, p95 "
              f"{encode.get('p95', float('nan')):.2f} ms; frames received per viewer: min {min(received)}, max "
              f"{max(received)} of {watched['frames']} processed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
