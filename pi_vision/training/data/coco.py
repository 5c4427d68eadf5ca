"""COCO instance JSON."""
from __future__ import annotations

import json
import logging
from collections import defaultdict
from pathlib import Path

import numpy as np

from pi_vision.training.data.sample import Sample
from pi_vision.training.box_labels import BoxLabels

log = logging.getLogger(__name__)


def read_coco(json_path: Path, images_dir: Path, category_to_index: dict[int, int]) -> list[Sample]:
    """Samples for every image in the JSON; ``category_to_index`` maps COCO category ids to
    class indexes (categories it lacks are dropped). Crowd boxes are skipped."""
    data = json.loads(Path(json_path).read_text())
    per_image = defaultdict(list)
    for ann in data["annotations"]:
        if ann.get("iscrowd", 0) or ann["category_id"] not in category_to_index:
            continue
        per_image[ann["image_id"]].append(ann)
    samples = []
    for img in sorted(data["images"], key=lambda i: i["file_name"]):
        w, h = float(img["width"]), float(img["height"])
        anns = per_image[img["id"]]
        boxes = [[a["bbox"][1] / h, a["bbox"][0] / w, (a["bbox"][1] + a["bbox"][3]) / h,
                  (a["bbox"][0] + a["bbox"][2]) / w] for a in anns]
        classes = [category_to_index[a["category_id"]] for a in anns]
        labels = BoxLabels(np.array(boxes, dtype=np.float32).reshape(-1, 4), classes, np.ones(len(classes)))
        samples.append(Sample(Path(images_dir) / img["file_name"], labels))
    log.info("COCO %s: %d images", json_path, len(samples))
    return samples
