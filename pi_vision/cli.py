"""Command line: flags override the YAML config; bad input is one line and exit code 2."""
from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from . import app, config as config_mod, logging_setup
from .errors import UserError

log = logging.getLogger(__name__)

# flag dest -> config key path
_OVERRIDES = {
    "model": "detector.model", "threads": "detector.threads", "score_threshold": "detector.score_threshold",
    "resize": "detector.resize", "labels": "detector.labels", "detect_every": "detector.every",
    "compare": "detector.compare",
    "no_track": "tracker.enabled", "display": "output.display", "record": "output.record", "events": "output.events",
    "source": "source.spec", "width": "source.width", "height": "source.height", "fps": "source.fps",
    "realtime": "source.realtime", "loop": "source.loop",
    "log_interval": "monitor.log_interval", "log_format": "monitor.log_format",
    "max_frames": "run.max_frames", "duration": "run.duration",
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line instead of usage + message
        self.exit(2, f"pi-vision: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="pi-vision", description="Real-time MobileNet-SSD object detection with honest latency stats.",
                argument_default=argparse.SUPPRESS)
    p.add_argument("--config", help="YAML config file; flags override it")
    p.add_argument("--validate-config", metavar="FILE", help="check a config file and exit")
    g = p.add_argument_group("detector")
    g.add_argument("--model", help="model name in models/ (ssd_mbv1_0.5_160) or a .tflite path")
    g.add_argument("--threads", type=int, help="interpreter threads (0 = all cores)")
    g.add_argument("--score-threshold", type=float, help="minimum detection score (0..1)")
    g.add_argument("--resize", choices=["stretch", "letterbox"], help="how frames are fitted to the model input")
    g.add_argument("--labels", help="labels file (default: packed in the model or <model>.labels.txt)")
    g.add_argument("--compare", metavar="M1,M2,...",
                   help="run these models side by side on every frame and log a comparison table")
    g.add_argument("--detect-every", type=int, metavar="K",
                   help="run the network on every Kth frame; the tracker predicts in between")
    g = p.add_argument_group("tracking and outputs")
    g.add_argument("--no-track", action="store_false", help="report raw detections, without track ids")
    g.add_argument("--display", action="store_true", help="show the annotated video in a window (needs a desktop)")
    g.add_argument("--record", metavar="FILE", help="write the annotated video (.mp4/.avi/.mkv)")
    g.add_argument("--events", metavar="FILE", help="append one JSON line per processed frame")
    g = p.add_argument_group("source")
    g.add_argument("--source", help="auto | demo | picamera2 | camera index | video file | stream URL")
    g.add_argument("--width", type=int, help="camera width")
    g.add_argument("--height", type=int, help="camera height")
    g.add_argument("--fps", type=float, help="camera frame rate")
    g.add_argument("--realtime", action="store_true", help="pace a video file at its frame rate, dropping late frames")
    g.add_argument("--loop", action="store_true", help="repeat a video file")
    g = p.add_argument_group("monitor and run")
    g.add_argument("--log-interval", type=float, help="seconds between stats lines (default 5)")
    g.add_argument("--log-format", choices=["text", "json"], help="text lines or one JSON object per line")
    g.add_argument("--max-frames", type=int, help="stop after N processed frames")
    g.add_argument("--duration", type=float, help="stop after S seconds")
    g.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return p


def build_config(args: argparse.Namespace) -> config_mod.Config:
    data = config_mod.load_yaml(args.config) if "config" in args else {}
    overrides: dict = {}
    for dest, path in _OVERRIDES.items():
        if dest in args:
            config_mod.set_path(overrides, path, getattr(args, dest))
    return config_mod.from_dict(config_mod.merge(data, overrides))


def _install_signal_handlers(stop: threading.Event) -> None:
    def handle(signum, _frame):
        if stop.is_set():  # a second Ctrl-C means "now"
            signal.signal(signum, signal.SIG_DFL)
            signal.raise_signal(signum)
        log.info("%s received; stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGTERM, handle)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if "validate_config" in args:
            config_mod.from_dict(config_mod.load_yaml(args.validate_config))
            print(f"{args.validate_config}: ok")
            return 0
        config = build_config(args)
        logging_setup.configure(config.monitor.log_format, logging.DEBUG if "verbose" in args else logging.INFO)
        stop = threading.Event()
        _install_signal_handlers(stop)
        app.run(config, stop)
        return 0
    except UserError as e:
        print(f"pi-vision: {e}", file=sys.stderr)
        return e.exit_code
