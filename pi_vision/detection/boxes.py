"""Box arithmetic shared by the tracker, compare mode and training."""
from __future__ import annotations

import cv2
import numpy as np


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in ``a`` (N, 4) with every box in ``b`` (M, 4), as (N, M).

    Boxes are corner pairs, [x1, y1, x2, y2] or [ymin, xmin, ymax, xmax] alike: IoU does
    not depend on which axis comes first, as long as both arrays use the same order.
    """
    a = np.asarray(a, dtype=np.float64)[:, None, :]
    b = np.asarray(b, dtype=np.float64)[None, :, :]
    iw = np.maximum(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0.0)
    ih = np.maximum(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0.0)
    inter = iw * ih
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    union = area_a + area_b - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def batched_nms(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray,
                iou_threshold: float, max_keep: int) -> np.ndarray:
    """Per-class NMS of corner boxes; returns kept indexes, best score first (OpenCV does the work)."""
    if len(boxes) == 0:
        return np.zeros(0, dtype=np.int64)
    # OpenCV wants [x, y, w, h] (IoU does not care which axis is which); scale up so its
    # float rounding cannot merge tiny boxes.
    xywh = np.stack([boxes[:, 1], boxes[:, 0], boxes[:, 3] - boxes[:, 1], boxes[:, 2] - boxes[:, 0]], axis=1) * 1000.0
    keep = cv2.dnn.NMSBoxesBatched(xywh.tolist(), scores.astype(float).tolist(), classes.astype(int).tolist(),
                                   0.0, float(iou_threshold))
    keep = np.asarray(keep, dtype=np.int64).reshape(-1)
    keep = keep[np.argsort(-scores[keep], kind="stable")]
    return keep[:max_keep]
