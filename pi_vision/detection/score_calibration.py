"""A monotone map of detection scores onto another detector's scale, fitted by rank.

Scores of different detectors mean different things: a student distilled on soft targets
says 0.3 where the reference says 0.6 for the same clear object. ``by_rank`` maps one
detector's scores onto another's over the same photos: the k-th most confident box of the
whole set gets the score of the other's k-th, so both claim equally many boxes above any
threshold. Training uses it to put two teachers on one scale; the runtime applies a
model card's map, so thresholds (detector, tracker) mean the same for every model.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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
        """Fit on all boxes of two detectors over the same photos (each already cut at its own
        minimum score): equal ranks get equal scores."""
        src = np.sort(np.asarray(source_scores, dtype=np.float64))[::-1]
        dst = np.sort(np.asarray(target_scores, dtype=np.float64))[::-1]
        n = min(len(src), len(dst))
        if n < knots:
            raise ValueError(f"score calibration needs at least {knots} boxes from each detector, got {n}")
        # Knots spaced evenly in log rank: the confident top of the list matters most.
        ranks = np.unique(np.geomspace(1, n, knots).astype(int) - 1)
        source, first = np.unique(src[ranks], return_index=True)  # ascending, ties merged
        target = np.maximum.accumulate(dst[ranks][first])
        # Pin the ends so every score in [0, 1] maps, and the map never falls.
        return cls((0.0, *source.tolist(), 1.0), (0.0, *target.tolist(), max(1.0, float(target[-1]))))

    def __call__(self, scores: np.ndarray) -> np.ndarray:
        return np.interp(scores, self.source, self.target).astype(np.float32)

    def inverse(self, scores: np.ndarray | float) -> np.ndarray:
        """The source scores that map to ``scores`` (the lowest, where the map is flat)."""
        return np.interp(scores, self.target, self.source).astype(np.float32)

    def to_card(self) -> dict:
        return {"source": [round(float(v), 5) for v in self.source], "target": [round(float(v), 5) for v in self.target]}

    @classmethod
    def from_card(cls, section: dict) -> "ScoreCalibration":
        source, target = tuple(float(v) for v in section["source"]), tuple(float(v) for v in section["target"])
        if len(source) != len(target) or len(source) < 2 or np.any(np.diff(source) < 0) or np.any(np.diff(target) < 0):
            raise ValueError("source and target must be equally long, non-decreasing lists")
        return cls(source, target)
