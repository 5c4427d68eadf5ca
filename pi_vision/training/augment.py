"""Photometric and geometric augmentation of an image with its (soft) box labels.

Geometry is expressed as views: a view is a rectangle of the source image (normalised,
may reach outside it, which pads with grey) that gets resized onto a rectangle of the
output. Crops, zoom-outs, mosaics and the final resize are all views, so boxes follow
the pixels exactly.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from pi_vision.settings import setting, validate
from pi_vision.training.box_labels import BoxLabels

PAD_VALUE = 124  # roughly the dataset mean, so padding looks like nothing in particular


def _probability(v: float) -> bool:
    return 0.0 <= v <= 1.0


@dataclass(frozen=True)
class AugmentConfig:
    mosaic_probability: float = setting(0.5, "probability that a training image is a 2x2 mosaic of four",
                                        check=_probability, must="a probability (0..1)", flag="--mosaic")
    crop_probability: float = 0.8
    min_crop_area: float = 0.15
    zoom_out_probability: float = setting(0.2, "probability of shrinking an image onto a larger grey canvas",
                                          check=_probability, must="a probability (0..1)", flag="--zoom-out")
    max_zoom_out: float = 2.5
    flip_probability: float = 0.5
    # A box keeps its label when at least this fraction of it stays in view.
    min_visible: float = 0.45
    min_box_pixels: float = setting(2.0, "labels smaller than this on a side of the training input are dropped",
                                    check=lambda v: v >= 0, must=">= 0", flag="--min-box-pixels")
    brightness: float = 0.25
    contrast: float = 0.3
    saturation: float = 0.4
    hue_degrees: float = 8.0
    # Shape of random crops around which the aspect jitter is centred. "stretched": like the
    # whole frame stretched onto the model input, which is what the app feeds the detector
    # (resize: stretch), so objects are distorted in training as they are when deployed;
    # "natural": the source's pixel aspect. Trained on "natural", students drew boxes about
    # 20% too short on landscape and too narrow on portrait coco128 images.
    crop_aspect: str = "stretched"
    # Object paste (paste.py): the probability that an image gets 1 to ``paste_max_objects``
    # confident teacher objects from other images pasted on it, rare classes as often as common.
    paste_probability: float = setting(0.0, "probability that a training image gets 1-3 confident teacher objects "
                                       "from other images pasted on it, every class equally often (0 = off)",
                                       check=_probability, must="a probability (0..1)", flag="--paste")
    paste_max_objects: int = 3

    def __post_init__(self):
        validate(self)
        if self.crop_aspect not in ("stretched", "natural"):
            raise ValueError(f"crop_aspect must be 'stretched' or 'natural', not {self.crop_aspect!r}")


def clip_to(boxes: np.ndarray, rect) -> tuple[np.ndarray, np.ndarray]:
    """``boxes`` clipped to ``rect`` (y0, x0, y1, x1), and the fraction of each box inside it."""
    y0, x0, y1, x1 = rect
    clipped = np.stack([np.clip(boxes[:, 0], y0, y1), np.clip(boxes[:, 1], x0, x1),
                        np.clip(boxes[:, 2], y0, y1), np.clip(boxes[:, 3], x0, x1)], axis=1)
    area = np.maximum((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]), 1e-12)
    return clipped, (clipped[:, 2] - clipped[:, 0]) * (clipped[:, 3] - clipped[:, 1]) / area


def view_labels(labels: BoxLabels, view: tuple[float, float, float, float], min_visible: float) -> BoxLabels:
    """Labels of the source seen through ``view`` (y0, x0, y1, x1), in view coordinates."""
    if len(labels) == 0:
        return labels
    y0, x0, y1, x1 = view
    clipped, inside = clip_to(labels.boxes, view)
    keep = inside >= min_visible
    h, w = y1 - y0, x1 - x0
    local = (clipped[keep] - np.array([y0, x0, y0, x0])) / np.array([h, w, h, w])
    return BoxLabels(local, labels.classes[keep], labels.scores[keep])


def render_view(image: np.ndarray, view: tuple[float, float, float, float], out_w: int, out_h: int) -> np.ndarray:
    """Resample the normalised ``view`` of ``image`` to out_w x out_h with one affine warp."""
    ih, iw = image.shape[:2]
    y0, x0, y1, x1 = view
    sx, sy = out_w / ((x1 - x0) * iw), out_h / ((y1 - y0) * ih)
    matrix = np.array([[sx, 0, -x0 * iw * sx], [0, sy, -y0 * ih * sy]], dtype=np.float64)
    shrinking = sx < 1 and sy < 1
    return cv2.warpAffine(image, matrix, (out_w, out_h), flags=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=(PAD_VALUE,) * 3)


def random_view(rng: np.random.Generator, config: AugmentConfig, target_aspect: float) -> tuple[float, float, float, float]:
    """A random crop (or zoom-out) of the unit square whose aspect (w/h) is near ``target_aspect``."""
    if rng.random() < config.zoom_out_probability:
        ratio = rng.uniform(1.0, config.max_zoom_out)
        h = w = ratio
        y0, x0 = -rng.uniform(0, h - 1), -rng.uniform(0, w - 1)
        return (y0, x0, y0 + h, x0 + w)
    if rng.random() >= config.crop_probability:
        return (0.0, 0.0, 1.0, 1.0)
    area = rng.uniform(config.min_crop_area, 1.0)
    aspect = target_aspect * np.exp(rng.uniform(np.log(0.6), np.log(1.6)))
    h = min(1.0, np.sqrt(area / aspect))
    w = min(1.0, h * aspect)
    y0, x0 = rng.uniform(0, 1 - h), rng.uniform(0, 1 - w)
    return (y0, x0, y0 + h, x0 + w)


def color_jitter(image: np.ndarray, rng: np.random.Generator, config: AugmentConfig) -> np.ndarray:
    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV).astype(np.float32)
    hsv[..., 0] = (hsv[..., 0] + rng.uniform(-config.hue_degrees, config.hue_degrees) / 2) % 180  # OpenCV hue is 0..180
    hsv[..., 1] *= 1 + rng.uniform(-config.saturation, config.saturation)
    out = cv2.cvtColor(np.clip(hsv, 0, 255).astype(np.uint8), cv2.COLOR_HSV2RGB).astype(np.float32)
    mean = out.mean()
    out = (out - mean) * (1 + rng.uniform(-config.contrast, config.contrast)) + mean
    out *= 1 + rng.uniform(-config.brightness, config.brightness)
    return np.clip(out, 0, 255).astype(np.uint8)


def flip(image: np.ndarray, labels: BoxLabels) -> tuple[np.ndarray, BoxLabels]:
    b = labels.boxes
    flipped = np.stack([b[:, 0], 1 - b[:, 3], b[:, 2], 1 - b[:, 1]], axis=1)
    return image[:, ::-1].copy(), BoxLabels(flipped, labels.classes, labels.scores)


def place(labels: BoxLabels, region: tuple[float, float, float, float]) -> BoxLabels:
    """Labels of a whole image, moved to where that image is drawn: ``region`` of the output."""
    y0, x0, y1, x1 = region
    scale = np.array([y1 - y0, x1 - x0, y1 - y0, x1 - x0])
    return BoxLabels(labels.boxes * scale + np.array([y0, x0, y0, x0]), labels.classes, labels.scores)


def compose(items: list[tuple[np.ndarray, BoxLabels]], size: tuple[int, int], rng: np.random.Generator,
            config: AugmentConfig) -> tuple[np.ndarray, BoxLabels]:
    """One training image of ``size`` (h, w): a 2x2 mosaic of four items or a view of the first."""
    out_h, out_w = size
    if len(items) >= 4 and rng.random() < config.mosaic_probability:
        cy, cx = rng.uniform(0.3, 0.7), rng.uniform(0.3, 0.7)
        regions = [(0, 0, cy, cx), (0, cx, cy, 1), (cy, 0, 1, cx), (cy, cx, 1, 1)]
    else:
        items, regions = items[:1], [(0.0, 0.0, 1.0, 1.0)]
    canvas = np.full((out_h, out_w, 3), PAD_VALUE, dtype=np.uint8)
    placed = []
    for (image, labels), region in zip(items, regions):
        ry0, rx0, ry1, rx1 = (int(round(region[0] * out_h)), int(round(region[1] * out_w)),
                              int(round(region[2] * out_h)), int(round(region[3] * out_w)))
        rh, rw = ry1 - ry0, rx1 - rx0
        if rh < 2 or rw < 2:
            continue
        ih, iw = image.shape[:2]
        # The view's normalised w/h that renders with the same distortion as stretching the
        # whole image onto the output, or with none.
        target = (rw / rh) / (out_w / out_h) if config.crop_aspect == "stretched" else (rw / rh) / (iw / ih)
        view = random_view(rng, config, target_aspect=target)
        canvas[ry0:ry1, rx0:rx1] = render_view(image, view, rw, rh)
        local = view_labels(labels, view, config.min_visible)
        placed.append(place(local, (ry0 / out_h, rx0 / out_w, ry1 / out_h, rx1 / out_w)))
    labels = BoxLabels.concat(placed)
    if rng.random() < config.flip_probability:
        canvas, labels = flip(canvas, labels)
    canvas = color_jitter(canvas, rng, config)
    return canvas, drop_small(labels, size, config.min_box_pixels)


def drop_small(labels: BoxLabels, size: tuple[int, int], min_pixels: float) -> BoxLabels:
    """Labels at least ``min_pixels`` on both sides of an output of ``size`` (h, w)."""
    h, w = size
    b = labels.boxes
    return labels.select(((b[:, 2] - b[:, 0]) * h >= min_pixels) & ((b[:, 3] - b[:, 1]) * w >= min_pixels))
