"""The image sources each training recipe draws on, found under the shared data folder.

coco128 is the evaluation yardstick and is never part of any recipe.
"""
from __future__ import annotations

import logging
import random
from pathlib import Path

from pi_vision.training.classes import COCO80_NAMES
from pi_vision.training.data.images import extract_video_frames, read_image_folder
from pi_vision.training.data.sample import Sample
from pi_vision.training.data.voc import read_voc

log = logging.getLogger(__name__)

# Frame step per video: long near-static clips are thinned so they do not dominate.
VIDEO_FRAME_STEP = {
    "vtest.avi": 2, "car-detection.mp4": 1, "bottle-detection.mp4": 4,
    "traffic_frames.mp4": 1, "carving_ice.mp4": 1, "Megamind.avi": 1,
}


# COCO train2014 photos: everyday scenes like the yardsticks' (not the same images).
COCO_SCENES = "coco_train2014_256"


def is_coco_scene(image: Path) -> bool:
    return Path(image).parent.name == COCO_SCENES


def coco_distillation_samples(data_dir: Path, frames_dir: Path) -> list[Sample]:
    """Everything the reference can teach COCO classes on: unlabelled photos, video frames,
    the raccoon photos (as unlabelled) and the pedestrian frames with their person boxes."""
    samples: list[Sample] = []
    for folder in sorted((data_dir / "unlabeled").iterdir()):
        if folder.is_dir():
            samples += read_image_folder(folder)
    samples += read_image_folder(data_dir / "raccoon" / "images")
    for name, step in VIDEO_FRAME_STEP.items():
        video = data_dir / "videos" / name
        if video.exists():
            samples += extract_video_frames(video, frames_dir / video.stem, every=step)
    samples += read_voc(data_dir / "pedestrians" / "annotations", data_dir / "pedestrians" / "images",
                        list(COCO80_NAMES))
    if any("coco128" in str(s.image) for s in samples):
        raise RuntimeError("coco128 must never be used for training")
    log.info("COCO distillation recipe: %d images", len(samples))
    return samples


def voc_split(annotations_dir: Path, images_dir: Path, class_names: list[str],
              holdout: float, seed: int = 0) -> tuple[list[Sample], list[Sample]]:
    """(train, held-out) split of a VOC set, fixed by ``seed`` so evaluation never sees training images."""
    samples = read_voc(annotations_dir, images_dir, class_names)
    order = list(range(len(samples)))
    random.Random(seed).shuffle(order)
    n_hold = max(1, int(round(len(samples) * holdout)))
    held = [samples[i] for i in sorted(order[:n_hold])]
    train = [samples[i] for i in sorted(order[n_hold:])]
    return train, held
