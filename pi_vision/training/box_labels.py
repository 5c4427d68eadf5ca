"""The label set of one training image: boxes with a class and a confidence."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class BoxLabels:
    """``boxes`` (N, 4) [ymin, xmin, ymax, xmax] normalised to the image; ``scores`` is 1.0
    for human labels and the teacher's confidence for pseudo-labels (a soft target)."""

    boxes: np.ndarray
    classes: np.ndarray
    scores: np.ndarray

    def __post_init__(self) -> None:
        self.boxes = np.asarray(self.boxes, dtype=np.float32).reshape(-1, 4)
        self.classes = np.asarray(self.classes, dtype=np.int32).reshape(-1)
        self.scores = np.asarray(self.scores, dtype=np.float32).reshape(-1)

    @classmethod
    def empty(cls) -> "BoxLabels":
        return cls(np.zeros((0, 4)), np.zeros(0), np.zeros(0))

    def __len__(self) -> int:
        return len(self.classes)

    def select(self, index) -> "BoxLabels":
        return BoxLabels(self.boxes[index], self.classes[index], self.scores[index])

    @staticmethod
    def concat(parts: list["BoxLabels"]) -> "BoxLabels":
        if not parts:
            return BoxLabels.empty()
        return BoxLabels(np.concatenate([p.boxes for p in parts]), np.concatenate([p.classes for p in parts]),
                         np.concatenate([p.scores for p in parts]))
