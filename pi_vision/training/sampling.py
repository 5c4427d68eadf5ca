"""Repeat-factor sampling (Gupta et al., LVIS): draw images with rare classes more often.

The distillation photos follow the teacher's long tail - a person in 2,316 of 4,739
images, a zebra in 17 - and coco128's mAP averages over classes, so the rare ones
matter as much as people. An image's repeat factor is the largest, over the classes it
shows, of max(1, sqrt(threshold / f_c)), where f_c is the fraction of images showing
class c.
"""
from __future__ import annotations

import numpy as np

from pi_vision.training.labels import BoxLabels


def repeat_factors(labels: list[BoxLabels], num_classes: int, threshold: float, min_score: float = 0.5) -> np.ndarray:
    """Per-image repeat factor (>= 1); a class counts as shown when a label reaches ``min_score``."""
    shown = [np.unique(l.classes[l.scores >= min_score]) for l in labels]
    images_with = np.zeros(num_classes)
    for classes in shown:
        images_with[classes] += 1
    frequency = images_with / max(len(labels), 1)
    per_class = np.maximum(1.0, np.sqrt(threshold / np.maximum(frequency, 1e-12)))
    return np.array([per_class[classes].max() if len(classes) else 1.0 for classes in shown])


def sampling_probabilities(labels: list[BoxLabels], num_classes: int, threshold: float) -> np.ndarray | None:
    """Probabilities to draw each image with, or None for uniform draws (threshold 0)."""
    if threshold <= 0:
        return None
    factors = repeat_factors(labels, num_classes, threshold)
    return factors / factors.sum()
