"""Multi-object tracker: Kalman-filtered boxes, ByteTrack-style two-stage IoU matching.

Use::

    tracker = Tracker(TrackerConfig())
    tracked = tracker.update(detections)        # a frame the detector ran on
    tracked = tracker.predict_only()            # a frame the detector skipped

``update`` means "the detector looked at this frame and saw ``detections``" (possibly
none): tracks it does not see there accrue a miss. ``predict_only`` means "the detector
did not look": tracks only move along their predicted path and accrue no miss. With
``--detect-every K`` call ``predict_only()`` on the K-1 frames in between, or, if nobody
needs boxes on those frames, skip them and pass ``frames_elapsed=K`` to ``update``;
both give the same result.

What is returned: confirmed tracks, as the same ``Detections`` type the detector produces,
with ``track_ids`` filled in, boxes taken from the filter (smoothed, clipped to the frame),
the class of the track and the score of its last matched detection. A small detector names
one object differently from frame to frame (cat, dog, cat): a sure detection of another
class that overlaps a confirmed track closely, after every same-class match is made,
continues that track, and the track's class is a score-weighted majority vote of its
detections, so the object keeps its id and its usual name. On an ``update`` frame
those are the tracks matched now plus those that went unmatched for at most
``TrackerConfig.show_misses`` detector runs (shown at their predicted place, so a detection
the detector drops for a frame does not make the overlay flicker or an events consumer see
the object leave and come back). ``predict_only`` returns the same set, moved forward.
Set ``show_misses=0`` to get only tracks matched at the last detector run.

Track ids start at 1 and are never reused for the life of the ``Tracker``, even across
``reset()``. A track gets its id when it is confirmed, so tentative tracks that die
young leave no gaps in the ids a viewer sees.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from pi_vision.tracking import kalman
from pi_vision.detection.boxes import iou_matrix
from pi_vision.detections import Detections
from pi_vision.settings import setting, validate
from pi_vision.tracking.track_table import TrackTable

log = logging.getLogger(__name__)

# Cap of a track's class lead, in detection scores: about four sure detections.
MAX_CLASS_LEAD = 3.0


def _unit(v: float) -> bool:
    return 0.0 <= v <= 1.0


def _positive_unit(v: float) -> bool:
    return 0.0 < v <= 1.0


@dataclass(frozen=True)
class TrackerConfig:
    """Tuning of the tracker; the defaults suit MobileNet-SSD at 10-30 fps.

    Counts of hits and misses are in detector runs, not frames: with ``--detect-every 3``
    a track is kept for ``max_misses`` runs without a match, i.e. 3x as many frames.
    """

    enabled: bool = setting(True, "track objects (false: detections go out untracked, track id -1)",
                            flag="--no-track", flag_value=False)
    high_score: float = setting(0.5, "detections at or above are matched first", check=_unit, must="in 0..1")
    low_score: float = setting(0.2, "detections in [low_score, high_score) only extend confirmed tracks",
                               check=_unit, must="in 0..1")
    new_track_score: float = setting(0.6, "an unmatched detection starts a track only if this sure",
                                     check=_unit, must="in 0..1")
    match_iou: float = setting(0.2, "min IoU between a high-score detection and a predicted box",
                               check=_positive_unit, must="in (0, 1]")
    low_match_iou: float = setting(0.5, "min IoU for low-score detections, which are often clutter",
                                   check=_positive_unit, must="in (0, 1]")
    relabel_iou: float = setting(0.5, "min IoU for a sure detection of another class to continue a confirmed "
                                 "track left unmatched (the detector renamed the object)",
                                 check=_positive_unit, must="in (0, 1]")
    min_hits: int = setting(2, "detector runs a track must be matched in a row to be confirmed",
                            check=lambda v: v >= 1, must=">= 1")
    max_misses: int = setting(30, "detector runs a confirmed track survives unmatched", check=lambda v: v >= 0,
                              must=">= 0")
    show_misses: int = setting(3, "unmatched runs during which a confirmed track is still returned",
                               check=lambda v: v >= 0, must=">= 0")

    def __post_init__(self) -> None:
        validate(self)
        if not self.low_score <= self.high_score <= self.new_track_score:
            raise ValueError(
                "need 0 <= low_score <= high_score <= new_track_score <= 1, got "
                f"{self.low_score}, {self.high_score}, {self.new_track_score}"
            )


def assign(iou: np.ndarray, min_iou: float) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of the maximum-total-IoU one-to-one matching, pairs below ``min_iou`` dropped."""
    if iou.size == 0:
        empty = np.zeros(0, dtype=np.intp)
        return empty, empty
    # Zeroing pairs below the threshold first makes the solver spend its choices only on
    # admissible pairs (like lapjv's cost_limit); filtering afterwards alone could pick a
    # doomed pair over a good one.
    iou = np.where(iou >= min_iou, iou, 0.0)
    rows, cols = linear_sum_assignment(iou, maximize=True)
    keep = iou[rows, cols] > 0
    return rows[keep], cols[keep]


class Tracker:
    """Tracks objects across frames; see the module docstring for the calling contract.

    Tracks live in a ``TrackTable`` of parallel arrays (one row per track).
    """

    def __init__(self, config: TrackerConfig | None = None) -> None:
        self.config = config or TrackerConfig()
        self._next_id = 1
        self._tracks = TrackTable.empty()

    def reset(self) -> None:
        """Forget all tracks (e.g. after the camera reconnected); ids still never repeat."""
        self._tracks = TrackTable.empty()

    @property
    def active_count(self) -> int:
        """Number of confirmed tracks alive, including ones coasting through misses."""
        return int(np.count_nonzero(self._tracks.confirmed))

    @property
    def ids_issued(self) -> int:
        """How many distinct track ids this tracker has given out."""
        return self._next_id - 1

    @property
    def tentative_count(self) -> int:
        """Tracks not confirmed yet; persistently high means the detector sees clutter."""
        return int(np.count_nonzero(~self._tracks.confirmed))

    def predict_only(self, frames: int = 1) -> Detections:
        """Move tracks ``frames`` frames forward for frames the detector skipped."""
        self._predict(frames)
        return self._output()

    def update(self, detections: Detections, frames_elapsed: int = 1) -> Detections:
        """Take the detector's output for a frame ``frames_elapsed`` frames after the previous call.

        ``frames_elapsed`` is 1 plus the number of frames the detector skipped without
        ``predict_only`` being called for them.
        """
        self._predict(frames_elapsed)
        cfg = self.config
        boxes, scores, classes = detections.boxes, detections.scores, detections.class_ids
        usable = scores >= cfg.low_score
        if not usable.all():  # the app's detector already stops at low_score: skip the copies
            boxes, scores, classes = boxes[usable], scores[usable], classes[usable]
        det_meas = kalman.xyxy_to_measurement(boxes)

        # One IoU matrix for all stages; the first three match a detection only to a track of its class.
        tracks = self._tracks
        any_class_iou = iou_matrix(boxes, tracks.boxes)
        iou = any_class_iou * (classes[:, None] == tracks.class_ids[None, :])

        high = scores >= cfg.high_score
        confirmed = tracks.confirmed
        det_track = np.full(len(scores), -1, dtype=np.intp)  # matched track row per detection
        track_matched = np.zeros(len(tracks), dtype=bool)

        def match(det_mask: np.ndarray, track_mask: np.ndarray, min_iou: float, pairs: np.ndarray = iou) -> None:
            det_rows = np.nonzero(det_mask & (det_track < 0))[0]
            track_rows = np.nonzero(track_mask & ~track_matched)[0]
            if len(det_rows) == 0 or len(track_rows) == 0:
                return
            r, c = assign(pairs[det_rows][:, track_rows], min_iou)
            det_track[det_rows[r]] = track_rows[c]
            track_matched[track_rows[c]] = True

        # ByteTrack: sure detections claim confirmed tracks first; unsure ones may then only
        # extend confirmed tracks left over (recovering partly occluded objects without
        # letting clutter start tracks); tentative tracks get what sure detections remain.
        match(high, confirmed, cfg.match_iou)
        match(~high, confirmed, cfg.low_match_iou)
        match(high, ~confirmed, cfg.match_iou)
        match(high, confirmed, cfg.relabel_iou, any_class_iou)

        matched_dets = np.nonzero(det_track >= 0)[0]
        rows = det_track[matched_dets]
        if len(rows):
            tracks.mean[rows], tracks.cov[rows] = kalman.update(tracks.mean[rows], tracks.cov[rows],
                                                                det_meas[matched_dets])
            tracks.scores[rows] = scores[matched_dets]
            tracks.boxes[rows] = kalman.state_to_xyxy(tracks.mean[rows])
            self._vote(rows, classes[matched_dets], scores[matched_dets])
        tracks.hits = np.where(track_matched, tracks.hits + 1, 0)
        tracks.misses = np.where(track_matched, 0, tracks.misses + 1)

        # Tentative tracks die at their first miss (as in ByteTrack): with min_hits in a
        # row required, clutter rarely reaches confirmation.
        keep = np.where(confirmed, tracks.misses <= cfg.max_misses, track_matched)
        if not keep.all():
            self._keep(keep)

        starts = (det_track < 0) & (scores >= cfg.new_track_score)
        if starts.any():
            self._tracks = self._tracks.extended(TrackTable.started(det_meas[starts], classes[starts], scores[starts]))
        self._confirm()
        return self._output()

    def _vote(self, rows: np.ndarray, classes: np.ndarray, scores: np.ndarray) -> None:
        """Weighted majority vote (Boyer-Moore): agreeing detections add their score to the
        track's lead, others take theirs off and take the class over when the lead runs out.
        The lead is capped so that an object the detector has truly re-read (a person who
        sat on a bicycle) gets its new class within a few detector runs, not minutes."""
        tracks = self._tracks
        lead = tracks.class_votes[rows] + np.where(classes == tracks.class_ids[rows], scores, -scores)
        turned = lead < 0
        tracks.class_ids[rows[turned]] = classes[turned]
        tracks.class_votes[rows] = np.minimum(np.abs(lead), MAX_CLASS_LEAD)

    def _predict(self, frames: int) -> None:
        if frames < 1:
            raise ValueError(f"frames must be >= 1, got {frames}")
        tracks = self._tracks
        if len(tracks) == 0:
            return
        tracks.mean, tracks.cov = kalman.predict(tracks.mean, tracks.cov, frames)
        tracks.boxes = boxes = kalman.state_to_xyxy(tracks.mean)
        # A track predicted wholly out of the frame can never be matched again.
        inside = (boxes[:, 2:] > 0).all(axis=1) & (boxes[:, :2] < 1).all(axis=1)
        if not inside.all():
            self._keep(inside)

    def _keep(self, mask: np.ndarray) -> None:
        dropped = self._tracks.ids[~mask & self._tracks.confirmed]
        if len(dropped):
            log.debug("tracks lost: %s", dropped.tolist())
        self._tracks = self._tracks.select(mask)

    def _confirm(self) -> None:
        tracks = self._tracks
        ready = np.flatnonzero(~tracks.confirmed & (tracks.hits >= self.config.min_hits))
        if len(ready):
            tracks.ids[ready] = np.arange(self._next_id, self._next_id + len(ready))
            self._next_id += len(ready)
            log.debug("tracks confirmed: %s", tracks.ids[ready].tolist())

    def _output(self) -> Detections:
        tracks = self._tracks
        shown = tracks.confirmed & (tracks.misses <= self.config.show_misses)
        return Detections(np.clip(tracks.boxes[shown], 0.0, 1.0), tracks.scores[shown], tracks.class_ids[shown],
                          tracks.ids[shown])
