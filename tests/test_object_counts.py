"""Objects per class, as the stats lines and the summary say them."""
from __future__ import annotations

import numpy as np
import pytest

from pi_vision.detections import Detections
from pi_vision.monitoring.monitor import format_text
from pi_vision.tracking.object_counts import ObjectCounts, format_counts

LABELS = ["person", "bicycle", "car"]


def _frame(*class_ids: int) -> Detections:
    n = len(class_ids)
    return Detections(np.tile([0.1, 0.1, 0.2, 0.2], (n, 1)), np.full(n, 0.9), list(class_ids))


@pytest.mark.parametrize("frames, window", [
    ([(0,), (0, 0), (0,)], {"person": 2}),           # the most seen at once, not the sum
    ([(0, 2), (2, 2, 2), ()], {"car": 3, "person": 1}),  # most seen first
    ([(), ()], {}),
    ([(7,)], {"class 7": 1}),                          # a class the labels do not name
])
def test_counts_are_the_peak_per_class(frames, window):
    counts = ObjectCounts()
    for ids in frames:
        counts.update(_frame(*ids), LABELS)
    assert counts.window() == window


def test_a_window_starts_afresh_and_the_run_keeps_its_peak():
    counts = ObjectCounts()
    counts.update(_frame(0, 0, 1), LABELS)
    assert counts.window() == {"person": 2, "bicycle": 1}
    counts.update(_frame(0), LABELS)
    assert counts.window() == {"person": 1}
    assert counts.run() == {"person": 2, "bicycle": 1}


@pytest.mark.parametrize("counts, text", [
    ({"person": 1, "cat": 1, "motorcycle": 1}, "objects person 1, cat 1, motorcycle 1"),
    ({}, "objects none"),
])
def test_format(counts, text):
    assert format_counts(counts) == text


def test_the_stats_line_says_what_it_sees():
    data = {"event": "stats", "uptime_s": 5, "fps": 30.0, "camera_fps": 30.0, "dropped": 0, "tracks": 2,
            "objects": {"person": 1, "cat": 1}, "ms": {}}
    assert "| tracks 2 | objects person 1, cat 1" in format_text(data)
