#!/usr/bin/env python3
"""How well models agree with the reference on a real video, and why not: the compare
mode's agreement (mAP@.5 with the reference's boxes as truth, both at the app's
threshold) plus, for one class, how many of the reference's boxes each model finds and
how its matched boxes' sizes compare.

Made to track a regression where models found the people in videos/vtest.avi as often
as before but drew their boxes about 1.45x too large, so agreement fell from 0.27 to
0.03 while the COCO yardsticks improved. Usage:

    python -m research.video_agreement MODEL... [--video PATH] [--every 5] [--class-name person]

MODEL is a name in models/ or a .tflite path. Prints one row per model.
"""
from __future__ import annotations

import argparse
import sys

import cv2
import numpy as np

from pi_vision.config import DetectorConfig
from pi_vision.detection.agreement import box_fit, map50
from pi_vision.detection.compare import class_map
from pi_vision.detection.detector import TFLiteDetector, detect_image
from pi_vision.detections import Detections
from pi_vision.paths import reference_model, shared_data_dir


def read_frames(path: str, every: int) -> list[np.ndarray]:
    capture = cv2.VideoCapture(path)
    frames, index = [], 0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        if index % every == 0:
            frames.append(frame)
        index += 1
    capture.release()
    return frames


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+")
    parser.add_argument("--video", default=str(shared_data_dir() / "videos" / "vtest.avi"))
    parser.add_argument("--every", type=int, default=5, help="use every Nth frame")
    parser.add_argument("--threshold", type=float, default=0.5, help="the app's score threshold")
    parser.add_argument("--class-name", default="person")
    args = parser.parse_args()

    frames = read_frames(args.video, args.every)
    if not frames:
        print(f"video_agreement: no frames in {args.video}", file=sys.stderr)
        return 2
    reference = TFLiteDetector(DetectorConfig(model=str(reference_model()), score_threshold=args.threshold))
    truths = [detect_image(reference, frame) for frame in frames]
    class_id = reference.labels.index(args.class_name)
    print(f"{len(frames)} frames of {args.video}; reference: {sum(len(t) for t in truths)} boxes >= {args.threshold}")
    print(f"{'model':34s} agreement  {args.class_name}: found  IoU>=.5  h ratio  w ratio")
    for model in args.models:
        detector = TFLiteDetector(DetectorConfig(model=model, score_threshold=args.threshold))
        # Models with their own label list map into the reference's by name, as compare mode does.
        mapping = class_map(detector.labels, reference.labels)
        predictions = []
        for frame in frames:
            d = detect_image(detector, frame)
            if mapping is not None:
                ids = mapping[d.class_ids]
                d = Detections(d.boxes[ids >= 0], d.scores[ids >= 0], ids[ids >= 0])
            predictions.append(d)
        fit = box_fit(predictions, truths, class_id)
        found = sum(int((p.class_ids == class_id).sum()) for p in predictions)
        print(f"{detector.name:34s} {map50(predictions, truths):9.3f}  {found:13d}  {fit.covered:7.2f}  "
              f"{fit.height_ratio:7.2f}  {fit.width_ratio:7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
