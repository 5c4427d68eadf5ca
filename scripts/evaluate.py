#!/usr/bin/env python3
"""COCO mAP of a detection .tflite on coco128 (or any COCO JSON set).

    python scripts/evaluate.py ../shared/data/reference/coco_ssd_mobilenet_v1_1.0_quant.tflite
    python scripts/evaluate.py models/ssd_mbv1_0.5_160.tflite --json runs/eval.json
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pi_vision.paths import shared_data_dir  # noqa: E402
from pi_vision.training.evaluate import evaluate_model, write_results  # noqa: E402


def main() -> int:
    coco128 = shared_data_dir() / "coco128"
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path, nargs="+", help=".tflite detection model(s)")
    parser.add_argument("--annotations", type=Path, default=coco128 / "instances_train2017.json")
    parser.add_argument("--images", type=Path, default=coco128 / "images")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-images", type=int, default=None)
    parser.add_argument("--json", type=Path, help="write the numbers of the (last) model here")
    parser.add_argument("-v", "--verbose", action="store_true", help="print pycocotools' full summary")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    for model in args.model:
        result = evaluate_model(model, args.annotations, args.images, args.threads, args.max_images)
        print(f"{model}: mAP {result.map:.3f}  mAP@.5 {result.map50:.3f}  "
              f"({result.images} images, {result.detections} detections, invoke {result.mean_invoke_ms:.1f} ms)")
        if args.json:
            write_results(result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
