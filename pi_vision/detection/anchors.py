"""SSD anchors and the box codec, shared by the runtime decoder and the training code.

Follows the layout of the TensorFlow Object Detection API's SSD anchor generator, which
is what ``TFLite_Detection_PostProcess`` and the reference COCO model expect: anchors
are ``[cy, cx, h, w]`` normalised to the input, ordered row by row, column by column,
then box by box within a cell; encodings are ``[ty, tx, th, tw]`` scaled by
``BOX_SCALES``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

# y, x, h, w scale factors of the Faster R-CNN box coder that SSD models use.
BOX_SCALES = (10.0, 10.0, 5.0, 5.0)


@dataclass(frozen=True)
class AnchorSpec:
    """Everything that fixes the anchors except the input size."""

    strides: tuple[int, ...] = (16, 32, 64, 128, 256, 512)
    min_scale: float = 0.2
    max_scale: float = 0.95
    aspect_ratios: tuple[float, ...] = (1.0, 2.0, 0.5, 3.0, 1.0 / 3.0)
    # The first (finest) layer gets three small boxes instead of the full set, as in SSD.
    reduce_boxes_in_lowest_layer: bool = True
    scales: tuple[float, ...] | None = field(default=None)
    # The input size (pixels) the scales are fractions of. A fully convolutional network
    # sees an object's size in pixels, not as a fraction of its input, so a network used
    # at several input sizes needs anchors of the same pixel size at each: with this set,
    # the boxes of a 224 input are 160/224 of those of a 160 input where this is 160.
    # None: the scales are fractions of whatever the input is (the reference's layout).
    scales_at: int | None = None

    def layer_scales(self) -> list[float]:
        """Box scale per layer plus the 1.0 that closes the interpolation."""
        if self.scales is not None:
            return list(self.scales) + [1.0]
        n = len(self.strides)
        if n == 1:
            return [self.min_scale, 1.0]
        return [self.min_scale + (self.max_scale - self.min_scale) * i / (n - 1) for i in range(n)] + [1.0]

    def boxes_per_cell(self) -> list[int]:
        return [len(specs) for specs in self._box_specs()]

    def _box_specs(self) -> list[list[tuple[float, float]]]:
        """(scale, aspect ratio) of each anchor of a cell, per layer."""
        scales = self.layer_scales()
        layers = []
        for layer, (scale, next_scale) in enumerate(zip(scales[:-1], scales[1:])):
            if layer == 0 and self.reduce_boxes_in_lowest_layer:
                specs = [(0.1, 1.0), (scale, 2.0), (scale, 0.5)]
            else:
                specs = [(scale, ar) for ar in self.aspect_ratios]
                specs.append((math.sqrt(scale * next_scale), 1.0))
            layers.append(specs)
        return layers


def feature_map_sizes(input_size: tuple[int, int], strides: tuple[int, ...]) -> list[tuple[int, int]]:
    """Output size of each stride for ``input_size`` (h, w) with 'SAME' padded stride-2 convolutions."""
    return [(math.ceil(input_size[0] / s), math.ceil(input_size[1] / s)) for s in strides]


def generate_anchors(spec: AnchorSpec, input_size: tuple[int, int]) -> np.ndarray:
    """All anchors of a model with ``input_size`` (h, w), shape (N, 4) as [cy, cx, h, w]."""
    per_layer = []
    for (fh, fw), specs in zip(feature_map_sizes(input_size, spec.strides), spec._box_specs()):
        cy, cx = np.meshgrid((np.arange(fh) + 0.5) / fh, (np.arange(fw) + 0.5) / fw, indexing="ij")
        hw = np.array([(s / math.sqrt(ar), s * math.sqrt(ar)) for s, ar in specs], dtype=np.float64)
        if spec.scales_at is not None:
            hw *= (spec.scales_at / input_size[0], spec.scales_at / input_size[1])
        k = len(specs)
        layer = np.empty((fh, fw, k, 4), dtype=np.float64)
        layer[..., 0] = cy[..., None]
        layer[..., 1] = cx[..., None]
        layer[..., 2] = hw[:, 0]
        layer[..., 3] = hw[:, 1]
        per_layer.append(layer.reshape(-1, 4))
    return np.concatenate(per_layer).astype(np.float32)


def decode_boxes(encodings: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """Box encodings (N, 4) [ty, tx, th, tw] -> boxes (N, 4) [ymin, xmin, ymax, xmax]."""
    sy, sx, sh, sw = BOX_SCALES
    cy = encodings[:, 0] / sy * anchors[:, 2] + anchors[:, 0]
    cx = encodings[:, 1] / sx * anchors[:, 3] + anchors[:, 1]
    h = np.exp(encodings[:, 2] / sh) * anchors[:, 2]
    w = np.exp(encodings[:, 3] / sw) * anchors[:, 3]
    return np.stack([cy - h / 2, cx - w / 2, cy + h / 2, cx + w / 2], axis=1)


def encode_boxes(boxes: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """Boxes (N, 4) [ymin, xmin, ymax, xmax] matched to anchors (N, 4) -> encodings [ty, tx, th, tw]."""
    sy, sx, sh, sw = BOX_SCALES
    h = np.maximum(boxes[:, 2] - boxes[:, 0], 1e-6)
    w = np.maximum(boxes[:, 3] - boxes[:, 1], 1e-6)
    cy = (boxes[:, 0] + boxes[:, 2]) / 2
    cx = (boxes[:, 1] + boxes[:, 3]) / 2
    return np.stack([
        (cy - anchors[:, 0]) / anchors[:, 2] * sy,
        (cx - anchors[:, 1]) / anchors[:, 3] * sx,
        np.log(h / anchors[:, 2]) * sh,
        np.log(w / anchors[:, 3]) * sw,
    ], axis=1).astype(np.float32)


def anchors_to_corners(anchors: np.ndarray) -> np.ndarray:
    """[cy, cx, h, w] -> [ymin, xmin, ymax, xmax]."""
    cy, cx, h, w = anchors.T
    return np.stack([cy - h / 2, cx - w / 2, cy + h / 2, cx + w / 2], axis=1).astype(np.float32)
