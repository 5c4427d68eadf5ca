#!/usr/bin/env python3
"""Train a MobileNet v1 SSDLite detector. Re-run the same command to resume.

COCO classes, distilled from the reference detector (pseudo-labels cached in runs/cache):
    python scripts/train.py --alpha 0.5 --out runs/ssd_mbv1_0.5

A custom Pascal VOC set (a part is held out and written as COCO JSON for evaluate.py):
    python scripts/train.py --recipe voc --voc ../shared/data/raccoon --alpha 0.25 \
        --sizes 160 --steps 1500 --out runs/raccoon
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pi_vision.paths import REPO_DIR, shared_data_dir  # noqa: E402
from pi_vision.training.augment import AugmentConfig  # noqa: E402
from pi_vision.training.classes import COCO80_NAMES  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", choices=["coco", "voc"], default="coco")
    parser.add_argument("--voc", type=Path, help="VOC folder with annotations/ and images/ (recipe voc)")
    parser.add_argument("--classes", nargs="+", help="VOC class names (default: every name in the XMLs)")
    parser.add_argument("--holdout", type=float, default=0.2, help="fraction of a VOC set kept for evaluation")
    parser.add_argument("--alpha", type=float, default=0.5)
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 160, 192, 224], help="input sizes, one per batch")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=10000)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--checkpoint-every", type=int, default=250)
    parser.add_argument("--min-pseudo-score", type=float, default=None,
                        help="train on teacher labels at least this confident (default: jobs.MIN_PSEUDO_SCORE)")
    parser.add_argument("--teacher", choices=["reference", "yolox", "fused"], default="fused",
                        help="who labels the distillation photos: the reference SSD, YOLOX-Nano, or both fused "
                             "(YOLOX's scores calibrated onto the reference's, weighted box fusion)")
    parser.add_argument("--scene-share", type=float, default=None,
                        help="share of the draws from the COCO scene photos (unlabeled/coco_train2014_256); "
                             "default: their natural share")
    parser.add_argument("--teacher-tiles", type=int, default=2,
                        help="the reference also labels an N x N grid of overlapping tiles (1: the full image only)")
    parser.add_argument("--class-loss", choices=["focal", "softmax"], default="focal",
                        help="focal: sigmoid per class on soft targets; softmax: background + classes with "
                             "hard-negative mining (the original SSD)")
    parser.add_argument("--hard-labels", action="store_true",
                        help="train on kept teacher labels as sure (score 1) instead of their confidence")
    parser.add_argument("--frozen-blocks", type=int, default=0,
                        help="keep conv0 and the first N of the 13 backbone blocks at their ImageNet weights")
    parser.add_argument("--backbone-lr-scale", type=float, default=0.1,
                        help="learning rate of the pretrained backbone as a fraction of --lr")
    parser.add_argument("--backbone-optimizer", choices=["adamw", "sgd"], default="adamw",
                        help="optimizer of the trainable backbone blocks (sgd: momentum 0.9)")
    parser.add_argument("--box-loss-weight", type=float, default=1.0,
                        help="weight of the box loss against the class loss")
    parser.add_argument("--mosaic", type=float, default=AugmentConfig.mosaic_probability,
                        help="probability that a training image is a 2x2 mosaic of four")
    parser.add_argument("--zoom-out", type=float, default=AugmentConfig.zoom_out_probability,
                        help="probability of shrinking an image onto a larger grey canvas")
    parser.add_argument("--paste", type=float, default=AugmentConfig.paste_probability,
                        help="probability that a training image gets 1-3 confident teacher objects from other "
                             "images pasted on it, every class equally often (object paste; 0 = off)")
    parser.add_argument("--init-from", type=Path,
                        help="start from the weights of this run folder's newest checkpoint (same alpha and classes)")
    parser.add_argument("--min-box-pixels", type=float, default=AugmentConfig.min_box_pixels,
                        help="labels smaller than this on a side of the training input are dropped")
    parser.add_argument("--repeat-threshold", type=float, default=0.0,
                        help="repeat-factor sampling: images with classes seen in fewer than this fraction of "
                             "images are drawn more often (e.g. 0.05; 0 = uniform)")
    parser.add_argument("--log-every", type=int, default=25)
    parser.add_argument("--max-images", type=int, help="use only this many images (smoke tests)")
    parser.add_argument("--no-pretrained", action="store_true", help="random backbone instead of ImageNet")
    parser.add_argument("--label-only", action="store_true", help="fill the pseudo-label cache and stop")
    parser.add_argument("--cache", type=Path, default=REPO_DIR / "runs" / "cache")
    parser.add_argument("--out", type=Path, required=True)
    return parser.parse_args()


def input_error(args: argparse.Namespace) -> str | None:
    """What is wrong with the command line, checked before hours of labelling and training."""
    if args.recipe == "voc" and args.voc is None:
        return "--recipe voc needs --voc FOLDER (a folder with annotations/ and images/)"
    for flag in ("mosaic", "zoom_out", "paste", "scene_share"):
        value = getattr(args, flag)
        if value is not None and not 0.0 <= value <= 1.0:
            return f"--{flag.replace('_', '-')} {value:g} is not a probability; give a value from 0 to 1"
    if args.init_from is not None:
        from pi_vision.training import checkpoint
        if checkpoint.latest(args.init_from / "checkpoints") is None:
            return (f"--init-from {args.init_from}: no checkpoint in {args.init_from / 'checkpoints'}; "
                    "give the --out folder of an earlier training run")
    return None


def main() -> int:
    args = parse_args()
    problem = input_error(args)
    if problem:
        print(f"train.py: {problem}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s",
                        handlers=[logging.StreamHandler(), logging.FileHandler(args.out / "train.log")])
    (args.out / "train.pid").write_text(str(os.getpid()))
    from pi_vision.training import jobs  # noqa: E402  (imports TensorFlow-free modules first, fast --help)
    if args.recipe == "coco":
        class_names = list(COCO80_NAMES)
        min_score = jobs.MIN_PSEUDO_SCORE if args.min_pseudo_score is None else args.min_pseudo_score
        from pi_vision.training.teacher import TeacherConfig
        store = jobs.coco_store(shared_data_dir(), args.cache, args.max_images, min_score, args.hard_labels,
                                TeacherConfig(tile_grid=args.teacher_tiles), args.teacher)
    else:
        class_names = args.classes or jobs.voc_class_names(args.voc / "annotations")
        store = jobs.voc_store(args.voc / "annotations", args.voc / "images", class_names, args.holdout, args.out)
    if args.label_only:
        return 0
    from pi_vision.training.trainer import TrainConfig, Trainer
    config = TrainConfig(alpha=args.alpha, class_names=class_names, out_dir=args.out, sizes=args.sizes,
                         batch_size=args.batch_size, steps=args.steps, learning_rate=args.lr,
                         warmup_steps=args.warmup, checkpoint_every=args.checkpoint_every, log_every=args.log_every,
                         pretrained_backbone=not args.no_pretrained, frozen_blocks=args.frozen_blocks,
                         backbone_lr_scale=args.backbone_lr_scale,
                         backbone_optimizer=args.backbone_optimizer,
                         box_loss_weight=args.box_loss_weight, class_loss=args.class_loss,
                         repeat_threshold=args.repeat_threshold, scene_share=args.scene_share,
                         init_from=str(args.init_from) if args.init_from else None,
                         augment={"mosaic_probability": args.mosaic, "zoom_out_probability": args.zoom_out,
                                  "min_box_pixels": args.min_box_pixels, "paste_probability": args.paste},
                         data={"recipe": args.recipe, "images": len(store),
                               **({"min_pseudo_score": min_score, "hard_labels": args.hard_labels,
                                   "teacher_tiles": args.teacher_tiles, "teacher": args.teacher}
                                  if args.recipe == "coco" else {}),
                               "source": str(args.voc) if args.voc else "shared data (see recipes.py)"})
    Trainer(config, store).run()
    print(f"done: {args.out / 'checkpoints'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
