#!/usr/bin/env python3
"""Time ``Tracker.update`` with N objects moving across the frame; prints p50/p95/p99/max.

    .venv/bin/python -m research.bench_tracker --objects 20 --frames 3000

The budget for the track stage is p95 <= 1 ms with 20 objects on a Raspberry Pi 4.
The detections mimic the detector's output (jittered boxes, a few drops and clutter) so
the timing includes all three matching stages, track births and deaths.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


from pi_vision.detections import Detections
from pi_vision.tracking.tracker import Tracker, TrackerConfig


def make_frames(objects: int, frames: int, seed: int) -> list[Detections]:
    """Objects bouncing around the frame, detected with drops, jitter and clutter."""
    rng = np.random.default_rng(seed)
    size = rng.uniform([0.04, 0.1], [0.12, 0.25], (objects, 2))
    pos = rng.uniform(size / 2, 1 - size / 2)
    vel = rng.uniform(-0.006, 0.006, (objects, 2))
    classes = rng.choice([0, 2, 17], objects).astype(np.int32)
    out = []
    for _ in range(frames):
        pos += vel
        bounced = (pos < size / 2) | (pos > 1 - size / 2)
        vel[bounced] *= -1
        boxes = np.concatenate([pos - size / 2, pos + size / 2], axis=1)
        boxes += rng.normal(0, 0.04, boxes.shape) * np.tile(size, 2)
        seen = rng.random(objects) >= 0.1
        scores = rng.uniform(0.3, 0.95, objects)
        clutter = rng.uniform(0, 1, (1, 4))
        clutter = np.concatenate(
            [np.minimum(clutter[:, :2], clutter[:, 2:]), np.maximum(clutter[:, :2], clutter[:, 2:])], 1
        )
        out.append(
            Detections(
                np.clip(np.concatenate([boxes[seen], clutter]), 0, 1).astype(np.float32),
                np.concatenate([scores[seen], [0.4]]).astype(np.float32),
                np.concatenate([classes[seen], classes[:1]]),
            )
        )
    return out


def report(label: str, times_ms: list[float]) -> float:
    p50, p95, p99 = np.percentile(times_ms, [50, 95, 99])
    print(f"  {label:13s} p50 {p50:.3f} ms  p95 {p95:.3f} ms  p99 {p99:.3f} ms  max {max(times_ms):.3f} ms")
    return float(p95)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=20)
    parser.add_argument("--frames", type=int, default=3000)
    parser.add_argument("--detect-every", type=int, default=1, help="call predict_only on the frames in between")
    parser.add_argument("--warmup", type=int, default=100, help="untimed frames first (tracks get confirmed)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    frames = make_frames(args.objects, args.warmup + args.frames, args.seed)
    tracker = Tracker(TrackerConfig())
    update_ms, predict_ms, tracked = [], [], []
    for i, detections in enumerate(frames):
        detect = i % args.detect_every == 0
        start = time.perf_counter()
        result = tracker.update(detections) if detect else tracker.predict_only()
        elapsed = (time.perf_counter() - start) * 1e3
        if i >= args.warmup:
            (update_ms if detect else predict_ms).append(elapsed)
            tracked.append(len(result))
    print(
        f"track stage, {args.objects} objects, {args.frames} frames, detect every {args.detect_every} "
        f"(mean {np.mean(tracked):.1f} tracks returned, {tracker.active_count} active at the end):"
    )
    p95 = report("update", update_ms)
    if predict_ms:
        report("predict_only", predict_ms)
    print(f"  budget: update p95 <= 1 ms: {'OK' if p95 <= 1.0 else 'OVER'}")


if __name__ == "__main__":
    main()
