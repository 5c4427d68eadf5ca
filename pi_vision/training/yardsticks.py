"""The labelled COCO yardsticks (never trained on), scored alone and pooled.

coco128 (128 images) alone is noisy at about 0.01 mAP; coco_mini80 adds 80 other COCO
images. Both are merged into one ground truth with their image ids kept apart, so one
detection pass scores each set and the pooled 208 images.
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
from pycocotools.coco import COCO

from pi_vision.training.evaluate import coco_stats

YARDSTICKS = ("coco128", "coco_mini80")
POOLED = "pooled"
# Image and annotation ids of the k-th set are offset by k times this.
ID_OFFSET = 1_000_000

# One image (BGR) -> COCO result dicts without image_id: category_id, bbox [x, y, w, h] in pixels, score.
DetectFn = Callable[["cv2.Mat"], list[dict]]


@dataclass
class Yardstick:
    gt: COCO
    image_ids: dict[str, list[int]]   # set name (and "pooled") -> its image ids in ``gt``
    paths: dict[int, Path]            # image id -> file

    def score(self, detect: DetectFn, name: str) -> dict[str, tuple[float, float]]:
        """(mAP, mAP@.5) of ``detect`` on each set and pooled."""
        results = []
        for image_id, path in self.paths.items():
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None:
                raise OSError(f"cannot read image {path}")
            results += [dict(r, image_id=image_id) for r in detect(image)]
        scores = {}
        for set_name, ids in self.image_ids.items():
            stats = coco_stats(self.gt, [r for r in results if r["image_id"] in set(ids)], ids, f"{name} {set_name}")
            scores[set_name] = (stats[0], stats[1])
        return scores


def missing(data_dir: Path) -> list[str]:
    return [name for name in YARDSTICKS if not (Path(data_dir) / name / "instances_train2017.json").exists()]


def load_yardstick(data_dir: Path) -> Yardstick:
    merged = {"images": [], "annotations": [], "categories": None}
    image_ids: dict[str, list[int]] = {}
    paths: dict[int, Path] = {}
    for k, name in enumerate(YARDSTICKS):
        folder = Path(data_dir) / name
        data = json.loads((folder / "instances_train2017.json").read_text())
        merged["categories"] = merged["categories"] or data["categories"]
        image_ids[name] = []
        for image in data["images"]:
            image = dict(image, id=image["id"] + k * ID_OFFSET)
            merged["images"].append(image)
            image_ids[name].append(image["id"])
            paths[image["id"]] = folder / "images" / image["file_name"]
        for ann in data["annotations"]:
            ann = copy.copy(ann)
            ann.pop("segmentation", None)
            merged["annotations"].append(dict(ann, id=ann["id"] + k * ID_OFFSET, image_id=ann["image_id"] + k * ID_OFFSET))
    image_ids[POOLED] = [i for name in YARDSTICKS for i in image_ids[name]]
    gt = COCO()
    gt.dataset = merged
    gt.createIndex()
    return Yardstick(gt, image_ids, paths)


def score_model(model_path: Path, yardstick: Yardstick, num_threads: int = 2) -> dict[str, tuple[float, float]]:
    """(mAP, mAP@.5) of a detection .tflite on each yardstick and pooled, as the app runs it."""
    from pi_vision.config import DetectorConfig
    from pi_vision.detection.detector import TFLiteDetector
    from pi_vision.training.evaluate import coco_results, label_to_category

    detector = TFLiteDetector(DetectorConfig(model=str(model_path), threads=num_threads, score_threshold=0.0))
    to_category = label_to_category(detector.labels, yardstick.gt.loadCats(yardstick.gt.getCatIds()))
    return yardstick.score(lambda image: coco_results(detector, image, to_category), Path(model_path).name)
