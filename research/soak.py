"""Soak: does the app stay the same over a long run? Not a timed test: a measurement to read.

    .venv/bin/python -m research.soak                          # 100,000 frames, default model, vtest.avi
    .venv/bin/python -m research.soak --frames 20000 --video clip.mp4 --events /tmp/soak.jsonl

Runs the app headless at full speed (every frame of a looped video, no pacing) with the
default model and tracking, stats every 30 s as the service logs them, and every 10,000
frames prints the process's resident memory,
its thread count, its open file descriptors and the frame-age p99 of those frames. Growth
after the warm-up block is what a months-long service would accumulate. Exit 1 when RSS grew
by 10 MB or more after warm-up, or the thread or descriptor count changed.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
import time

import numpy as np

from pi_vision import app
from pi_vision.config import Config, DetectorConfig, MonitorConfig, OutputConfig, RunConfig, SourceConfig
from pi_vision.paths import shared_data_dir

MAX_RSS_GROWTH_MB = 10.0


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _counts() -> tuple[int, int]:
    return len(os.listdir("/proc/self/task")), len(os.listdir("/proc/self/fd"))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--frames", type=int, default=100_000)
    p.add_argument("--block", type=int, default=10_000, help="frames per printed row")
    p.add_argument("--model", default=DetectorConfig().model)
    p.add_argument("--video", default=str(shared_data_dir() / "videos" / "vtest.avi"))
    p.add_argument("--events", default="", help="also write (and rotate) an events file")
    args = p.parse_args()
    if not os.path.isfile(args.video):
        print(f"soak: no video at {args.video}; pass --video or set PI_VISION_DATA", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    config = Config(source=SourceConfig(spec=args.video, loop=True), detector=DetectorConfig(model=args.model),
                    monitor=MonitorConfig(log_interval=30.0), output=OutputConfig(events=args.events),
                    run=RunConfig(max_frames=args.frames))
    ages: list[float] = []  # this block's frame ages
    frames = 0
    rows: list[dict] = []
    started = time.monotonic()

    def on_result(frame, _detections) -> None:
        nonlocal frames
        frames += 1
        ages.append(time.monotonic() - frame.t_capture)
        if frames % args.block == 0:
            threads, fds = _counts()
            block = np.array(ages) * 1000
            ages.clear()
            rows.append({"frames": frames, "rss_mb": _rss_mb(), "threads": threads, "python_threads":
                         threading.active_count(), "fds": fds, "age_p99_ms": float(np.percentile(block, 99)),
                         "fps": args.block / (time.monotonic() - (rows[-1]["t"] if rows else started)),
                         "t": time.monotonic()})
            r = rows[-1]
            print(f"{r['frames']:>8} frames  rss {r['rss_mb']:7.1f} MB  threads {r['threads']:3d} "
                  f"(python {r['python_threads']})  fds {r['fds']:3d}  frame age p99 {r['age_p99_ms']:6.1f} ms  "
                  f"{r['fps']:6.1f} fps", flush=True)

    print(f"soak: {args.frames} frames of {args.video} (looped, every frame) with {args.model}", flush=True)
    app.run(config, on_result=on_result)
    if len(rows) < 2:
        print("soak: too few blocks to compare; raise --frames or lower --block", file=sys.stderr)
        return 2
    warm, last = rows[0], rows[-1]
    growth = last["rss_mb"] - warm["rss_mb"]
    p99 = [r["age_p99_ms"] for r in rows]
    steady_threads = len({r["threads"] for r in rows}) == 1
    steady_fds = len({r["fds"] for r in rows}) == 1
    print(f"RSS after warm-up {warm['rss_mb']:.1f} MB, at the end {last['rss_mb']:.1f} MB: growth {growth:+.1f} MB "
          f"(limit {MAX_RSS_GROWTH_MB:g}); threads {'constant' if steady_threads else 'CHANGED'}, "
          f"fds {'constant' if steady_fds else 'CHANGED'}; frame-age p99 per block {min(p99):.1f}-{max(p99):.1f} ms")
    return 0 if growth < MAX_RSS_GROWTH_MB and steady_threads and steady_fds else 1


if __name__ == "__main__":
    sys.exit(main())
