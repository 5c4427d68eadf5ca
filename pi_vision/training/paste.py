"""Object paste: confident teacher objects cut from their photos and pasted into other training images.

The distillation photos follow the teacher's long tail (a person in 2,316 of 4,739
images, a zebra in 17, a sandwich in 5), and coco128's mAP averages over classes, so a
student that only ever sees people scores near zero. Repeating whole images (sampling.py)
repeats their people too; pasting repeats the rare objects themselves, at new sizes and
places, on new backgrounds (Dwibedi et al., "Cut, Paste and Learn"; Ghiasi et al.,
"Simple Copy-Paste"). We have boxes, not masks, so a patch is the object's box with its
edges feathered into the new background.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from pi_vision.training.augment import clip_to, drop_small, flip, place, view_labels
from pi_vision.training.box_labels import BoxLabels


@dataclass(frozen=True)
class PasteConfig:
    # A bank object is a label at least this sure (rare classes are where the teacher's
    # confident mistakes are most of the labels), at least this many source pixels on a side.
    min_score: float = 0.6
    min_side_pixels: int = 16
    # At most this many instances are kept per class (people alone would fill memory).
    max_per_class: int = 200
    # Pasted size: the patch's longer side as a fraction of the output's, drawn log-uniformly.
    min_size: float = 0.12
    max_size: float = 0.7
    # Width of the feathered edge, as a fraction of the patch's shorter side.
    feather: float = 0.08


@dataclass
class BankObject:
    patch: np.ndarray    # (h, w, 3) uint8 RGB: the object's box
    labels: BoxLabels    # the object and any other label mostly inside its box, in patch coordinates


class ObjectBank:
    """Patches of confident teacher objects, drawn class by class: each class that has any is
    equally likely, so a zebra comes up as often as a person."""

    def __init__(self, images: list[np.ndarray], labels: list[BoxLabels], min_visible: float,
                 config: PasteConfig = PasteConfig(), seed: int = 0):
        self.config = config
        rng = np.random.default_rng(seed)
        by_class: dict[int, list[tuple[int, np.ndarray]]] = {}
        for i, image_labels in enumerate(labels):
            sure = image_labels.select(image_labels.scores >= config.min_score)
            usable = drop_small(sure, images[i].shape[:2], config.min_side_pixels)
            for box, cls in zip(usable.boxes, usable.classes):
                by_class.setdefault(int(cls), []).append((i, box))
        self.objects: dict[int, list[BankObject]] = {}
        for cls, found in sorted(by_class.items()):
            if len(found) > config.max_per_class:
                found = [found[k] for k in rng.choice(len(found), config.max_per_class, replace=False)]
            self.objects[cls] = [self._cut(images[i], labels[i], box, min_visible) for i, box in found]
        self.classes = np.array(sorted(self.objects), dtype=np.int32)

    @staticmethod
    def _cut(image: np.ndarray, labels: BoxLabels, box: np.ndarray, min_visible: float) -> BankObject:
        ih, iw = image.shape[:2]
        y0, x0, y1, x1 = box
        r0, c0 = int(np.floor(y0 * ih)), int(np.floor(x0 * iw))
        r1, c1 = max(int(np.ceil(y1 * ih)), r0 + 1), max(int(np.ceil(x1 * iw)), c0 + 1)
        view = (r0 / ih, c0 / iw, r1 / ih, c1 / iw)
        return BankObject(image[r0:r1, c0:c1].copy(), view_labels(labels, view, min_visible))

    def __len__(self) -> int:
        return sum(len(v) for v in self.objects.values())

    def draw(self, rng: np.random.Generator) -> BankObject:
        instances = self.objects[int(rng.choice(self.classes))]
        return instances[int(rng.integers(len(instances)))]


def _feathered_mask(h: int, w: int, feather: float) -> np.ndarray:
    """(h, w, 1) float32 alpha: 1 inside, ramping to 0 over the outer ``feather`` of the shorter side."""
    edge = max(feather * min(h, w), 1.0)
    ys = np.minimum(np.arange(h) + 0.5, h - np.arange(h) - 0.5) / edge
    xs = np.minimum(np.arange(w) + 0.5, w - np.arange(w) - 0.5) / edge
    return np.clip(np.minimum(ys[:, None], xs[None, :]), 0.0, 1.0)[..., None].astype(np.float32)


def paste_objects(canvas: np.ndarray, labels: BoxLabels, bank: ObjectBank, count: int, rng: np.random.Generator,
                  min_visible: float, min_box_pixels: float) -> tuple[np.ndarray, BoxLabels]:
    """``canvas`` with ``count`` bank objects pasted on it (mirrored at random); labels hidden by
    them are dropped, and the pasted labels smaller than ``min_box_pixels`` on a side."""
    c = bank.config
    out_h, out_w = canvas.shape[:2]
    canvas = canvas.copy()
    for _ in range(count):
        obj = bank.draw(rng)
        ph, pw = obj.patch.shape[:2]
        aspect = (pw / ph) * np.exp(rng.uniform(np.log(0.8), np.log(1.25)))
        longer = np.exp(rng.uniform(np.log(c.min_size), np.log(c.max_size)))
        h = longer * out_h if aspect < 1 else longer * out_w / aspect
        w = h * aspect
        h, w = int(round(min(h, out_h))), int(round(min(w, out_w)))
        if h < 4 or w < 4:
            continue
        top, left = int(rng.integers(0, out_h - h + 1)), int(rng.integers(0, out_w - w + 1))
        patch = cv2.resize(obj.patch, (w, h), interpolation=cv2.INTER_AREA if h < ph else cv2.INTER_LINEAR)
        pasted = obj.labels
        if rng.random() < 0.5:
            patch, pasted = flip(patch, pasted)
        alpha = _feathered_mask(h, w, c.feather)
        under = canvas[top:top + h, left:left + w].astype(np.float32)
        canvas[top:top + h, left:left + w] = (alpha * patch + (1 - alpha) * under).astype(np.uint8)
        region = (top / out_h, left / out_w, (top + h) / out_h, (left + w) / out_w)
        _, covered = clip_to(labels.boxes, region)
        labels = labels.select(1 - covered >= min_visible)  # what the paste hides is gone
        labels = BoxLabels.concat([labels, drop_small(place(pasted, region), (out_h, out_w), min_box_pixels)])
    return canvas, labels
