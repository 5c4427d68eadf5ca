"""Turn a BGR frame into a model input tensor in one pass, and map boxes back."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# Models see RGB scaled to about [-1, 1] as (pixel - 128) / 128; quantized inputs are
# derived from that through the model's own scale and zero point. This exact scaling
# makes the usual uint8 SSD input (scale 1/128, zero point 128) take the raw pixel.
PIXEL_MEAN = 128.0
PIXEL_STD = 128.0


@dataclass(frozen=True)
class InputSpec:
    height: int
    width: int
    dtype: np.dtype
    scale: float = 0.0
    zero_point: int = 0


@dataclass(frozen=True)
class Placement:
    """Where the frame landed in the model input: scale and padding of a letterbox."""

    scale_x: float
    scale_y: float
    pad_x: float
    pad_y: float


def _pixel_table(spec: InputSpec) -> np.ndarray | None:
    """A 256-entry table pixel -> quantized input value, so quantizing is one lookup per pixel."""
    if spec.dtype not in (np.uint8, np.int8):
        return None
    real = (np.arange(256, dtype=np.float64) - PIXEL_MEAN) / PIXEL_STD
    if spec.scale <= 0:  # unquantized 8-bit input: the model takes raw pixels
        values = np.arange(256, dtype=np.float64)
    else:
        values = np.round(real / spec.scale + spec.zero_point)
    info = np.iinfo(spec.dtype)
    return np.clip(values, info.min, info.max).astype(spec.dtype)


class Preprocessor:
    """Resize (stretch or letterbox) + BGR->RGB + normalise/quantize."""

    def __init__(self, spec: InputSpec, mode: str = "stretch"):
        self.spec = spec
        self.mode = mode
        self._table = _pixel_table(spec)
        self._canvas = np.zeros((spec.height, spec.width, 3), np.uint8)

    def __call__(self, image_bgr: np.ndarray) -> tuple[np.ndarray, Placement]:
        h, w = image_bgr.shape[:2]
        size = (self.spec.width, self.spec.height)
        if (h, w) == (self.spec.height, self.spec.width):
            rgb = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)
            placement = Placement(1.0, 1.0, 0.0, 0.0)
        elif self.mode == "stretch":
            rgb = cv2.cvtColor(cv2.resize(image_bgr, size, interpolation=cv2.INTER_LINEAR), cv2.COLOR_BGR2RGB)
            placement = Placement(self.spec.width / w, self.spec.height / h, 0.0, 0.0)
        else:
            scale = min(self.spec.width / w, self.spec.height / h)
            nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
            px, py = (self.spec.width - nw) // 2, (self.spec.height - nh) // 2
            rgb = self._canvas
            rgb[:] = 0
            rgb[py:py + nh, px:px + nw] = cv2.cvtColor(
                cv2.resize(image_bgr, (nw, nh), interpolation=cv2.INTER_LINEAR), cv2.COLOR_BGR2RGB)
            placement = Placement(nw / w, nh / h, float(px), float(py))
        if self._table is not None:
            tensor = cv2.LUT(rgb, self._table)
        else:
            tensor = (rgb.astype(np.float32) - PIXEL_MEAN) / PIXEL_STD
        return tensor[np.newaxis], placement

    def to_frame(self, boxes_yxyx: np.ndarray, placement: Placement, frame_size: tuple[int, int]) -> np.ndarray:
        """Model-normalised [ymin, xmin, ymax, xmax] -> frame-normalised [x1, y1, x2, y2], clipped."""
        fh, fw = frame_size
        x = (boxes_yxyx[:, [1, 3]] * self.spec.width - placement.pad_x) / placement.scale_x / fw
        y = (boxes_yxyx[:, [0, 2]] * self.spec.height - placement.pad_y) / placement.scale_y / fh
        out = np.stack([x[:, 0], y[:, 0], x[:, 1], y[:, 1]], axis=1)
        return np.clip(out, 0.0, 1.0).astype(np.float32)
