"""Assembles the training set of each recipe (shared by the scripts and the tests)."""
from __future__ import annotations

import json
import logging
import xml.etree.ElementTree as ET
from pathlib import Path

from pi_vision.paths import reference_model
from pi_vision.training.data.pseudo_labels import PseudoLabelCache
from pi_vision.training.data.recipes import coco_distillation_samples, voc_split
from pi_vision.training.data.sample import Sample, load_rgb
from pi_vision.training.loader import ImageStore
from pi_vision.training.teacher import Teacher, TeacherConfig

log = logging.getLogger(__name__)

# Teacher labels below this confidence are left out of training (the cache keeps >= 0.05):
# they are mostly faint guesses that dilute the targets of the real objects.
MIN_PSEUDO_SCORE = 0.3


def coco_store(data_dir: Path, cache_dir: Path, max_images: int | None = None,
               min_pseudo_score: float = MIN_PSEUDO_SCORE, hard_pseudo_labels: bool = False,
               teacher_config: TeacherConfig = TeacherConfig()) -> ImageStore:
    """Distillation set: every recipe image with cached teacher labels (computed on first use)."""
    samples = coco_distillation_samples(data_dir, cache_dir / "frames")
    if max_images is not None:
        samples = samples[::max(1, len(samples) // max_images)][:max_images]
    cache = PseudoLabelCache(cache_dir / "teacher", Teacher(reference_model(), teacher_config))
    cache.fill(samples)
    return ImageStore(samples, cache, min_pseudo_score=min_pseudo_score, hard_pseudo_labels=hard_pseudo_labels)


def voc_class_names(annotations_dir: Path) -> list[str]:
    """Every object name in a VOC folder, sorted."""
    names = set()
    for xml_path in Path(annotations_dir).glob("*.xml"):
        names.update(o.findtext("name", "").strip() for o in ET.parse(xml_path).getroot().iter("object"))
    return sorted(n for n in names if n)


def voc_store(annotations_dir: Path, images_dir: Path, class_names: list[str], holdout: float,
              out_dir: Path) -> ImageStore:
    """Human-labelled custom set; the held-out part is written as COCO JSON for evaluate.py."""
    train, held = voc_split(annotations_dir, images_dir, class_names, holdout)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_coco_json(held, class_names, out_dir / "holdout.json")
    log.info("VOC: %d training, %d held-out images (%s)", len(train), len(held), out_dir / "holdout.json")
    return ImageStore(train, None)


def write_coco_json(samples: list[Sample], class_names: list[str], path: Path) -> None:
    """Ground truth in COCO form (absolute image paths as file names), category id = index + 1."""
    images, annotations = [], []
    for image_id, sample in enumerate(samples, start=1):
        h, w = load_rgb(sample.image).shape[:2]
        images.append({"id": image_id, "file_name": str(Path(sample.image).resolve()), "width": w, "height": h})
        for box, cls in zip(sample.labels.boxes, sample.labels.classes):
            y1, x1, y2, x2 = (float(v) for v in box * [h, w, h, w])
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": int(cls) + 1,
                                "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1), "iscrowd": 0})
    categories = [{"id": i + 1, "name": n} for i, n in enumerate(class_names)]
    path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": categories}))
