#!/usr/bin/env python3
"""Convert a training run to .tflite files (TFLite_Detection_PostProcess inside, labels packed)
and write a model card for each, scored on coco128 (and coco_mini80, pooled) for a COCO run,
on the run's own held-out part for a custom (VOC) run, or on any COCO JSON set given.

    pi-vision-convert runs/ssd_mbv1_0.5 --sizes 128 160 192 224 --precision int8
    pi-vision-convert runs/ssd_mbv1_0.5 --sizes 160 --precision int8 float
    pi-vision-convert runs/raccoon --prefix raccoon_mbv1 --sizes 160 --out runs/raccoon/models
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path


from pi_vision.paths import MODELS_DIR, shared_data_dir
from pi_vision.training.classes import COCO80_NAMES

# A custom run holds its held-out part here (written by train.py --recipe voc), with absolute image paths.
HOLDOUT = "holdout.json"


def default_eval_set(run: Path, class_names: list[str]) -> tuple[Path, Path] | str:
    """(annotations, images) to score a run on when none are given, or what is wrong."""
    if class_names == list(COCO80_NAMES):
        coco128 = shared_data_dir() / "coco128"
        return coco128 / "instances_train2017.json", coco128 / "images"
    if (run / HOLDOUT).is_file():
        return run / HOLDOUT, Path("/")
    return (f"{run} trains {', '.join(class_names[:3])}{', ...' if len(class_names) > 3 else ''}, not the COCO "
            f"classes, and has no {HOLDOUT}; give --annotations and --images of a set with those classes, or "
            "--no-eval")


def main() -> int:
    parser = argparse.ArgumentParser(prog="pi-vision-convert", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="training output folder (holds checkpoints/)")
    parser.add_argument("--checkpoint", type=Path, help="a checkpoint folder (default: the newest)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 160, 192, 224])
    parser.add_argument("--precision", nargs="+", choices=["int8", "float"], default=["int8"])
    parser.add_argument("--prefix", default="ssd_mbv1")
    parser.add_argument("--out", type=Path, default=MODELS_DIR)
    parser.add_argument("--annotations", type=Path, help="COCO JSON to score on (default: see above)")
    parser.add_argument("--images", type=Path, help="its images folder")
    parser.add_argument("--no-eval", action="store_true")
    args = parser.parse_args()

    from pi_vision.training import checkpoint
    ckpt = args.checkpoint or checkpoint.latest(args.run / "checkpoints")
    if ckpt is None or not (ckpt / checkpoint.STATE).is_file():
        print(f"pi-vision-convert: no checkpoint in {args.run / 'checkpoints'}; give the --out folder of a training run",
              file=sys.stderr)
        return 2
    class_names = json.loads((ckpt / checkpoint.STATE).read_text())["config"]["class_names"]
    annotations, images = args.annotations, args.images
    if annotations is None and not args.no_eval:
        found = default_eval_set(args.run, class_names)
        if isinstance(found, str):
            print(f"pi-vision-convert: {found}", file=sys.stderr)
            return 2
        annotations, images = found
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    from pi_vision.training.export import EvalSet, export_run
    from pi_vision.training.yardsticks import load_yardstick, missing
    eval_set = None if args.no_eval else EvalSet(annotations.parent.name + "/" + annotations.name, annotations,
                                                 images or annotations.parent)
    # COCO models are also scored on coco_mini80 and on both yardsticks pooled.
    on_coco128 = annotations == shared_data_dir() / "coco128" / "instances_train2017.json"
    yardstick = load_yardstick(shared_data_dir()) if eval_set and on_coco128 and not missing(shared_data_dir()) \
        else None
    for path in export_run(args.run, args.out, args.sizes, args.precision, shared_data_dir(), eval_set,
                           ckpt, args.prefix, yardstick=yardstick):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
