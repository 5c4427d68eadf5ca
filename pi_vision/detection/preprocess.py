"""Turn a BGR frame into a model input tensor, and map boxes back to the frame.

Two steps, so the first can run on the capture thread, off the detector's critical
path: ``resize_for_model`` resizes (stretch or letterbox) to the model's size; ``to_tensor`` does
BGR->RGB and normalisation/quantization straight into the interpreter's input buffer.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from pi_vision.detection.model_file import FOREIGN_SCALING, InputScaling

# Input values this close to half-way between two codes are ties (float32 scales are inexact).
TIE_TOLERANCE = 1e-4
# Column order that turns [ymin, xmin, ymax, xmax] into [x1, y1, x2, y2].
_XYXY_FROM_YXYX = np.array([1, 0, 3, 2])


@dataclass(frozen=True)
class InputSpec:
    height: int
    width: int
    dtype: np.dtype
    scale: float = 0.0
    zero_point: int = 0
    # Float input = (pixel - mean) / std, from the model card; quantized inputs follow from it
    # through the file's own scale and zero point.
    scaling: InputScaling = field(default=FOREIGN_SCALING)


@dataclass(frozen=True)
class Placement:
    """Where the source image landed in the model input (letterbox scale and padding)."""

    source_width: int
    source_height: int
    scale_x: float
    scale_y: float
    pad_x: float = 0.0
    pad_y: float = 0.0


@dataclass(frozen=True)
class ModelInput:
    image: np.ndarray  # BGR at the model's input size
    placement: Placement


def _pixel_table(spec: InputSpec) -> np.ndarray | None:
    """A 256-entry table pixel -> input value, or None where the pixel is the value already."""
    if spec.dtype not in (np.uint8, np.int8):
        return None
    if spec.scale <= 0:  # unquantized 8-bit input: raw pixels
        values = np.arange(256, dtype=np.float64)
    else:
        exact = (np.arange(256) - spec.scaling.mean) / spec.scaling.std / spec.scale + spec.zero_point
        # Our int8 files put [-1, 1] at zero point 127 (rounded from 127.5), so every pixel lands
        # exactly half-way between two codes. Ties go down, all of them alike (numpy's half to
        # even would alternate): measured on coco128, ties down score 0.026 / 0.065 with
        # ssd_mbv1_0.5_160 and 0.031 / 0.085 with 1.0_224, ties up 0.024 / 0.062 and 0.027 / 0.078.
        values = np.ceil(exact - 0.5 - TIE_TOLERANCE)
    info = np.iinfo(spec.dtype)
    table = np.clip(values, info.min, info.max).astype(spec.dtype)
    if spec.dtype == np.uint8 and np.array_equal(table, np.arange(256)):
        return None
    return table


class Preprocessor:
    def __init__(self, spec: InputSpec, mode: str = "stretch"):
        self.spec = spec
        self.mode = mode
        self._table = _pixel_table(spec)
        self._identity = spec.dtype == np.uint8 and self._table is None

    def resize_for_model(self, image_bgr: np.ndarray) -> ModelInput:
        """Resize to the model's input size; thread-safe (no shared buffers)."""
        h, w = image_bgr.shape[:2]
        sh, sw = self.spec.height, self.spec.width
        if (h, w) == (sh, sw):
            return ModelInput(image_bgr, Placement(w, h, 1.0, 1.0))
        if self.mode == "stretch":
            fitted = cv2.resize(image_bgr, (sw, sh), interpolation=cv2.INTER_LINEAR)
            return ModelInput(fitted, Placement(w, h, sw / w, sh / h))
        scale = min(sw / w, sh / h)
        nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
        px, py = (sw - nw) // 2, (sh - nh) // 2
        fitted = np.zeros((sh, sw, 3), np.uint8)
        fitted[py:py + nh, px:px + nw] = cv2.resize(image_bgr, (nw, nh), interpolation=cv2.INTER_LINEAR)
        return ModelInput(fitted, Placement(w, h, nw / w, nh / h, float(px), float(py)))

    def to_tensor(self, fitted_bgr: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """BGR at model size -> input tensor [1, H, W, 3]; written into ``out`` when given."""
        if self._identity:
            rgb = cv2.cvtColor(fitted_bgr, cv2.COLOR_BGR2RGB, dst=None if out is None else out[0])
            return rgb[np.newaxis] if out is None else out
        rgb = cv2.cvtColor(fitted_bgr, cv2.COLOR_BGR2RGB)
        if self._table is not None:
            tensor = cv2.LUT(rgb, self._table)
        else:
            tensor = (rgb.astype(np.float32) - self.spec.scaling.mean) / self.spec.scaling.std
        if out is None:
            return tensor[np.newaxis]
        out[0] = tensor
        return out

    def __call__(self, image_bgr: np.ndarray) -> tuple[np.ndarray, Placement]:
        """Both steps at once: (tensor, placement)."""
        model_input = self.resize_for_model(image_bgr)
        return self.to_tensor(model_input.image), model_input.placement

    def to_frame(self, boxes_yxyx: np.ndarray, placement: Placement) -> np.ndarray:
        """Model-normalised [ymin, xmin, ymax, xmax] -> source-normalised [x1, y1, x2, y2], clipped."""
        # All four columns in one pass (this runs on every detector frame); the factors take
        # the boxes' dtype, so the arithmetic is exactly that of the per-axis expressions
        # (x * width - pad_x) / scale_x / source_width.
        p, dtype = placement, boxes_yxyx.dtype
        xyxy = boxes_yxyx.take(_XYXY_FROM_YXYX, axis=1)
        xyxy *= np.array([self.spec.width, self.spec.height] * 2, dtype)
        xyxy -= np.array([p.pad_x, p.pad_y] * 2, dtype)
        xyxy /= np.array([p.scale_x, p.scale_y] * 2, dtype)
        xyxy /= np.array([p.source_width, p.source_height] * 2, dtype)
        return np.clip(xyxy, 0.0, 1.0, out=xyxy).astype(np.float32, copy=False)
