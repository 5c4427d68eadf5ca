"""Repeat-factor sampling (Gupta et al., LVIS): draw images with rare classes more often.

The distillation photos follow the teacher's long tail - a person in 2,316 of 4,739
images, a zebra in 17 - and coco128's mAP averages over classes, so the rare ones
matter as much as people. An image's repeat factor is the largest, over the classes it
shows, of max(1, sqrt(threshold / f_c)), where f_c is the fraction of images showing
class c.
"""
from __future__ import annotations

import numpy as np

from pi_vision.training.box_labels import BoxLabels


def repeat_factors(labels: list[BoxLabels], num_classes: int, threshold: float, min_score: float = 0.5) -> np.ndarray:
    """Per-image repeat factor (>= 1); a class counts as shown when a label reaches ``min_score``."""
    shown = [np.unique(l.classes[l.scores >= min_score]) for l in labels]
    images_with = np.zeros(num_classes)
    for classes in shown:
        images_with[classes] += 1
    frequency = images_with / max(len(labels), 1)
    per_class = np.maximum(1.0, np.sqrt(threshold / np.maximum(frequency, 1e-12)))
    return np.array([per_class[classes].max() if len(classes) else 1.0 for classes in shown])


def sampling_probabilities(labels: list[BoxLabels], num_classes: int, threshold: float,
                           group: np.ndarray | None = None, group_share: float | None = None) -> np.ndarray | None:
    """Probabilities to draw each image with, or None for uniform draws (threshold 0, no share).

    With ``group`` (a mask over the images) and ``group_share``, the group's images together
    get that share of the draws and the others the rest, each side split as it would be alone."""
    factors = repeat_factors(labels, num_classes, threshold) if threshold > 0 else np.ones(len(labels))
    if group is None or group_share is None:
        return factors / factors.sum() if threshold > 0 else None
    group = np.asarray(group, dtype=bool)
    if not 0.0 <= group_share <= 1.0:
        raise ValueError(f"group_share must be in [0, 1], not {group_share}")
    if not group.any() or group.all():
        return factors / factors.sum()
    inside, outside = factors * group, factors * ~group
    return group_share * inside / inside.sum() + (1.0 - group_share) * outside / outside.sum()
