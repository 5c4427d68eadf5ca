"""What the app sees, in words: objects per class, for the stats lines and the summary.

The count of a class is the most objects of it seen in one frame - over the log interval
for a stats line, over the whole run for the summary - so one person who walks past is
``person 1`` however often the tracker re-identifies them, and two cats side by side are
``cat 2``.
"""
from __future__ import annotations

from collections import Counter

from pi_vision.detections import Detections
from pi_vision.detection.labels import label_name


class ObjectCounts:
    def __init__(self) -> None:
        self._window: Counter[str] = Counter()
        self._run: Counter[str] = Counter()

    def update(self, detections: Detections, labels: list[str]) -> None:
        """One processed frame's objects (tracked, or raw detections when tracking is off)."""
        frame = Counter(label_name(labels, int(c)) for c in detections.class_ids)
        self._window |= frame  # Counter union keeps the larger count per class
        self._run |= frame

    def window(self) -> dict[str, int]:
        """Peak per class since the last call, most seen first; starts a new window."""
        peak, self._window = self._window, Counter()
        return dict(peak.most_common())

    def run(self) -> dict[str, int]:
        """Peak per class over the whole run, most seen first."""
        return dict(self._run.most_common())


def format_counts(counts: dict[str, int]) -> str:
    """``objects person 1, cat 1`` (``objects none`` when nothing was seen)."""
    return "objects " + (", ".join(f"{name} {n}" for name, n in counts.items()) or "none")
