#!/usr/bin/env python3
"""Train a MobileNet v1 SSDLite detector. Re-run the same command to resume.

COCO classes, distilled from the teachers (labels cached in runs/cache):
    pi-vision-train --alpha 0.5 --out runs/ssd_mbv1_0.5

A custom Pascal VOC set (a part is held out and written as COCO JSON for evaluate.py):
    pi-vision-train --recipe voc --voc ../shared/data/raccoon --alpha 0.25 \\
        --sizes 160 --steps 1500 --out runs/raccoon

The flags are made from the fields of DataConfig (image_sets.py), TrainConfig (train_config.py)
and AugmentConfig (augment.py), where each is described.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path


from pi_vision.paths import shared_data_dir
from pi_vision.settings import OneLineParser, SettingError, add_flags, flag_of, given_flags
from pi_vision.training.augment import AugmentConfig
from pi_vision.training.image_sets import DataConfig
from pi_vision.training.train_config import TrainConfig


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = OneLineParser(prog="pi-vision-train", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_flags(parser, DataConfig, prefix="data.", title="data")
    add_flags(parser, TrainConfig, prefix="train.", title="training")
    add_flags(parser, AugmentConfig, prefix="augment.", title="augmentation")
    parser.add_argument("--label-only", action="store_true", help="fill the teacher-label cache and stop")
    args = parser.parse_args(argv)
    if "train.out_dir" not in args:
        parser.error("--out FOLDER is required (the run folder; re-running resumes it)")
    return args


def build_configs(args: argparse.Namespace) -> tuple[DataConfig, TrainConfig]:
    """The run's configs from the flags; raises SettingError (a one-line problem) when one is wrong."""
    data = DataConfig(**given_flags(DataConfig, args, "data."))
    augment = given_flags(AugmentConfig, args, "augment.")
    AugmentConfig(**augment)  # checked now, before hours of labelling
    train = TrainConfig(**given_flags(TrainConfig, args, "train."), augment=augment)
    from pi_vision.training import checkpoint
    for key, flag in (("init_from", "--init-from"), ("distil_from", "--distil-from")):
        run = getattr(train, key)
        if run is not None and checkpoint.latest(Path(run) / "checkpoints") is None:
            raise SettingError(key, f"{flag} {run}: no checkpoint in {Path(run) / 'checkpoints'}; give the --out "
                                    "folder of an earlier training run")
    return data, train


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        data, train = build_configs(args)
    except SettingError as e:
        flag = flag_of(e.key, DataConfig, TrainConfig, AugmentConfig)
        value = f"{e.value:g}" if isinstance(e.value, (int, float)) else e.value
        print(f"pi-vision-train: {f'{flag} {value} is not {e.must}' if e.must else e}", file=sys.stderr)
        return 2
    train.out_dir.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s",
                        handlers=[logging.StreamHandler(), logging.FileHandler(train.out_dir / "train.log")])
    (train.out_dir / "train.pid").write_text(str(os.getpid()))
    from pi_vision.training import image_sets
    store, class_names, record = image_sets.build_store(data, shared_data_dir(), train.out_dir)
    if args.label_only:
        return 0
    from pi_vision.training.trainer import Trainer  # TensorFlow loads here, after the cheap checks
    from dataclasses import replace
    Trainer(replace(train, class_names=class_names, data=record), store).run()
    print(f"done: {train.out_dir / 'checkpoints'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
