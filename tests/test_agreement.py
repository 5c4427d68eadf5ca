import numpy as np
import pytest

from pi_vision.detection.agreement import box_fit, map50
from pi_vision.detections import Detections


def _d(boxes, classes, scores=None):
    boxes = np.array(boxes, np.float32).reshape(-1, 4)
    scores = np.ones(len(boxes)) if scores is None else np.array(scores)
    return Detections(boxes, scores, np.array(classes, np.int32))


A = [0.1, 0.1, 0.3, 0.3]
B = [0.5, 0.5, 0.8, 0.9]
A_SHIFTED_A_BIT = [0.12, 0.11, 0.32, 0.31]  # IoU ~0.7
A_SHIFTED_A_LOT = [0.2, 0.2, 0.4, 0.4]  # IoU ~0.14


@pytest.mark.parametrize("pred, truth, expected", [
    ([_d([A, B], [0, 1])], [_d([A, B], [0, 1])], 1.0),
    ([_d([A_SHIFTED_A_BIT], [0])], [_d([A], [0])], 1.0),
    ([_d([A_SHIFTED_A_LOT], [0])], [_d([A], [0])], 0.0),
    ([_d([A], [1])], [_d([A], [0])], 0.0),  # right place, wrong class
    ([_d([], [])], [_d([A], [0])], 0.0),
    ([_d([A], [0]), _d([], [])], [_d([A], [0]), _d([A], [0])], 0.5),  # found one of two
    # class 0 perfect, class 1 missed: the mean over the truth's classes
    ([_d([A], [0])], [_d([A, B], [0, 1])], 0.5),
    # a false positive ranked above the hit halves precision at full recall
    ([_d([B, A], [0, 0], [0.9, 0.8])], [_d([A], [0])], 0.5),
    # ranked below the hit it costs nothing
    ([_d([A, B], [0, 0], [0.9, 0.8])], [_d([A], [0])], 1.0),
])
def test_map50(pred, truth, expected):
    assert map50(pred, truth) == pytest.approx(expected, abs=0.011)


def test_duplicates_count_once():
    assert map50([_d([A, A], [0, 0], [0.9, 0.8])], [_d([A], [0])]) == pytest.approx(1.0, abs=0.011)
    assert map50([_d([A, A], [0, 0], [0.9, 0.8])], [_d([A, A], [0, 0])]) == pytest.approx(1.0, abs=0.011)


def test_nothing_to_agree_on_is_nan():
    assert np.isnan(map50([_d([A], [0])], [_d([], [])]))


A_TALLER = [0.1, 0.05, 0.3, 0.35]  # A 1.5x as tall, same width and centre: IoU 0.67
A_LARGER = [0.05, 0.05, 0.35, 0.35]  # A 1.5x as tall and wide: IoU 0.44


@pytest.mark.parametrize("pred, covered, height, width", [
    ([A], 1.0, 1.0, 1.0),
    ([A_TALLER], 1.0, 1.5, 1.0),
    ([A_LARGER], 0.0, 1.5, 1.5),
    ([A_LARGER, A], 1.0, 1.0, 1.0),  # the best-overlapping box is the one measured
    ([B], 0.0, float("nan"), float("nan")),  # nowhere near: no size to compare
])
def test_box_fit_says_whether_boxes_are_too_large(pred, covered, height, width):
    fit = box_fit([_d(pred, [0] * len(pred))], [_d([A], [0])], class_id=0)
    assert fit.truth_boxes == 1 and fit.covered == covered
    np.testing.assert_allclose([fit.height_ratio, fit.width_ratio], [height, width], rtol=1e-5)


def test_box_fit_over_every_class_matches_within_a_class():
    # The class-1 box is A's size but another class: it does not count for A.
    fit = box_fit([_d([A, A_LARGER], [1, 0]), _d([B], [1])], [_d([A], [0]), _d([B], [1])])
    assert fit.truth_boxes == 2 and fit.covered == 0.5
    assert fit.height_ratio == pytest.approx(1.25)  # the median of 1.5 and 1.0


def test_box_fit_only_looks_at_its_class():
    fit = box_fit([_d([A, A_LARGER], [1, 0])], [_d([A], [0])], class_id=0)
    assert fit.covered == 0.0 and fit.height_ratio == pytest.approx(1.5)
