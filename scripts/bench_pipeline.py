"""End-to-end FPS of the app against the bare interpreter, measured side by side.

Prints the bare invoke rate (the same model, threads and input, nothing but invoke()),
the app's processed FPS on a video decoded as fast as it goes, and last a line
``ratio R`` = end-to-end / bare. The two are interleaved in rounds so that machine
noise hits both alike; R is the median over rounds.

    python scripts/bench_pipeline.py --model M --source VIDEO --threads N
"""
from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pi_vision import app  # noqa: E402
from pi_vision.config import Config, DetectorConfig, MonitorConfig, RunConfig, SourceConfig  # noqa: E402
from pi_vision.detector import TFLiteDetector, detect_image  # noqa: E402
from pi_vision.errors import UserError  # noqa: E402
from pi_vision.paths import reference_model  # noqa: E402


def bare_invoke_fps(detector: TFLiteDetector, frames: int) -> float:
    start = time.perf_counter()
    for _ in range(frames):
        detector.invoke_only()
    return frames / (time.perf_counter() - start)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=str(reference_model()))
    p.add_argument("--source", required=True, help="a video file")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--frames", type=int, default=200, help="frames per measurement")
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)

    config = Config(source=SourceConfig(spec=args.source, loop=True),
                    detector=DetectorConfig(model=args.model, threads=args.threads),
                    monitor=MonitorConfig(log_interval=1e9), run=RunConfig(max_frames=args.frames))
    try:
        detector = TFLiteDetector(config.detector)
    except UserError as e:
        print(f"bench_pipeline: {e}", file=sys.stderr)
        return 2
    ok, frame = cv2.VideoCapture(args.source).read()
    if not ok:
        print(f"bench_pipeline: cannot read {args.source}", file=sys.stderr)
        return 2
    detect_image(detector, frame)  # sets a real input and warms up
    for _ in range(20):
        detector.invoke_only()

    bare, e2e = [], []
    for round_ in range(args.rounds):
        bare.append(bare_invoke_fps(detector, args.frames))
        e2e.append(app.run(config, detector=detector)["fps"])
        print(f"round {round_ + 1}: bare invoke {bare[-1]:.1f} fps, end-to-end {e2e[-1]:.1f} fps, "
              f"ratio {e2e[-1] / bare[-1]:.3f}")
    print(f"model {detector.name}, {detector.threads} threads, {args.frames} frames x {args.rounds} rounds")
    print(f"bare invoke fps {statistics.median(bare):.1f}")
    print(f"end-to-end fps {statistics.median(e2e):.1f}")
    print(f"ratio {statistics.median(r / b for r, b in zip(e2e, bare)):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
