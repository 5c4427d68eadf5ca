"""Two teachers' labels made one: their scores put on one scale, then their boxes fused.

The teachers' scores mean different things: YOLOX-Nano's objectness x class runs far
lower than the reference's sigmoid for an equally sure box, so a shared threshold would
keep most of one teacher's boxes and few of the other's. ``ScoreCalibration`` maps one
teacher's scores onto another's by rank over the same photos (score_calibration.py). Weighted box fusion (the ``ensemble-boxes`` package) then
averages boxes the teachers agree on; a box that only one of them sees keeps a part of
its score, by that teacher's weight.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pi_vision.detection.score_calibration import ScoreCalibration
from pi_vision.training.box_labels import BoxLabels

@dataclass(frozen=True)
class FusionConfig:
    # Boxes of one class that overlap at least this much are the same object.
    iou: float = 0.55
    # Weight of each teacher, in the order they are given.
    weights: tuple[float, ...] = (1.0, 1.0)
    # ensemble-boxes' score rule: "avg" scales a box that fewer teachers saw down by their weights.
    conf_type: str = "avg"
    min_score: float = 0.05


def _yx_to_xy(boxes: np.ndarray) -> np.ndarray:
    """[ymin, xmin, ymax, xmax] <-> [xmin, ymin, xmax, ymax] (the same swap both ways)."""
    return boxes[:, [1, 0, 3, 2]]


def fuse_calibrated(label_sets: list[BoxLabels], calibrations: list[ScoreCalibration],
                    config: FusionConfig = FusionConfig()) -> BoxLabels:
    """Each teacher's labels put on the common scale by its calibration, then fused."""
    if len(calibrations) != len(label_sets):
        raise ValueError(f"{len(label_sets)} teachers need {len(label_sets)} calibrations, got {len(calibrations)}")
    return fuse([BoxLabels(l.boxes, l.classes, calibrate(l.scores)) for l, calibrate in zip(label_sets, calibrations)],
                config)


def fuse(label_sets: list[BoxLabels], config: FusionConfig = FusionConfig()) -> BoxLabels:
    """Weighted box fusion of the teachers' labels for one image (scores already on one scale)."""
    from ensemble_boxes import weighted_boxes_fusion  # training-only dependency

    if len(label_sets) != len(config.weights):
        raise ValueError(f"{len(label_sets)} label sets for {len(config.weights)} fusion weights")
    if all(len(labels) == 0 for labels in label_sets):
        return BoxLabels.empty()
    boxes, scores, classes = weighted_boxes_fusion(
        [np.clip(_yx_to_xy(l.boxes), 0.0, 1.0) for l in label_sets], [l.scores for l in label_sets],
        [l.classes for l in label_sets], weights=list(config.weights), iou_thr=config.iou,
        skip_box_thr=config.min_score, conf_type=config.conf_type)
    fused = BoxLabels(_yx_to_xy(np.asarray(boxes).reshape(-1, 4)), classes, scores)
    return fused.select(fused.scores >= config.min_score)
