"""The one place that knows how SSD detectors lay out their outputs.

Two layouts are handled:

* ``TFLite_Detection_PostProcess``: the op's four outputs (boxes, classes, scores,
  count). TF1 and TF2 exports list them in different orders and under different names,
  so they are found through the op's own output list, which is fixed by the op.
* Raw SSD: box encodings ``[1, N, 4]`` and class scores ``[1, N, C]`` per anchor, decoded
  here with the shared anchor code and class-aware non-maximum suppression.

Both produce boxes as model-normalised ``[ymin, xmin, ymax, xmax]``.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from pi_vision.detection.anchors import AnchorSpec, decode_boxes, generate_anchors
from pi_vision.detection.boxes import batched_nms
from pi_vision.errors import UserError
from pi_vision.detection.model_file import OUTPUT_ROLES, OUTPUT_TENSOR_NAMES, POSTPROCESS_OP

log = logging.getLogger(__name__)



@dataclass
class RawOutput:
    boxes: np.ndarray  # (N, 4) model-normalised [ymin, xmin, ymax, xmax]
    scores: np.ndarray  # (N,)
    classes: np.ndarray  # (N,) int


def dequantize(value: np.ndarray, detail: dict) -> np.ndarray:
    """A tensor's real values from its scale and zero point (per channel where the tensor
    has several, as convolution weights do); float tensors pass through."""
    params = detail.get("quantization_parameters") or {}
    scales, zeros = params.get("scales", ()), params.get("zero_points", ())
    if len(scales) == 0:
        scale, zero_point = detail["quantization"]
        if not scale:
            return value.astype(np.float32, copy=False)
        scales, zeros = np.array([scale]), np.array([zero_point])
    shape = [1] * value.ndim
    if len(scales) > 1:
        shape[params["quantized_dimension"]] = -1
    zeros = np.reshape(zeros, shape).astype(np.float32)
    return (value.astype(np.float32) - zeros) * np.reshape(scales, shape).astype(np.float32)


class PostprocessLayout:
    """Outputs of a model that ends in ``TFLite_Detection_PostProcess``."""

    name = "postprocess-op"

    def __init__(self, interpreter, roles: dict[str, dict]):
        self._interpreter = interpreter
        self._roles = roles

    @classmethod
    def find(cls, interpreter, path: Path) -> "PostprocessLayout | None":
        outputs = {d["index"]: d for d in interpreter.get_output_details()}
        try:
            ops = interpreter._get_ops_details()
        except AttributeError:
            ops = []
        for op in ops:
            if op["op_name"] == POSTPROCESS_OP and len(op["outputs"]) == 4:
                if all(int(i) in outputs for i in op["outputs"]):
                    return cls(interpreter, {r: outputs[int(i)] for r, i in zip(OUTPUT_ROLES, op["outputs"])})
        # Runtimes without an op list: the converter names the op's outputs NAME, NAME:1..3.
        by_name = {d["name"]: d for d in outputs.values()}
        if all(n in by_name for n in OUTPUT_TENSOR_NAMES):
            return cls(interpreter, {r: by_name[n] for r, n in zip(OUTPUT_ROLES, OUTPUT_TENSOR_NAMES)})
        return None

    def check(self, path: Path) -> None:
        shapes = {r: tuple(d["shape"]) for r, d in self._roles.items()}
        boxes = shapes["boxes"]
        if len(boxes) != 3 or boxes[2] != 4 or shapes["scores"] != boxes[:2] or shapes["classes"] != boxes[:2]:
            raise UserError(f"model error: {path.name} has post-process outputs of shapes {shapes}, expected "
                            f"boxes [1,N,4], classes [1,N], scores [1,N]; re-export the detector")

    def decode(self, score_threshold: float) -> RawOutput:
        get = self._interpreter.get_tensor
        count = int(get(self._roles["count"]["index"]).reshape(-1)[0])
        scores = get(self._roles["scores"]["index"])[0, :count]
        keep = scores >= score_threshold
        return RawOutput(
            boxes=get(self._roles["boxes"]["index"])[0, :count][keep],
            scores=scores[keep],
            classes=get(self._roles["classes"]["index"])[0, :count][keep].astype(np.int32),
        )


class RawSsdLayout:
    """Per-anchor box encodings and class scores, decoded here.

    Class scores carry a background column 0 (the SSD convention); output class k is
    score column k + 1. Logits are passed through a sigmoid.
    """

    name = "raw-ssd"

    def __init__(self, interpreter, encodings: dict, scores: dict, anchors: np.ndarray,
                 iou_threshold: float = 0.6, max_detections: int = 100):
        self._interpreter = interpreter
        self._encodings = encodings
        self._scores = scores
        self._anchors = anchors
        self._iou_threshold = iou_threshold
        self._max_detections = max_detections

    @classmethod
    def find(cls, interpreter, path: Path, input_size: tuple[int, int],
             anchor_spec: AnchorSpec | None) -> "RawSsdLayout | None":
        outputs = interpreter.get_output_details()
        encodings = [d for d in outputs if len(d["shape"]) == 3 and d["shape"][2] == 4]
        scores = [d for d in outputs if len(d["shape"]) == 3 and d["shape"][2] != 4]
        if len(outputs) != 2 or len(encodings) != 1 or len(scores) != 1:
            return None
        n = int(encodings[0]["shape"][1])
        if int(scores[0]["shape"][1]) != n:
            return None
        spec = anchor_spec or AnchorSpec()
        anchors = generate_anchors(spec, input_size)
        if len(anchors) != n:
            raise UserError(f"model error: {path.name} has raw SSD outputs for {n} anchors but the "
                            f"{'model card' if anchor_spec else 'standard SSD'} anchor layout gives {len(anchors)}; "
                            f"describe its anchors in {path.with_suffix('.yaml').name}")
        return cls(interpreter, encodings[0], scores[0], anchors)

    def check(self, path: Path) -> None:
        pass  # find() already matched shapes and anchors

    def class_scores(self) -> np.ndarray:
        """(N, C) per-anchor probabilities, background column dropped: column k is output class k."""
        scores = dequantize(self._interpreter.get_tensor(self._scores["index"]), self._scores)[0]
        if scores.min() < 0.0 or scores.max() > 1.0:
            scores = 1.0 / (1.0 + np.exp(-scores))
        return scores[:, 1:]

    def boxes(self, anchors: np.ndarray | slice = slice(None)) -> np.ndarray:
        """(N, 4) decoded [ymin, xmin, ymax, xmax] of the given anchors (all by default)."""
        encodings = dequantize(self._interpreter.get_tensor(self._encodings["index"]), self._encodings)[0]
        return decode_boxes(encodings[anchors], self._anchors[anchors]).astype(np.float32)

    def dense(self) -> tuple[np.ndarray, np.ndarray]:
        """Every anchor's box and class scores, before any threshold or NMS (the distillation
        teacher keeps them all)."""
        return self.boxes(), self.class_scores()

    def decode(self, score_threshold: float) -> RawOutput:
        scores = self.class_scores()
        classes = scores.argmax(axis=1)
        best = scores[np.arange(len(scores)), classes]
        keep = np.flatnonzero(best >= score_threshold)
        boxes = self.boxes(keep)
        chosen = batched_nms(boxes, best[keep], classes[keep], self._iou_threshold, self._max_detections)
        return RawOutput(boxes[chosen], best[keep][chosen].astype(np.float32), classes[keep][chosen].astype(np.int32))


def find_layout(interpreter, path: Path, input_size: tuple[int, int],
                anchor_spec: Callable[[], AnchorSpec | None] = lambda: None):
    """The layout of this model's outputs, or a one-line error saying it is not an SSD detector.

    ``anchor_spec`` is asked only for raw SSD outputs (the model card's anchor layout).
    """
    layout = (PostprocessLayout.find(interpreter, path)
              or RawSsdLayout.find(interpreter, path, input_size, anchor_spec()))
    if layout is None:
        shapes = [list(map(int, d["shape"])) for d in interpreter.get_output_details()]
        raise UserError(f"model error: {path.name} is not an SSD detector (outputs {shapes}; expected the "
                        f"{POSTPROCESS_OP} op's 4 outputs or raw box encodings [1,N,4] + class scores [1,N,C]); "
                        f"pass a detection model to --model")
    layout.check(path)
    return layout
