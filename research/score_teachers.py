#!/usr/bin/env python3
"""Score the distillation teachers as detectors on the COCO yardsticks (coco128, coco_mini80, pooled):
the reference (full view + tiles), YOLOX-Nano, and their fusion.

The fusion calibrates YOLOX's scores onto the reference's by rank over the distillation
photos, so both teachers' caches must be filled first (pi-vision-train --label-only).

    python -m research.score_teachers
    python -m research.score_teachers --fusion-weights 1 2 --conf-type max
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path


from pi_vision.paths import REPO_DIR, shared_data_dir


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", type=Path, default=REPO_DIR / "runs" / "cache")
    parser.add_argument("--fusion-weights", type=float, nargs=2, default=None,
                        help="weights of the reference and YOLOX in the fusion (default: image_sets.FUSION)")
    parser.add_argument("--conf-type", default=None, help="ensemble-boxes score rule (default: image_sets.FUSION)")
    parser.add_argument("--max-boxes", type=int, default=100, help="detections kept per image (COCO's maxDets)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")

    import dataclasses

    import numpy as np

    from pi_vision.training import image_sets
    from pi_vision.training.classes import COCO80_IDS
    from pi_vision.detection.score_calibration import ScoreCalibration
    from pi_vision.training.fusion import fuse_calibrated
    from pi_vision.training.box_labels import BoxLabels
    from pi_vision.training.yardsticks import load_yardstick, missing

    data = shared_data_dir()
    if missing(data):
        print(f"score_teachers.py: {', '.join(missing(data))} not found under {data}; set PI_VISION_DATA",
              file=sys.stderr)
        return 2
    fusion = image_sets.FUSION
    if args.fusion_weights:
        fusion = dataclasses.replace(fusion, weights=tuple(args.fusion_weights))
    if args.conf_type:
        fusion = dataclasses.replace(fusion, conf_type=args.conf_type)
    reference, yolox = image_sets.make_teachers(data)
    calibration = image_sets.yolox_calibration(data, args.cache)

    def as_results(labels: BoxLabels, image) -> list[dict]:
        h, w = image.shape[:2]
        top = np.argsort(-labels.scores, kind="stable")[:args.max_boxes]
        out = []
        for (y1, x1, y2, x2), cls, score in zip(labels.boxes[top], labels.classes[top], labels.scores[top]):
            out.append({"category_id": int(COCO80_IDS[cls]), "score": float(score),
                        "bbox": [float(x1 * w), float(y1 * h), float((x2 - x1) * w), float((y2 - y1) * h)]})
        return out

    def rgb(image):
        return np.ascontiguousarray(image[..., ::-1])

    def fused(image):
        return fuse_calibrated([reference.label(rgb(image)), yolox.label(rgb(image))],
                               [ScoreCalibration(), calibration], fusion)

    teachers = {
        "reference (full view + tiles)": lambda image: as_results(reference.label(rgb(image)), image),
        "YOLOX-Nano": lambda image: as_results(yolox.label(rgb(image)), image),
        f"fusion ({fusion.conf_type}, weights {fusion.weights[0]:g}:{fusion.weights[1]:g})":
            lambda image: as_results(fused(image), image),
    }
    yardstick = load_yardstick(data)
    print("| teacher | coco128 mAP / mAP@.5 | coco_mini80 | pooled |")
    print("|---|---|---|---|")
    for name, detect in teachers.items():
        scores = yardstick.score(detect, name)
        cells = " | ".join(f"{m:.3f} / {m50:.3f}" for m, m50 in scores.values())
        print(f"| {name} | {cells} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
