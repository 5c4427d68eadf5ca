"""YOLO txt labels: one ``class cx cy w h`` line per box, normalised, beside or apart from the images."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from pi_vision.training.data.images import list_images
from pi_vision.training.data.sample import Sample
from pi_vision.training.box_labels import BoxLabels

log = logging.getLogger(__name__)


def read_yolo(images_dir: Path, labels_dir: Path | None = None) -> list[Sample]:
    """Samples for every image; an image without a label file has no objects."""
    labels_dir = Path(labels_dir) if labels_dir is not None else Path(images_dir)
    samples = []
    for image in list_images(Path(images_dir)):
        txt = labels_dir / (image.stem + ".txt")
        rows = np.zeros((0, 5), dtype=np.float32)
        if txt.exists():
            text = txt.read_text().strip()
            if text:
                rows = np.array([line.split()[:5] for line in text.splitlines() if line.strip()], dtype=np.float32)
        cls, cx, cy, w, h = rows.T if len(rows) else (np.zeros(0),) * 5
        boxes = np.stack([cy - h / 2, cx - w / 2, cy + h / 2, cx + w / 2], axis=1) if len(rows) else np.zeros((0, 4))
        samples.append(Sample(image, BoxLabels(np.clip(boxes, 0, 1), cls.astype(np.int32), np.ones(len(rows)))))
    log.info("YOLO %s: %d images", images_dir, len(samples))
    return samples
