"""Two teachers' labels made one: their scores put on one scale, then their boxes fused.

The teachers' scores mean different things: YOLOX-Nano's objectness x class runs far
lower than the reference's sigmoid for an equally sure box, so a shared threshold would
keep most of one teacher's boxes and few of the other's. ``ScoreCalibration`` maps one
teacher's scores onto another's by rank over the same photos: its k-th most confident
box of the whole set gets the score of the other's k-th. Both then claim equally many
boxes above any threshold. Weighted box fusion (the ``ensemble-boxes`` package) then
averages boxes the teachers agree on; a box that only one of them sees keeps a part of
its score, by that teacher's weight.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pi_vision.training.labels import BoxLabels

# Knots of the piecewise-linear calibration: enough to follow the curve, few enough to read.
CALIBRATION_KNOTS = 64


@dataclass(frozen=True)
class ScoreCalibration:
    """Monotone piecewise-linear map of scores, from ``source`` knots to ``target`` knots."""

    source: tuple[float, ...] = (0.0, 1.0)
    target: tuple[float, ...] = (0.0, 1.0)

    @classmethod
    def by_rank(cls, source_scores: np.ndarray, target_scores: np.ndarray,
                knots: int = CALIBRATION_KNOTS) -> "ScoreCalibration":
        """Fit on all boxes of both teachers over the same photos (each already cut at its own
        minimum score): equal ranks get equal scores."""
        src = np.sort(np.asarray(source_scores, dtype=np.float64))[::-1]
        dst = np.sort(np.asarray(target_scores, dtype=np.float64))[::-1]
        n = min(len(src), len(dst))
        if n < knots:
            raise ValueError(f"score calibration needs at least {knots} boxes from each teacher, got {n}")
        # Knots spaced evenly in log rank: the confident top of the list matters most.
        ranks = np.unique(np.geomspace(1, n, knots).astype(int) - 1)
        source, first = np.unique(src[ranks], return_index=True)  # ascending, ties merged
        target = np.maximum.accumulate(dst[ranks][first])
        # Pin the ends so every score in [0, 1] maps, and the map never falls.
        return cls((0.0, *source.tolist(), 1.0), (0.0, *target.tolist(), max(1.0, float(target[-1]))))

    def __call__(self, scores: np.ndarray) -> np.ndarray:
        return np.interp(scores, self.source, self.target).astype(np.float32)

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps({"source": self.source, "target": self.target}))

    @classmethod
    def load(cls, path: Path) -> "ScoreCalibration":
        data = json.loads(Path(path).read_text())
        return cls(tuple(data["source"]), tuple(data["target"]))


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
