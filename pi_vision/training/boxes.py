"""Box arithmetic on [ymin, xmin, ymax, xmax] arrays (normalised or pixels alike)."""
from __future__ import annotations

import cv2
import numpy as np


def anchors_to_corners(anchors: np.ndarray) -> np.ndarray:
    """[cy, cx, h, w] -> [ymin, xmin, ymax, xmax]."""
    cy, cx, h, w = anchors.T
    return np.stack([cy - h / 2, cx - w / 2, cy + h / 2, cx + w / 2], axis=1).astype(np.float32)


def batched_nms(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray,
                iou_threshold: float, max_keep: int) -> np.ndarray:
    """Per-class NMS; returns kept indexes, best score first (OpenCV does the work)."""
    if len(boxes) == 0:
        return np.zeros(0, dtype=np.int64)
    # OpenCV wants [x, y, w, h]; scale up so its float rounding cannot merge tiny boxes.
    xywh = np.stack([boxes[:, 1], boxes[:, 0], boxes[:, 3] - boxes[:, 1], boxes[:, 2] - boxes[:, 0]], axis=1) * 1000.0
    keep = cv2.dnn.NMSBoxesBatched(xywh.tolist(), scores.astype(float).tolist(), classes.astype(int).tolist(),
                                   0.0, float(iou_threshold))
    keep = np.asarray(keep, dtype=np.int64).reshape(-1)
    keep = keep[np.argsort(-scores[keep], kind="stable")]
    return keep[:max_keep]
