#!/usr/bin/env python3
"""Convert a training run to .tflite files (TFLite_Detection_PostProcess inside, labels packed)
and write a model card for each, with its mAP on coco128 (or a held-out COCO JSON).

    python scripts/convert.py runs/ssd_mbv1_0.5 --sizes 128 160 192 224 --precision int8
    python scripts/convert.py runs/ssd_mbv1_0.5 --sizes 160 --precision int8 float
    python scripts/convert.py runs/raccoon --prefix raccoon_mbv1 --sizes 160 \
        --annotations runs/raccoon/holdout.json --images / --out runs/raccoon/models
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pi_vision.paths import MODELS_DIR, shared_data_dir  # noqa: E402


def main() -> int:
    coco128 = shared_data_dir() / "coco128"
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="training output folder (holds checkpoints/)")
    parser.add_argument("--checkpoint", type=Path, help="a checkpoint folder (default: the newest)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 160, 192, 224])
    parser.add_argument("--precision", nargs="+", choices=["int8", "float"], default=["int8"])
    parser.add_argument("--prefix", default="ssd_mbv1")
    parser.add_argument("--out", type=Path, default=MODELS_DIR)
    parser.add_argument("--annotations", type=Path, default=coco128 / "instances_train2017.json")
    parser.add_argument("--images", type=Path, default=coco128 / "images")
    parser.add_argument("--no-eval", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    from pi_vision.training.export import EvalSet, export_run
    from pi_vision.training.yardsticks import load_yardstick, missing
    eval_set = None if args.no_eval else EvalSet(args.annotations.parent.name + "/" + args.annotations.name,
                                                 args.annotations, args.images)
    # COCO models are also scored on coco_mini80 and on both yardsticks pooled.
    on_coco128 = args.annotations == coco128 / "instances_train2017.json"
    yardstick = load_yardstick(shared_data_dir()) if eval_set and on_coco128 and not missing(shared_data_dir()) \
        else None
    for path in export_run(args.run, args.out, args.sizes, args.precision, shared_data_dir(), eval_set,
                           args.checkpoint, args.prefix, yardstick=yardstick):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
