"""CLEAR-MOT counting (MOTA, ID switches, fragmentations) for judging the tracker.

Follows the rules of ``motmetrics`` (py-motmetrics) so numbers are comparable with
published ones, without pulling pandas onto the Pi:

* a ground-truth object and a hypothesis (tracker output) may be paired when their IoU is
  at least ``min_iou`` (0.5, the MOTChallenge convention);
* a pairing from earlier frames is kept while it stays admissible, even if another
  hypothesis now overlaps more; the rest is solved as a maximum-IoU assignment;
* an ID switch is a ground-truth object matched to a different hypothesis id than at its
  last match, however long ago;
* a fragmentation is a ground-truth trajectory going from tracked to untracked between
  its first and last tracked frame;
* ``MOTA = 1 - (misses + false positives + ID switches) / ground-truth boxes``.

Classes are ignored: the tracker copies classes from the detector and is not judged on them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pi_vision.detection.boxes import iou_matrix
from pi_vision.tracking.tracker import assign

NO_MATCH = -(2**62)  # a hypothesis id no tracker produces


@dataclass(frozen=True)
class MotSummary:
    frames: int
    ground_truth: int  # ground-truth boxes over all frames
    matches: int
    misses: int  # ground-truth boxes not paired (false negatives)
    false_positives: int
    id_switches: int
    fragmentations: int

    @property
    def mota(self) -> float:
        if self.ground_truth == 0:
            return float("nan")
        return 1.0 - (self.misses + self.false_positives + self.id_switches) / self.ground_truth


@dataclass
class MotAccumulator:
    """Feed it one frame at a time with :meth:`update`, then read :meth:`summary`."""

    min_iou: float = 0.5
    _frames: int = 0
    _gt: int = 0
    _matches: int = 0
    _misses: int = 0
    _fp: int = 0
    _switches: int = 0
    _last_match: dict[int, int] = field(default_factory=dict)  # gt id -> hypothesis id
    _tracked_history: dict[int, list[bool]] = field(default_factory=dict)  # gt id -> per present frame

    def update(self, gt_ids, gt_boxes, hyp_ids, hyp_boxes) -> None:
        """One frame: ids ``(N,)`` with boxes ``(N, 4)`` for ground truth and hypotheses."""
        gt_ids = np.asarray(gt_ids, dtype=np.int64)
        hyp_ids = np.asarray(hyp_ids, dtype=np.int64)
        gt_boxes = np.asarray(gt_boxes, dtype=np.float64).reshape(-1, 4)
        hyp_boxes = np.asarray(hyp_boxes, dtype=np.float64).reshape(-1, 4)
        if len(set(hyp_ids.tolist())) != len(hyp_ids):
            raise ValueError(f"duplicate hypothesis ids in one frame: {hyp_ids.tolist()}")
        iou = iou_matrix(gt_boxes, hyp_boxes)
        admissible = iou >= self.min_iou
        gt_paired = np.full(len(gt_ids), -1)  # column of the paired hypothesis
        hyp_taken = np.zeros(len(hyp_ids), dtype=bool)

        # Keep earlier pairings that are still admissible.
        hyp_col = {int(h): j for j, h in enumerate(hyp_ids)}
        for i, g in enumerate(gt_ids.tolist()):
            j = hyp_col.get(self._last_match.get(g, NO_MATCH), -1)
            if j >= 0 and admissible[i, j] and not hyp_taken[j]:
                gt_paired[i] = j
                hyp_taken[j] = True

        free_gt = np.flatnonzero(gt_paired < 0)
        free_hyp = np.flatnonzero(~hyp_taken)
        rows, cols = assign(iou[np.ix_(free_gt, free_hyp)], self.min_iou)
        for i, j in zip(free_gt[rows], free_hyp[cols]):
            g, h = int(gt_ids[i]), int(hyp_ids[j])
            if g in self._last_match and self._last_match[g] != h:
                self._switches += 1
            gt_paired[i] = j
            hyp_taken[j] = True

        for i, g in enumerate(gt_ids.tolist()):
            tracked = gt_paired[i] >= 0
            if tracked:
                self._last_match[g] = int(hyp_ids[gt_paired[i]])
            self._tracked_history.setdefault(g, []).append(bool(tracked))

        matched = int(np.count_nonzero(gt_paired >= 0))
        self._frames += 1
        self._gt += len(gt_ids)
        self._matches += matched
        self._misses += len(gt_ids) - matched
        self._fp += len(hyp_ids) - matched

    def summary(self) -> MotSummary:
        return MotSummary(
            frames=self._frames,
            ground_truth=self._gt,
            matches=self._matches,
            misses=self._misses,
            false_positives=self._fp,
            id_switches=self._switches,
            fragmentations=sum(_fragmentations(h) for h in self._tracked_history.values()),
        )


def _fragmentations(tracked: list[bool]) -> int:
    """Tracked -> untracked transitions between the first and last tracked frame."""
    flags = np.asarray(tracked, dtype=bool)
    hits = np.flatnonzero(flags)
    if len(hits) == 0:
        return 0
    span = flags[hits[0] : hits[-1] + 1]
    return int(np.count_nonzero(span[:-1] & ~span[1:]))
