"""Training batches: images held in memory, augmented and matched to anchors in a worker thread.

OpenCV and NumPy release the GIL for their heavy work, so one thread keeps up with the
training step on these 2-core machines without copying the image store into processes.
"""
from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass

import cv2
import numpy as np

from pi_vision.detection.anchors import AnchorSpec, feature_map_sizes, generate_anchors
from pi_vision.training.augment import AugmentConfig, compose
from pi_vision.training.data.pseudo_labels import PseudoLabelCache, merge_with_human
from pi_vision.training.data.sample import Sample, load_rgb
from pi_vision.training.box_labels import BoxLabels
from pi_vision.training.paste import ObjectBank, paste_objects
from pi_vision.training.sampling import sampling_probabilities
from pi_vision.training.targets import AnchorMatcher, MatchConfig

log = logging.getLogger(__name__)


def layer_anchor_counts(spec: AnchorSpec, size: int) -> list[int]:
    return [h * w * k for (h, w), k in zip(feature_map_sizes((size, size), spec.strides), spec.boxes_per_cell())]


class ImageStore:
    """Decoded training images (longest side capped) and their final labels."""

    def __init__(self, samples: list[Sample], pseudo: PseudoLabelCache | None, max_side: int = 512,
                 min_pseudo_score: float = 0.0, hard_pseudo_labels: bool = False):
        self.paths = [sample.image for sample in samples]
        self.images: list[np.ndarray] = []
        self.labels: list[BoxLabels] = []
        for sample in samples:
            image = load_rgb(sample.image)
            scale = max_side / max(image.shape[:2])
            if scale < 1:
                image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            labels = sample.labels if sample.labels is not None else BoxLabels.empty()
            if pseudo is not None:
                teacher = pseudo.get(sample.image)
                teacher = teacher.select(teacher.scores >= min_pseudo_score)
                if hard_pseudo_labels:  # every kept teacher box becomes a sure label (plain focal loss)
                    teacher = BoxLabels(teacher.boxes, teacher.classes, np.ones_like(teacher.scores))
                labels = merge_with_human(teacher, sample.labels)
            self.images.append(image)
            self.labels.append(labels)
        boxes = sum(len(l) for l in self.labels)
        log.info("image store: %d images, %d labels (%.0f MB)", len(self.images), boxes,
                 sum(i.nbytes for i in self.images) / 1e6)

    def __len__(self) -> int:
        return len(self.images)


@dataclass
class Batch:
    images: np.ndarray         # (B, H, W, 3) uint8 RGB
    class_targets: np.ndarray  # (B, A, C)
    box_targets: np.ndarray    # (B, A, 4)
    box_weights: np.ndarray    # (B, A)
    class_weights: np.ndarray  # (B, A)


class BatchLoader:
    """Endless random batches; each batch has one input size drawn from ``sizes``."""

    def __init__(self, store: ImageStore, anchor_spec: AnchorSpec, num_classes: int, sizes: list[int],
                 batch_size: int, seed: int, augment: AugmentConfig = AugmentConfig(),
                 match: MatchConfig = MatchConfig(), prefetch: int = 3, repeat_threshold: float = 0.0,
                 group: np.ndarray | None = None, group_share: float | None = None):
        self.store, self.sizes, self.batch_size, self.augment = store, sizes, batch_size, augment
        self._probabilities = sampling_probabilities(store.labels, num_classes, repeat_threshold, group, group_share)
        self._matchers = {s: AnchorMatcher(generate_anchors(anchor_spec, (s, s)), num_classes, match,
                                           layer_anchor_counts(anchor_spec, s)) for s in sizes}
        self._bank = ObjectBank(store.images, store.labels, augment.min_visible, seed=seed) \
            if augment.paste_probability > 0 else None
        if self._bank is not None:
            log.info("object paste: %d objects of %d classes", len(self._bank), len(self._bank.classes))
        self._rng = np.random.default_rng(seed)
        self._queue: queue.Queue[Batch] = queue.Queue(maxsize=prefetch)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="batch-loader", daemon=True)
        self._thread.start()

    def make_batch(self) -> Batch:
        rng = self._rng
        size = int(rng.choice(self.sizes))
        matcher = self._matchers[size]
        images, targets = [], []
        for _ in range(self.batch_size):
            picks = rng.choice(len(self.store), size=4, p=self._probabilities)
            items = [(self.store.images[i], self.store.labels[i]) for i in picks]
            image, labels = compose(items, (size, size), rng, self.augment)
            if self._bank is not None and rng.random() < self.augment.paste_probability:
                count = int(rng.integers(1, self.augment.paste_max_objects + 1))
                image, labels = paste_objects(image, labels, self._bank, count, rng, self.augment.min_visible,
                                              self.augment.min_box_pixels)
            images.append(image)
            targets.append(matcher(labels))
        return Batch(np.stack(images), np.stack([t.classes for t in targets]), np.stack([t.boxes for t in targets]),
                     np.stack([t.box_weights for t in targets]), np.stack([t.class_weights for t in targets]))

    def _run(self) -> None:
        while not self._stop.is_set():
            batch = self.make_batch()
            while not self._stop.is_set():
                try:
                    self._queue.put(batch, timeout=0.5)
                    break
                except queue.Full:
                    continue

    def next(self) -> Batch:
        return self._queue.get()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
