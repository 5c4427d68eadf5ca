"""Pascal VOC XML annotations (one file per image)."""
from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from pi_vision.training.data.sample import Sample
from pi_vision.training.box_labels import BoxLabels

log = logging.getLogger(__name__)


def read_voc(annotations_dir: Path, images_dir: Path, class_names: list[str]) -> list[Sample]:
    """Samples for every XML file; objects whose name is not in ``class_names`` are ignored
    (e.g. the head-direction labels of the pedestrian set). Class index = position in the list."""
    index = {name: i for i, name in enumerate(class_names)}
    samples = []
    for xml_path in sorted(Path(annotations_dir).glob("*.xml")):
        root = ET.parse(xml_path).getroot()
        image = Path(images_dir) / root.findtext("filename", default=xml_path.stem + ".jpg")
        if not image.exists():
            image = next(iter(Path(images_dir).glob(xml_path.stem + ".*")), image)
        if not image.exists():
            log.warning("no image for %s", xml_path)
            continue
        width = float(root.findtext("size/width"))
        height = float(root.findtext("size/height"))
        boxes, classes = [], []
        for obj in root.iter("object"):
            name = obj.findtext("name", default="").strip()
            if name not in index:
                continue
            bb = obj.find("bndbox")
            x1, y1, x2, y2 = (float(bb.findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax"))
            boxes.append([y1 / height, x1 / width, y2 / height, x2 / width])
            classes.append(index[name])
        labels = BoxLabels(np.clip(np.array(boxes, dtype=np.float32).reshape(-1, 4), 0, 1), classes,
                           np.ones(len(classes)))
        samples.append(Sample(image, labels))
    log.info("VOC %s: %d images", annotations_dir, len(samples))
    return samples
