"""One training or evaluation image and its human labels (None when unlabelled)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from pi_vision.training.box_labels import BoxLabels


@dataclass
class Sample:
    image: Path
    labels: BoxLabels | None = None


def load_rgb(path: Path) -> np.ndarray:
    """Read an image file as RGB uint8, raising when it cannot be decoded."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise OSError(f"cannot read image {path}")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
