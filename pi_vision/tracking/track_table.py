"""The tracker's tracks as parallel arrays, one row per track.

Rows keep prediction, matching and correction a handful of numpy calls whatever the number
of objects; this table is the one place that knows which arrays make up a track.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from pi_vision.detections import NO_TRACK
from pi_vision.tracking import kalman


@dataclass
class TrackTable:
    mean: np.ndarray  # Kalman state per track
    cov: np.ndarray  # its covariance, in kalman's compact form
    boxes: np.ndarray  # current box estimate, x1 y1 x2 y2 normalised
    class_ids: np.ndarray  # the class the track's detections voted for
    class_votes: np.ndarray  # by how much: score-weighted lead of class_ids over the other classes
    ids: np.ndarray  # NO_TRACK while tentative
    hits: np.ndarray  # consecutive matched detector runs
    misses: np.ndarray  # consecutive unmatched detector runs
    scores: np.ndarray  # score of the last matched detection

    @classmethod
    def empty(cls) -> "TrackTable":
        return cls(np.zeros((0, 2 * kalman.MEAS_DIM)), np.zeros((0, 3, kalman.MEAS_DIM)), np.zeros((0, 4)),
                   np.zeros(0, np.int32), np.zeros(0, np.float32), np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64),
                   np.zeros(0, np.float32))

    @classmethod
    def started(cls, meas: np.ndarray, class_ids: np.ndarray, scores: np.ndarray) -> "TrackTable":
        """New tentative tracks, one per measurement, each matched once."""
        n = len(meas)
        mean, cov = kalman.initiate(meas)
        return cls(mean, cov, kalman.state_to_xyxy(mean), class_ids.astype(np.int32), scores.astype(np.float32),
                   np.full(n, NO_TRACK, np.int64), np.ones(n, np.int64), np.zeros(n, np.int64),
                   scores.astype(np.float32))

    def __len__(self) -> int:
        return len(self.ids)

    def select(self, rows: np.ndarray) -> "TrackTable":
        return TrackTable(**{f.name: getattr(self, f.name)[rows] for f in fields(self)})

    def extended(self, other: "TrackTable") -> "TrackTable":
        return TrackTable(**{f.name: np.concatenate([getattr(self, f.name), getattr(other, f.name)])
                             for f in fields(self)})

    @property
    def confirmed(self) -> np.ndarray:
        return self.ids != NO_TRACK
