"""Teacher pseudo-labels cached on disk, one small .npz per image, merged with human labels."""
from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from pi_vision.detection.boxes import iou_matrix
from pi_vision.detection.score_calibration import ScoreCalibration
from pi_vision.training.data.sample import Sample, load_rgb
from pi_vision.training.fusion import FusionConfig, fuse_calibrated
from pi_vision.training.box_labels import BoxLabels
from pi_vision.training.teacher import Teacher

log = logging.getLogger(__name__)


class PseudoLabelCache:
    """Computes each image's teacher labels once; the key covers the file and the teacher settings."""

    def __init__(self, cache_dir: Path, teacher: Teacher):
        self.cache_dir = Path(cache_dir)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self.teacher = teacher
        self._settings = repr(sorted(asdict(teacher.config).items()))

    def _path(self, image: Path) -> Path:
        image = Path(image).resolve()
        key = f"{image}|{image.stat().st_size}|{self._settings}"
        return self.cache_dir / (hashlib.sha1(key.encode()).hexdigest() + ".npz")

    def get(self, image: Path) -> BoxLabels:
        path = self._path(image)
        if path.exists():
            with np.load(path) as z:
                return BoxLabels(z["boxes"], z["classes"], z["scores"])
        labels = self.teacher.label(load_rgb(image))
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, boxes=labels.boxes, classes=labels.classes, scores=labels.scores)
        tmp.replace(path)  # atomic, so a killed run never leaves a half-written entry
        return labels

    def fill(self, samples: list[Sample]) -> None:
        """Label every sample not yet cached, logging progress."""
        start, todo = time.time(), [s for s in samples if not self._path(s.image).exists()]
        log.info("pseudo-labels: %d cached, %d to compute", len(samples) - len(todo), len(todo))
        for i, sample in enumerate(todo, 1):
            self.get(sample.image)
            if i % 200 == 0 or i == len(todo):
                log.info("pseudo-labelled %d/%d (%.1f img/s)", i, len(todo), i / (time.time() - start))


def merge_with_human(pseudo: BoxLabels, human: BoxLabels | None, iou_threshold: float = 0.5) -> BoxLabels:
    """Human boxes (score 1) replace the teacher's boxes of the same class that they overlap;
    the teacher's other boxes stay, since human sets often label only some classes."""
    if human is None or len(human) == 0:
        return pseudo
    if len(pseudo) == 0:
        return human
    iou = iou_matrix(pseudo.boxes, human.boxes)
    same = pseudo.classes[:, None] == human.classes[None, :]
    duplicate = ((iou >= iou_threshold) & same).any(axis=1)
    return BoxLabels.concat([pseudo.select(~duplicate), human])


def fit_calibration(source: PseudoLabelCache, target: PseudoLabelCache, samples: list[Sample]) -> ScoreCalibration:
    """Map ``source``'s scores onto ``target``'s by rank over ``samples`` (both caches filled)."""
    scores = [np.concatenate([cache.get(s.image).scores for s in samples] or [np.zeros(0)])
              for cache in (source, target)]
    return ScoreCalibration.by_rank(*scores)


class FusedPseudoLabels:
    """Several teachers' cached labels, each put on the first teacher's score scale, then fused.

    Has ``get`` like a single cache, so the image store does not care how many teachers there are."""

    def __init__(self, caches: list[PseudoLabelCache], calibrations: list[ScoreCalibration],
                 fusion: FusionConfig = FusionConfig()):
        self.caches, self.calibrations, self.fusion = caches, calibrations, fusion

    def get(self, image: Path) -> BoxLabels:
        return fuse_calibrated([cache.get(image) for cache in self.caches], self.calibrations, self.fusion)
