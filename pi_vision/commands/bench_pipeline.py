"""End-to-end FPS of the app against the bare interpreter, measured side by side.

In one run, on the same model, threads and video (decoded as fast as it goes):
  * bare: nothing but ``invoke()`` on a real frame, back to back;
  * app: ``python -m pi_vision`` as configured by default (detection + tracking, headless);
  * full: the app with the overlay drawn on every frame and the events file written;
  * app_mem and full_mem: the same two from frames decoded beforehand into memory, as a
    camera delivers them (no software video decoding competing with the detector's
    threads on a 2-core machine).
All are interleaved in rounds so machine noise hits them alike; each ratio is the
median over rounds. Then, per app variant, the median over rounds of each stage's p50 in
ms as the monitor measures it, which shows where the time beyond invoke goes. The last
line is ``ratio R`` = app / bare.

    pi-vision-bench-pipeline --model M --source VIDEO --threads N
"""
from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np


from pi_vision import app
from pi_vision.config import Config, DetectorConfig, MonitorConfig, OutputConfig, RunConfig, SourceConfig
from pi_vision.detection.detector import TFLiteDetector, detect_image
from pi_vision.errors import UserError
from pi_vision.paths import reference_model


class DrawnFrames:
    """An output that takes the annotated frame, so the overlay is drawn as for a window."""

    name = "drawn frames"
    needs_image = True

    def write(self, frame, detections) -> None:
        pass

    def close(self) -> None:
        pass


class PreloadedFrames:
    """Frames decoded before the run, served in order as fast as the app takes them."""

    name = "preloaded frames"
    live = False
    fps = None

    def __init__(self, frames: list[np.ndarray]):
        self._frames = frames
        self._next = 0

    def open(self) -> None:
        self._next = 0

    def read(self):
        if self._next >= len(self._frames):
            return None
        self._next += 1
        return self._frames[self._next - 1], None

    def close(self) -> None:
        pass


def read_frames(video: str, count: int) -> list[np.ndarray]:
    capture = cv2.VideoCapture(video)
    frames = []
    while len(frames) < count:
        ok, frame = capture.read()
        if not ok:
            if not frames:
                break
            capture.set(cv2.CAP_PROP_POS_FRAMES, 0)  # loop a short video
            continue
        frames.append(frame)
    capture.release()
    return frames


def bare_invoke_fps(detector: TFLiteDetector, frames: int) -> float:
    start = time.perf_counter()
    for _ in range(frames):
        detector.invoke_only()
    return frames / (time.perf_counter() - start)


def main() -> int:
    p = argparse.ArgumentParser(prog="pi-vision-bench-pipeline", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=str(reference_model()))
    p.add_argument("--source", required=True, help="a video file")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--frames", type=int, default=200, help="frames per measurement")
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)

    base = Config(source=SourceConfig(spec=args.source, loop=True),
                  detector=DetectorConfig(model=args.model, threads=args.threads),
                  monitor=MonitorConfig(log_interval=1e9), run=RunConfig(max_frames=args.frames))
    try:
        detector = TFLiteDetector(base.detector)
    except UserError as e:
        print(f"bench_pipeline: {e}", file=sys.stderr)
        return 2
    frames = read_frames(args.source, args.frames)
    if not frames:
        print(f"bench_pipeline: cannot read {args.source}", file=sys.stderr)
        return 2
    detect_image(detector, frames[0])  # sets a real input and warms up
    for _ in range(20):
        detector.invoke_only()

    rates: dict[str, list[float]] = {"bare": [], "app": [], "full": [], "app_mem": [], "full_mem": []}
    stages: dict[str, list[dict]] = {name: [] for name in rates if name != "bare"}

    def run_app(name: str, config: Config, **kwargs) -> None:
        summary = app.run(config, detector=detector, **kwargs)
        rates[name].append(summary["fps"])
        stages[name].append(summary["ms"])

    with tempfile.TemporaryDirectory() as tmp:
        full = Config(source=base.source, detector=base.detector, monitor=base.monitor, run=base.run,
                      output=OutputConfig(events=str(Path(tmp) / "events.jsonl")))
        for round_ in range(args.rounds):
            rates["bare"].append(bare_invoke_fps(detector, args.frames))
            run_app("app", base)
            run_app("full", full, extra_outputs=[DrawnFrames()])
            run_app("app_mem", base, source=PreloadedFrames(frames))
            # The overlay draws on the frames in place: a copy (made before the run starts)
            # keeps the preloaded frames clean for the next rounds.
            run_app("full_mem", full, source=PreloadedFrames([f.copy() for f in frames]),
                    extra_outputs=[DrawnFrames()])
            print(f"round {round_ + 1}: " + ", ".join(f"{k} {v[-1]:.1f} fps" for k, v in rates.items()))

    def ratio(name: str) -> float:
        return statistics.median(r / b for r, b in zip(rates[name], rates["bare"]))

    print(f"model {detector.name}, {detector.threads} threads, {args.frames} frames x {args.rounds} rounds")
    for name, label in (("bare", "bare invoke"), ("app", "app end-to-end"), ("full", "app + draw + events"),
                        ("app_mem", "app, frames in memory"), ("full_mem", "app + draw + events, frames in memory")):
        print(f"{label} fps {statistics.median(rates[name]):.1f}")
    for name, runs in stages.items():
        names = [stage for stage in runs[-1] if all(run.get(stage) for run in runs)]
        print(f"stages p50 ms, {name}: " + ", ".join(
            f"{stage} {statistics.median(run[stage]['p50'] for run in runs):.2f}" for stage in names))
    print(f"ratio_full_mem {ratio('full_mem'):.3f}")
    print(f"ratio_app_mem {ratio('app_mem'):.3f}")
    print(f"ratio_full {ratio('full'):.3f}")
    print(f"ratio {ratio('app'):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
