#!/usr/bin/env python3
"""COCO mAP of detection .tflite files: on the yardsticks (coco128, coco_mini80 and both pooled),
or on any COCO JSON set.

    pi-vision-evaluate ../shared/data/reference/coco_ssd_mobilenet_v1_1.0_quant.tflite
    pi-vision-evaluate models/ssd_mbv1_0.5_160.tflite models/ssd_mbv1_1.0_224.tflite
    pi-vision-evaluate runs/raccoon/models/raccoon_mbv1_0.25_160.tflite \
        --annotations runs/raccoon/holdout.json --images / --json runs/eval.json
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path


from pi_vision.paths import shared_data_dir
from pi_vision.training.evaluate import evaluate_model, write_results
from pi_vision.training.yardsticks import load_yardstick, missing, score_model


def main() -> int:
    parser = argparse.ArgumentParser(prog="pi-vision-evaluate", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path, nargs="+", help=".tflite detection model(s)")
    parser.add_argument("--annotations", type=Path, help="a COCO JSON set instead of the yardsticks")
    parser.add_argument("--images", type=Path, help="its images folder")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-images", type=int, default=None)
    parser.add_argument("--json", type=Path, help="write the numbers of the (last) model here (with --annotations)")
    parser.add_argument("-v", "--verbose", action="store_true", help="print pycocotools' full summary")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    if args.annotations is None:
        data = shared_data_dir()
        if missing(data):
            print(f"pi-vision-evaluate: {', '.join(missing(data))} not found under {data}; set PI_VISION_DATA or give "
                  "--annotations and --images", file=sys.stderr)
            return 2
        yardstick = load_yardstick(data)
        print("| model | coco128 mAP / mAP@.5 | coco_mini80 | pooled |")
        print("|---|---|---|---|")
        for model in args.model:
            scores = score_model(model, yardstick, args.threads)
            print(f"| {model.stem} | " + " | ".join(f"{m:.3f} / {m50:.3f}" for m, m50 in scores.values()) + " |",
                  flush=True)
        return 0
    for model in args.model:
        result = evaluate_model(model, args.annotations, args.images or args.annotations.parent, args.threads,
                                args.max_images)
        print(f"{model}: mAP {result.map:.3f}  mAP@.5 {result.map50:.3f}  "
              f"({result.images} images, {result.detections} detections, invoke {result.mean_invoke_ms:.1f} ms)")
        if args.json:
            write_results(result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
