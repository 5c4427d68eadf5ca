"""Anchor assignment: per-anchor soft class targets and box regression targets.

A label may be a teacher box with a confidence below 1. Every anchor overlapping a label
with IoU >= ``positive_iou`` takes, per class, the highest confidence of such labels as
its target probability, so the student learns the teacher's uncertainty rather than a
thresholded yes/no. Anchors in the grey zone between ``negative_iou`` and
``positive_iou`` are left out of the class loss.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pi_vision.detection.anchors import encode_boxes
from pi_vision.detection.boxes import iou_matrix
from pi_vision.detection.anchors import anchors_to_corners
from pi_vision.training.box_labels import BoxLabels


@dataclass(frozen=True)
class MatchConfig:
    positive_iou: float = 0.5
    negative_iou: float = 0.4
    # Labels at least this confident also claim their best anchor even below positive_iou,
    # so small or oddly shaped objects are never left without an anchor.
    force_match_score: float = 0.2


@dataclass
class Targets:
    classes: np.ndarray      # (A, C) float32 target probabilities
    boxes: np.ndarray        # (A, 4) float32 encodings
    box_weights: np.ndarray  # (A,) float32: the confidence of the label each anchor regresses to, 0 if none
    class_weights: np.ndarray  # (A,) float32: 0 for the grey zone


class AnchorMatcher:
    """Matches labels to a fixed anchor set.

    IoU never exceeds the ratio of the two areas, so a label is only compared with the layers
    holding an anchor shape within ``negative_iou`` of its area; that skips most of the
    (anchors x labels) work, which otherwise dominates the data pipeline.
    """

    def __init__(self, anchors: np.ndarray, num_classes: int, config: MatchConfig = MatchConfig(),
                 layer_sizes: list[int] | None = None):
        self.anchors = anchors
        self.corners = anchors_to_corners(anchors)
        self.num_classes = num_classes
        self.config = config
        areas = anchors[:, 2] * anchors[:, 3]
        bounds = np.cumsum([0] + list(layer_sizes or [len(anchors)]))
        self._layers = [(int(a), int(b), np.unique(areas[a:b])) for a, b in zip(bounds[:-1], bounds[1:])]

    def _pairs(self, labels: BoxLabels) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(anchor index, label index, IoU) of the pairs with IoU >= negative_iou, and each label's best anchor."""
        box_area = (labels.boxes[:, 2] - labels.boxes[:, 0]) * (labels.boxes[:, 3] - labels.boxes[:, 1])
        ratios = []
        for _, _, shapes in self._layers:
            r = np.minimum(box_area[:, None], shapes[None, :]) / np.maximum(box_area[:, None], shapes[None, :])
            ratios.append(r.max(axis=1))
        ratios = np.stack(ratios, axis=1)                                   # (D, layers)
        use = ratios >= self.config.negative_iou
        use[np.arange(len(labels)), ratios.argmax(axis=1)] = True           # every label meets its best layer
        best_iou = np.full(len(labels), -1.0, dtype=np.float32)
        best_anchor = np.zeros(len(labels), dtype=np.int64)
        anchor_idx, label_idx, ious = [], [], []
        for layer, (start, end, _) in enumerate(self._layers):
            members = np.nonzero(use[:, layer])[0]
            if len(members) == 0:
                continue
            iou = iou_matrix(self.corners[start:end], labels.boxes[members])
            a, d = np.nonzero(iou >= self.config.negative_iou)
            anchor_idx.append(a + start)
            label_idx.append(members[d])
            ious.append(iou[a, d])
            layer_best = iou.argmax(axis=0)
            layer_best_iou = iou[layer_best, np.arange(len(members))]
            better = layer_best_iou > best_iou[members]
            best_iou[members[better]] = layer_best_iou[better]
            best_anchor[members[better]] = layer_best[better] + start
        return np.concatenate(anchor_idx), np.concatenate(label_idx), np.concatenate(ious).astype(np.float32), best_anchor

    def __call__(self, labels: BoxLabels) -> Targets:
        a_count, c = len(self.anchors), self.num_classes
        classes = np.zeros((a_count, c), dtype=np.float32)
        boxes = np.zeros((a_count, 4), dtype=np.float32)
        box_weights = np.zeros(a_count, dtype=np.float32)
        class_weights = np.ones(a_count, dtype=np.float32)
        if len(labels) == 0:
            return Targets(classes, boxes, box_weights, class_weights)
        anchor_idx, label_idx, iou, best_anchor = self._pairs(labels)
        positive = iou >= self.config.positive_iou
        # Confident labels also claim their best anchor, whatever its IoU.
        forced = np.nonzero(labels.scores >= self.config.force_match_score)[0]
        anchor_idx = np.concatenate([anchor_idx, best_anchor[forced]])
        label_idx = np.concatenate([label_idx, forced])
        iou = np.concatenate([iou, np.full(len(forced), self.config.positive_iou, dtype=np.float32)])
        positive = np.concatenate([positive, np.ones(len(forced), dtype=bool)])
        pa, pl = anchor_idx[positive], label_idx[positive]
        np.maximum.at(classes, (pa, labels.classes[pl]), labels.scores[pl])
        # Each positive anchor regresses to the label with the best confidence x IoU.
        quality = iou[positive] * labels.scores[pl]
        order = np.lexsort((-quality, pa))
        best = order[np.r_[True, pa[order][1:] != pa[order][:-1]]] if len(order) else order
        owner_anchor, owner_label = pa[best], pl[best]
        boxes[owner_anchor] = encode_boxes(labels.boxes[owner_label], self.anchors[owner_anchor])
        box_weights[owner_anchor] = labels.scores[owner_label]
        max_iou = np.zeros(a_count, dtype=np.float32)
        np.maximum.at(max_iou, anchor_idx, iou)
        grey = (max_iou >= self.config.negative_iou) & (box_weights == 0)
        class_weights[grey] = 0.0
        return Targets(classes, boxes, box_weights, class_weights)
