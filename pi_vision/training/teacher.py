"""Dense pseudo-labels from the reference COCO detector (the distillation teacher).

The reference's post-process op keeps only its 10 best boxes. We read the op's inputs
instead - per-anchor box encodings and sigmoid class scores for all 1917 anchors - decode
them ourselves and keep every (box, class) whose score reaches ``min_score``. Low scores
are kept on purpose: they become soft targets that tell the student how unsure the
teacher is. Running it on overlapping tiles as well finds small objects that the
300x300 full view misses.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from ai_edge_litert.interpreter import Interpreter

from pi_vision.detection.anchors import AnchorSpec, generate_anchors
from pi_vision.detection.boxes import batched_nms
from pi_vision.detection.output_layouts import RawSsdLayout, dequantize
from pi_vision.training.classes import reference_slots_for_coco80
from pi_vision.training.box_labels import BoxLabels

log = logging.getLogger(__name__)

# Names of the post-process op's inputs in the reference model.
SCORES_TENSOR = "convert_scores"
ENCODINGS_TENSOR = "Squeeze"


@dataclass(frozen=True)
class TeacherConfig:
    min_score: float = 0.05
    nms_iou: float = 0.5
    max_boxes: int = 100
    # Tiles: a grid x grid cover of the image, each tile ``tile_fraction`` of a side.
    tile_grid: int = 2
    tile_fraction: float = 0.6
    # A tile detection this close (fraction of the tile) to an inner tile edge is a cut object.
    edge_margin: float = 0.02
    # Images whose shorter side is below this get the full view only: their tiles would be
    # mostly upsampling, and cost five passes instead of one (small photos dominate the data).
    tile_min_side: int = 320


class Teacher:
    """Wraps the reference model; one instance per thread or process."""

    def __init__(self, model_path: Path, config: TeacherConfig = TeacherConfig(), num_threads: int = 1):
        self.config = config
        self._interpreter = Interpreter(str(model_path), num_threads=num_threads,
                                        experimental_preserve_all_tensors=True)
        self._interpreter.allocate_tensors()
        self._input = self._interpreter.get_input_details()[0]
        self.input_size = (int(self._input["shape"][1]), int(self._input["shape"][2]))
        details = self._interpreter.get_tensor_details()
        scores = self._find(details, SCORES_TENSOR, last_dim=91)
        anchors = self._model_anchors(details)
        if len(anchors) != scores["shape"][1]:
            raise ValueError(f"teacher has {scores['shape'][1]} anchors, AnchorSpec gives {len(anchors)}")
        # The post-process op's inputs are a raw SSD output: the runtime's raw layout decodes them.
        self._raw = RawSsdLayout(self._interpreter, self._find(details, ENCODINGS_TENSOR, last_dim=4), scores, anchors)

    def _model_anchors(self, details: list[dict]) -> np.ndarray:
        """The anchors stored in the model (quantized there, and the op decodes with those), else ours."""
        for d in details:
            if d["name"] == "anchors" and len(d["shape"]) == 2 and d["shape"][1] == 4:
                try:
                    return dequantize(self._interpreter.get_tensor(d["index"]), d)
                except ValueError:
                    break
        return generate_anchors(AnchorSpec(), self.input_size)

    @staticmethod
    def _find(details: list[dict], name: str, last_dim: int) -> dict:
        """The tensor called ``name``, else the only rank-3 [1, N, last_dim] tensor."""
        for d in details:
            if d["name"] == name:
                return d
        candidates = [d for d in details if len(d["shape"]) == 3 and d["shape"][2] == last_dim and d["shape"][1] > 100]
        if len(candidates) != 1:
            raise ValueError(f"cannot find the teacher's dense tensor {name!r}")
        return candidates[0]

    def dense(self, image_rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Decoded boxes (N, 4) normalised to ``image_rgb`` and scores (N, 80) for all anchors."""
        h, w = self.input_size
        resized = cv2.resize(image_rgb, (w, h), interpolation=cv2.INTER_LINEAR)
        self._interpreter.set_tensor(self._input["index"], resized[None].astype(self._input["dtype"]))
        self._interpreter.invoke()
        boxes, scores = self._raw.dense()
        # Score column k is the reference's class slot k, COCO category id k + 1.
        return boxes, scores[:, reference_slots_for_coco80()]

    def _view_labels(self, image_rgb: np.ndarray, y0: float, x0: float, y1: float, x1: float) -> BoxLabels:
        """Above-threshold (box, class) pairs of the view [y0:y1, x0:x1] (normalised), in image coordinates."""
        ih, iw = image_rgb.shape[:2]
        crop = image_rgb[int(round(y0 * ih)):int(round(y1 * ih)), int(round(x0 * iw)):int(round(x1 * iw))]
        boxes, scores = self.dense(crop)
        anchor_idx, cls = np.nonzero(scores >= self.config.min_score)
        b = np.clip(boxes[anchor_idx], 0.0, 1.0)
        # Drop boxes cut by an edge of the tile that is not an edge of the image.
        m = self.config.edge_margin
        cut = np.zeros(len(b), dtype=bool)
        if y0 > 0:
            cut |= b[:, 0] < m
        if x0 > 0:
            cut |= b[:, 1] < m
        if y1 < 1:
            cut |= b[:, 2] > 1 - m
        if x1 < 1:
            cut |= b[:, 3] > 1 - m
        b, anchor_idx, cls = b[~cut], anchor_idx[~cut], cls[~cut]
        sy, sx = y1 - y0, x1 - x0
        mapped = np.stack([y0 + b[:, 0] * sy, x0 + b[:, 1] * sx, y0 + b[:, 2] * sy, x0 + b[:, 3] * sx], axis=1)
        return BoxLabels(mapped, cls, scores[anchor_idx, cls])

    def label(self, image_rgb: np.ndarray) -> BoxLabels:
        """Soft pseudo-labels for one RGB image: full view plus tiles, merged by per-class NMS."""
        c = self.config
        views = [(0.0, 0.0, 1.0, 1.0)]
        if c.tile_grid > 1 and min(image_rgb.shape[:2]) >= c.tile_min_side:
            starts = np.linspace(0.0, 1.0 - c.tile_fraction, c.tile_grid)
            views += [(y, x, y + c.tile_fraction, x + c.tile_fraction) for y in starts for x in starts]
        labels = BoxLabels.concat([self._view_labels(image_rgb, *v) for v in views])
        valid = (labels.boxes[:, 2] - labels.boxes[:, 0] > 1e-3) & (labels.boxes[:, 3] - labels.boxes[:, 1] > 1e-3)
        labels = labels.select(valid)
        keep = batched_nms(labels.boxes, labels.scores, labels.classes, c.nms_iou, c.max_boxes)
        return labels.select(keep)
