"""The second teacher (YOLOX-Nano), the score calibration and the fusion of two teachers."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from pi_vision.training.classes import COCO80_NAMES
from pi_vision.detection.score_calibration import ScoreCalibration
from pi_vision.training.fusion import FusionConfig, fuse
from pi_vision.training.box_labels import BoxLabels
from pi_vision.training.yolox_teacher import STRIDES, YoloxTeacher, decode, grid_offsets


@pytest.fixture(scope="module")
def yolox(data_dir):
    pytest.importorskip("onnxruntime")
    path = data_dir / "teachers" / "yolox_nano.onnx"
    if not path.exists():
        pytest.skip(f"{path} not found")
    return YoloxTeacher(path)


def test_grid_rows_follow_strides_8_16_32_row_major():
    cells, strides = grid_offsets(416)
    assert len(cells) == 52 * 52 + 26 * 26 + 13 * 13 == 3549
    assert cells[1].tolist() == [1, 0] and cells[52].tolist() == [0, 1]  # x moves fastest
    assert strides[52 * 52, 0] == 16 and strides[-1, 0] == 32 and cells[-1].tolist() == [12, 12]
    assert tuple(np.unique(strides)) == STRIDES


@pytest.mark.parametrize("row, box", [
    # offsets (0.5, 0.5) in cell (1, 0) of stride 8, log size 0 -> a stride-sized box centred at (12, 4)
    ([0.5, 0.5, 0.0, 0.0], [8.0, 0.0, 16.0, 8.0]),
    ([0.0, 0.0, np.log(4.0), np.log(2.0)], [-8.0, -8.0, 24.0, 8.0]),
])
def test_decode_turns_cell_offsets_and_log_sizes_into_pixels(row, box):
    cells = np.array([[1, 0]], np.float32)
    strides = np.array([[8.0]], np.float32)
    raw = np.array([row + [0.5] + [0.0] * 79 + [0.8]], np.float32)
    boxes, scores = decode(raw, cells, strides)
    np.testing.assert_allclose(boxes[0], box, atol=1e-5)
    assert scores[0, -1] == pytest.approx(0.4) and scores[0, 0] == 0.0  # objectness x class


def test_yolox_finds_the_cats_where_the_reference_does(yolox, data_dir):
    image = cv2.cvtColor(cv2.imread(str(data_dir / "images" / "cats_and_dogs.jpg")), cv2.COLOR_BGR2RGB)
    labels = yolox.label(image)
    confident = labels.select(labels.scores >= 0.5)
    assert [COCO80_NAMES[c] for c in confident.classes].count("cat") >= 2
    assert labels.boxes.min() >= 0 and labels.boxes.max() <= 1
    # The same photo on a taller grey canvas is letterboxed the other way (padding right, not
    # below); its boxes must come back in the taller image's coordinates.
    h, w = image.shape[:2]
    tall = np.full((h + w, w, 3), 114, np.uint8)
    tall[:h] = image
    again = yolox.label(tall)
    best = confident.boxes[np.argmax(confident.scores)] * [h / (h + w), 1, h / (h + w), 1]
    nearest = again.boxes[np.abs(again.boxes - best).sum(axis=1).argmin()]
    np.testing.assert_allclose(nearest, best, atol=0.02)


def test_calibration_by_rank_gives_equal_counts_above_any_threshold():
    rng = np.random.default_rng(0)
    low = rng.beta(1, 6, 20000)    # a teacher whose scores run low
    high = rng.beta(2, 3, 20000)   # one whose scores run high
    calibrate = ScoreCalibration.by_rank(low, high)
    mapped = calibrate(low)
    for threshold in (0.2, 0.3, 0.5, 0.7):
        assert (mapped >= threshold).sum() == pytest.approx((high >= threshold).sum(), rel=0.05)
    grid = np.linspace(0, 1, 101)
    assert np.all(np.diff(calibrate(grid)) >= 0) and calibrate(np.array([0.0]))[0] == 0.0


def test_calibration_needs_enough_boxes():
    with pytest.raises(ValueError, match="at least"):
        ScoreCalibration.by_rank(np.full(10, 0.5), np.full(1000, 0.5))


def test_calibration_survives_a_model_card_and_inverts():
    c = ScoreCalibration((0.0, 0.2, 1.0), (0.0, 0.5, 1.0))
    assert ScoreCalibration.from_card(c.to_card()) == c
    assert c(np.array([0.1]))[0] == pytest.approx(0.25)
    assert c.inverse(0.5) == pytest.approx(0.2) and c.inverse(0.75) == pytest.approx(0.6)


@pytest.mark.parametrize("section", [
    {"source": [0.0, 1.0], "target": [0.0]},
    {"source": [0.0, 0.5, 0.4], "target": [0.0, 0.5, 1.0]},
    {"source": [0.0, 1.0]},
])
def test_a_broken_calibration_section_is_rejected(section):
    with pytest.raises((ValueError, KeyError)):
        ScoreCalibration.from_card(section)


@pytest.mark.parametrize("a, b, expect", [
    # both teachers see the same cat: one box, averaged by score, mean score
    (([[0.1, 0.1, 0.5, 0.5]], [15], [0.8]), ([[0.1, 0.1, 0.5, 0.7]], [15], [0.6]), [(15, 0.7, [0.1, 0.1, 0.5, 0.586])]),
    # only one sees it: half its score (weights 1:1)
    (([[0.1, 0.1, 0.5, 0.5]], [15], [0.8]), ([], [], []), [(15, 0.4, [0.1, 0.1, 0.5, 0.5])]),
    # same place, different classes: kept apart
    (([[0.1, 0.1, 0.5, 0.5]], [15], [0.8]), ([[0.1, 0.1, 0.5, 0.5]], [16], [0.6]),
     [(15, 0.4, [0.1, 0.1, 0.5, 0.5]), (16, 0.3, [0.1, 0.1, 0.5, 0.5])]),
])
def test_fusion_averages_agreeing_boxes_and_discounts_lone_ones(a, b, expect):
    pytest.importorskip("ensemble_boxes")
    fused = fuse([BoxLabels(*a), BoxLabels(*b)], FusionConfig(weights=(1.0, 1.0), conf_type="avg"))
    got = sorted((int(c), round(float(s), 3), box.round(3).tolist())
                 for c, s, box in zip(fused.classes, fused.scores, fused.boxes))
    assert [(c, s) for c, s, _ in got] == [(c, s) for c, s, _ in expect]
    for (_, _, box), (_, _, want) in zip(got, expect):
        np.testing.assert_allclose(box, want, atol=1e-3)  # [ymin, xmin, ymax, xmax] kept, not swapped


def test_fusion_of_nothing_is_empty():
    pytest.importorskip("ensemble_boxes")
    assert len(fuse([BoxLabels.empty(), BoxLabels.empty()])) == 0


def test_each_teacher_is_calibrated_before_the_fusion():
    pytest.importorskip("ensemble_boxes")
    from pi_vision.training.fusion import fuse_calibrated
    box = [[0.1, 0.1, 0.5, 0.5]]
    doubled = ScoreCalibration((0.0, 0.5, 1.0), (0.0, 1.0, 1.0))
    fused = fuse_calibrated([BoxLabels(box, [3], [0.6]), BoxLabels(box, [3], [0.3])], [ScoreCalibration(), doubled])
    assert fused.scores.tolist() == pytest.approx([0.6])  # (0.6 + 2 x 0.3) / 2
    with pytest.raises(ValueError, match="calibrations"):
        fuse_calibrated([BoxLabels(box, [3], [0.6])], [])
