"""Pseudo-labels from YOLOX-Nano (ONNX), the second and stronger distillation teacher.

The network sees a 416x416 BGR image in 0-255, letterboxed into the top-left corner with
grey (114) padding, and returns one row per grid point of strides 8, 16 and 32: centre
offsets in cells, log sizes in strides, objectness and 80 class probabilities (both
already sigmoid). It keeps every grid point, so threshold and NMS are ours.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from pi_vision.detection.boxes import batched_nms
from pi_vision.training.box_labels import BoxLabels

log = logging.getLogger(__name__)

STRIDES = (8, 16, 32)
PAD_VALUE = 114


@dataclass(frozen=True)
class YoloxConfig:
    min_score: float = 0.05
    nms_iou: float = 0.5
    max_boxes: int = 100
    input_size: int = 416


def grid_offsets(input_size: int) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) cell index and stride of every output row, strides 8, 16, 32 row-major in that order."""
    cells, strides = [], []
    for s in STRIDES:
        n = input_size // s
        ys, xs = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
        cells.append(np.stack([xs.ravel(), ys.ravel()], axis=1))
        strides.append(np.full(n * n, s))
    return np.concatenate(cells).astype(np.float32), np.concatenate(strides).astype(np.float32)[:, None]


def decode(raw: np.ndarray, cells: np.ndarray, strides: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows (N, 85) -> boxes (N, 4) [x1, y1, x2, y2] in input pixels and scores (N, 80)."""
    centre = (raw[:, :2] + cells) * strides
    size = np.exp(np.minimum(raw[:, 2:4], 10.0)) * strides  # clamp: a wild logit must not overflow
    boxes = np.concatenate([centre - size / 2, centre + size / 2], axis=1)
    return boxes, raw[:, 4:5] * raw[:, 5:]


class YoloxTeacher:
    """Wraps the ONNX model; one instance per thread or process."""

    def __init__(self, model_path: Path, config: YoloxConfig = YoloxConfig(), num_threads: int = 1):
        import onnxruntime  # training-only dependency

        self.config = config
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = num_threads
        options.inter_op_num_threads = 1
        self._session = onnxruntime.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        self._input_name = self._session.get_inputs()[0].name
        self._cells, self._strides = grid_offsets(config.input_size)
        rows = self._session.get_outputs()[0].shape[1]
        if isinstance(rows, int) and rows != len(self._cells):
            raise ValueError(f"YOLOX output has {rows} rows, strides {STRIDES} at {config.input_size} give "
                             f"{len(self._cells)}")

    def dense(self, image_rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Boxes (N, 4) [ymin, xmin, ymax, xmax] normalised to ``image_rgb`` and scores (N, 80)."""
        h, w = image_rgb.shape[:2]
        size = self.config.input_size
        scale = min(size / h, size / w)
        nh, nw = int(round(h * scale)), int(round(w * scale))
        canvas = np.full((size, size, 3), PAD_VALUE, dtype=np.uint8)
        canvas[:nh, :nw] = cv2.resize(image_rgb, (nw, nh), interpolation=cv2.INTER_LINEAR)[..., ::-1]  # BGR
        blob = canvas.transpose(2, 0, 1)[None].astype(np.float32)
        raw = self._session.run(None, {self._input_name: blob})[0][0]
        boxes, scores = decode(raw, self._cells, self._strides)
        x1, y1, x2, y2 = (boxes / scale).T
        normalised = np.stack([y1 / h, x1 / w, y2 / h, x2 / w], axis=1)
        return np.clip(normalised, 0.0, 1.0).astype(np.float32), scores.astype(np.float32)

    def label(self, image_rgb: np.ndarray) -> BoxLabels:
        """Every (box, class) at least ``min_score``, after per-class NMS."""
        c = self.config
        boxes, scores = self.dense(image_rgb)
        row, cls = np.nonzero(scores >= c.min_score)
        labels = BoxLabels(boxes[row], cls, scores[row, cls])
        valid = (labels.boxes[:, 2] - labels.boxes[:, 0] > 1e-3) & (labels.boxes[:, 3] - labels.boxes[:, 1] > 1e-3)
        labels = labels.select(valid)
        return labels.select(batched_nms(labels.boxes, labels.scores, labels.classes, c.nms_iou, c.max_boxes))
