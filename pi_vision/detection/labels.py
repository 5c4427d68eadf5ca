"""Class labels of a detector: packed in the model, beside it, or from a given file."""
from __future__ import annotations

import logging
import zipfile
from pathlib import Path

from pi_vision.errors import UserError
from pi_vision.detection.model_file import PACKED_LABEL_NAMES

log = logging.getLogger(__name__)



def _parse(text: str) -> list[str]:
    lines = [line.strip() for line in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def packed_labels(model_path: Path) -> list[str] | None:
    """Labels from the zip archive that TFLite metadata appends to a model file."""
    if not zipfile.is_zipfile(model_path):
        return None
    with zipfile.ZipFile(model_path) as archive:
        names = archive.namelist()
        for name in list(PACKED_LABEL_NAMES) + [n for n in names if n.endswith(".txt")]:
            if name in names:
                return _parse(archive.read(name).decode("utf-8"))
    return None


def load_labels(model_path: Path, labels_file: str = "") -> list[str]:
    """Explicit file, else packed labels, else ``<model>.labels.txt`` beside it, else none."""
    if labels_file:
        try:
            return _parse(Path(labels_file).read_text())
        except OSError as e:
            raise UserError(f"labels error: cannot read {labels_file}: {e.strerror}; fix detector.labels / --labels")
    labels = packed_labels(model_path)
    if labels is not None:
        log.info("labels: %d packed in %s", len(labels), model_path.name)
        return labels
    beside = model_path.with_suffix(".labels.txt")
    if beside.is_file():
        log.info("labels: %d from %s", len(labels := _parse(beside.read_text())), beside.name)
        return labels
    log.warning("no labels for %s: classes are shown as numbers (pass --labels FILE)", model_path.name)
    return []


def label_name(labels: list[str], class_id: int) -> str:
    return labels[class_id] if 0 <= class_id < len(labels) else f"class {class_id}"
