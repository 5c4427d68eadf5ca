"""How far one detector's output agrees with another's: mAP@.5, the second taken as truth,
and whether its boxes are larger or smaller than the truth's.

Used by compare mode to show what a cheaper variant loses against the most expensive
one on the very frames the camera sees, without any labels.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from pi_vision.detections import Detections
from pi_vision.detection.boxes import iou_matrix

# COCO's 101 recall points, so the figure reads like pycocotools' AP@.5.
_RECALL_POINTS = np.linspace(0.0, 1.0, 101)


def _class_ap(scores: np.ndarray, true_positive: np.ndarray, n_truth: int) -> float:
    order = np.argsort(-scores, kind="stable")
    tp = np.cumsum(true_positive[order])
    fp = np.cumsum(~true_positive[order])
    recall = tp / n_truth
    precision = tp / np.maximum(tp + fp, 1)
    # Precision envelope: the best precision at this recall or beyond.
    envelope = np.maximum.accumulate(precision[::-1])[::-1]
    index = np.searchsorted(recall, _RECALL_POINTS, side="left")
    return float(np.where(index < len(envelope), envelope[np.minimum(index, len(envelope) - 1)], 0.0).mean())


def map50(predictions: list[Detections], truths: list[Detections], iou_threshold: float = 0.5) -> float:
    """Mean over the truth's classes of AP@``iou_threshold``; frames are aligned lists.

    Returns nan when the truth has no boxes at all (nothing to agree on).
    """
    classes = np.unique(np.concatenate([t.class_ids for t in truths])) if truths else np.zeros(0)
    if classes.size == 0:
        return float("nan")
    aps = []
    for c in classes:
        scores, hits, n_truth = [], [], 0
        for pred, truth in zip(predictions, truths):
            p, t = pred[pred.class_ids == c], truth[truth.class_ids == c]
            n_truth += len(t)
            if len(p) == 0:
                continue
            order = np.argsort(-p.scores, kind="stable")
            iou = iou_matrix(p.boxes[order], t.boxes) if len(t) else np.zeros((len(p), 0))
            taken = np.zeros(len(t), dtype=bool)
            for row in range(len(order)):  # greedy by score, as COCO matches
                candidates = np.where(taken, -1.0, iou[row]) if len(t) else iou[row]
                best = int(np.argmax(candidates)) if len(t) else -1
                hit = best >= 0 and candidates[best] >= iou_threshold
                if hit:
                    taken[best] = True
                hits.append(hit)
            scores.extend(p.scores[order].tolist())
        aps.append(_class_ap(np.array(scores), np.array(hits, dtype=bool), n_truth) if scores else 0.0)
    return float(np.mean(aps))


class BoxFit(NamedTuple):
    truth_boxes: int
    covered: float        # share of truth boxes with a prediction at IoU >= 0.5
    height_ratio: float   # median, predicted over true, of each truth box's best-overlapping prediction
    width_ratio: float


def box_fit(predictions: list[Detections], truths: list[Detections], class_id: int | None = None) -> BoxFit:
    """How the boxes fit the truth's: the share of truth boxes some prediction of their class
    covers at IoU >= 0.5, and the median height and width of each truth box's
    best-overlapping prediction of its class over its own. One class, or all of them.

    mAP@.5 says a model disagrees; this says whether its boxes are too large or too small."""
    n_truth, hits, heights, widths = 0, 0, [], []
    for pred, truth in zip(predictions, truths):
        for c in (np.unique(truth.class_ids) if class_id is None else [class_id]):
            p, t = pred[pred.class_ids == c], truth[truth.class_ids == c]
            n_truth += len(t)
            if len(p) == 0 or len(t) == 0:
                continue
            iou = iou_matrix(t.boxes, p.boxes)
            best = iou.argmax(axis=1)
            found = iou.max(axis=1) > 0.1
            hits += int((iou.max(axis=1) >= 0.5).sum())
            tb, pb = t.boxes[found], p.boxes[best[found]]
            # Boxes are [x1, y1, x2, y2].
            heights += ((pb[:, 3] - pb[:, 1]) / (tb[:, 3] - tb[:, 1])).tolist()
            widths += ((pb[:, 2] - pb[:, 0]) / (tb[:, 2] - tb[:, 0])).tolist()
    median = lambda values: float(np.median(values)) if values else float("nan")  # noqa: E731
    return BoxFit(n_truth, hits / max(n_truth, 1), median(heights), median(widths))
