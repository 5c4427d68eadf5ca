"""Readers, augmentation geometry and anchor matching of the training package (no TensorFlow)."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from pi_vision.detection.anchors import generate_anchors
from pi_vision.training.augment import AugmentConfig, compose, flip, view_labels
from pi_vision.training.data.coco import read_coco
from pi_vision.training.data.voc import read_voc
from pi_vision.training.data.yolo import read_yolo
from pi_vision.training.box_labels import BoxLabels
from pi_vision.training.data.sample import Sample
from pi_vision.training.loader import ImageStore, layer_anchor_counts
from pi_vision.training.model_spec import zoo_anchor_spec
from pi_vision.training.sampling import repeat_factors, sampling_probabilities
from pi_vision.training.targets import AnchorMatcher

VOC_XML = """<annotation><filename>a.jpg</filename><size><width>200</width><height>100</height></size>
<object><name>cat</name><bndbox><xmin>20</xmin><ymin>10</ymin><xmax>120</xmax><ymax>60</ymax></bndbox></object>
<object><name>undeflect</name><bndbox><xmin>0</xmin><ymin>0</ymin><xmax>5</xmax><ymax>5</ymax></bndbox></object>
</annotation>"""


def _image(path: Path, w: int = 200, h: int = 100) -> None:
    cv2.imwrite(str(path), np.zeros((h, w, 3), np.uint8))


def test_voc_reader_normalises_and_ignores_unknown_names(tmp_path):
    (tmp_path / "ann").mkdir()
    (tmp_path / "img").mkdir()
    (tmp_path / "ann" / "a.xml").write_text(VOC_XML)
    _image(tmp_path / "img" / "a.jpg")
    [sample] = read_voc(tmp_path / "ann", tmp_path / "img", ["dog", "cat"])
    np.testing.assert_allclose(sample.labels.boxes, [[0.1, 0.1, 0.6, 0.6]])
    assert sample.labels.classes.tolist() == [1]


def test_coco_reader_maps_category_ids(tmp_path):
    data = {"images": [{"id": 7, "file_name": "a.jpg", "width": 200, "height": 100}],
            "annotations": [{"id": 1, "image_id": 7, "category_id": 18, "bbox": [20, 10, 100, 50], "iscrowd": 0},
                            {"id": 2, "image_id": 7, "category_id": 1, "bbox": [0, 0, 10, 10], "iscrowd": 1}],
            "categories": [{"id": 1, "name": "person"}, {"id": 18, "name": "dog"}]}
    (tmp_path / "ann.json").write_text(json.dumps(data))
    [sample] = read_coco(tmp_path / "ann.json", tmp_path, {1: 0, 18: 16})
    np.testing.assert_allclose(sample.labels.boxes, [[0.1, 0.1, 0.6, 0.6]])
    assert sample.labels.classes.tolist() == [16]  # the crowd box is skipped


def test_yolo_reader(tmp_path):
    _image(tmp_path / "a.jpg")
    _image(tmp_path / "b.jpg")
    (tmp_path / "a.txt").write_text("3 0.35 0.35 0.5 0.5\n")
    a, b = read_yolo(tmp_path)
    np.testing.assert_allclose(a.labels.boxes, [[0.1, 0.1, 0.6, 0.6]], atol=1e-6)
    assert a.labels.classes.tolist() == [3] and len(b.labels) == 0


def test_view_labels_crops_and_drops_hidden_boxes():
    labels = BoxLabels([[0.3, 0.3, 0.6, 0.6], [0.6, 0.6, 0.9, 0.9], [0.2, 0.3, 0.6, 0.6]], [1, 2, 3], [1, 0.5, 1])
    seen = view_labels(labels, (0.25, 0.25, 0.75, 0.75), min_visible=0.3)
    # The second box is 25% visible and goes; the third loses 1/8 and is clipped.
    np.testing.assert_allclose(seen.boxes, [[0.1, 0.1, 0.7, 0.7], [0.0, 0.1, 0.7, 0.7]], atol=1e-6)
    assert seen.classes.tolist() == [1, 3]


def test_flip_mirrors_boxes():
    image = np.zeros((10, 20, 3), np.uint8)
    _, flipped = flip(image, BoxLabels([[0.1, 0.1, 0.5, 0.3]], [0], [1]))
    np.testing.assert_allclose(flipped.boxes, [[0.1, 0.7, 0.5, 0.9]], atol=1e-6)


@pytest.mark.parametrize("crop_aspect, expected_w_over_h", [
    ("stretched", 0.75),  # a square object in a 4:3 frame, stretched onto a square input as the app does
    ("natural", 1.0),
])
def test_crops_distort_objects_like_the_app_does(crop_aspect, expected_w_over_h):
    rng = np.random.default_rng(0)
    image = np.zeros((300, 400, 3), np.uint8)
    labels = BoxLabels([[100 / 300, 150 / 400, 200 / 300, 250 / 400]], [0], [1.0])
    config = AugmentConfig(mosaic_probability=0, crop_probability=1, zoom_out_probability=0, flip_probability=0,
                           min_visible=0.99, crop_aspect=crop_aspect)
    shapes = []
    for _ in range(300):
        _, out = compose([(image, labels)], (160, 160), rng, config)
        shapes += [(b[3] - b[1]) / (b[2] - b[0]) for b in out.boxes]
    assert len(shapes) > 50
    assert np.median(shapes) == pytest.approx(expected_w_over_h, abs=0.06)


def test_unknown_crop_aspect_is_rejected():
    with pytest.raises(ValueError, match="crop_aspect"):
        AugmentConfig(crop_aspect="square")


def test_augmented_boxes_follow_the_pixels():
    """A white square on black stays inside its transformed box through mosaics, crops and flips."""
    rng = np.random.default_rng(0)
    image = np.zeros((120, 160, 3), np.uint8)
    image[30:90, 40:100] = 255
    labels = BoxLabels([[30 / 120, 40 / 160, 90 / 120, 100 / 160]], [0], [1.0])
    config = AugmentConfig(brightness=0, contrast=0, saturation=0, hue_degrees=0, min_visible=0.99)
    checked = 0
    for _ in range(30):
        out, out_labels = compose([(image, labels)] * 4, (128, 128), rng, config)
        for box in out_labels.boxes:
            y1, x1, y2, x2 = np.round(box * 128).astype(int)
            if y2 - y1 < 6 or x2 - x1 < 6:
                continue
            inside = out[y1 + 2:y2 - 2, x1 + 2:x2 - 2]
            assert inside.mean() > 200, "box does not cover the white square"
            checked += 1
    assert checked > 10


def test_matcher_gives_soft_targets_and_max_per_class():
    spec = zoo_anchor_spec()
    anchors = generate_anchors(spec, (160, 160))
    matcher = AnchorMatcher(anchors, 3, layer_sizes=layer_anchor_counts(spec, 160))
    cy, cx, h, w = anchors[500]
    box = [cy - h / 2, cx - w / 2, cy + h / 2, cx + w / 2]
    # The same box twice for class 1 (teacher unsure) and once for class 2.
    targets = matcher(BoxLabels([box, box, box], [1, 1, 2], [0.3, 0.6, 0.2]))
    np.testing.assert_allclose(targets.classes[500], [0.0, 0.6, 0.2])
    assert targets.box_weights[500] == np.float32(0.6)
    np.testing.assert_allclose(targets.boxes[500], 0.0, atol=1e-4)
    assert (targets.box_weights > 0).sum() >= 1
    empty = matcher(BoxLabels.empty())
    assert empty.classes.sum() == 0 and empty.class_weights.min() == 1


class _FixedTeacher:
    """Stands in for the pseudo-label cache: the same teacher labels for every image."""

    def __init__(self, labels: BoxLabels):
        self.labels = labels

    def get(self, image) -> BoxLabels:
        return self.labels


@pytest.mark.parametrize("hard, expected_scores", [(False, [0.6, 1.0]), (True, [1.0, 1.0])])
def test_image_store_filters_teacher_labels_and_can_make_them_hard(tmp_path, hard, expected_scores):
    _image(tmp_path / "a.jpg")
    teacher = BoxLabels(np.array([[0.1, 0.1, 0.5, 0.5], [0.2, 0.6, 0.4, 0.9], [0.6, 0.1, 0.9, 0.3]], np.float32),
                        np.array([0, 2, 0]), np.array([0.6, 0.2, 0.9], np.float32))
    human = BoxLabels(np.array([[0.6, 0.1, 0.9, 0.3]], np.float32), np.array([0]), np.array([1.0], np.float32))
    store = ImageStore([Sample(tmp_path / "a.jpg", human)], _FixedTeacher(teacher), min_pseudo_score=0.3,
                       hard_pseudo_labels=hard)
    labels = store.labels[0]
    # The 0.2 box is dropped; the human box replaces the teacher's box of its class it overlaps.
    assert sorted(labels.scores.tolist()) == pytest.approx(expected_scores)
    assert len(labels) == 2 and labels.classes.tolist().count(0) == 2


def _shows(*classes, score=0.9) -> BoxLabels:
    return BoxLabels(np.tile([0.1, 0.1, 0.5, 0.5], (len(classes), 1)), list(classes), [score] * len(classes))


@pytest.mark.parametrize("threshold, expected", [
    # class 0 shows in 3 of 4 images (f 0.75), class 1 in one (f 0.25); a 0.2-score label does not count
    (0.25, [1.0, 1.0, 1.0, 1.0]),
    (0.75, [1.0, 3 ** 0.5, 1.0, 1.0]),
    (1.0, [(4 / 3) ** 0.5, 2.0, (4 / 3) ** 0.5, 1.0]),
])
def test_repeat_factors_favour_images_with_rare_classes(threshold, expected):
    unsure = BoxLabels([[0.1, 0.1, 0.5, 0.5]] * 2, [0, 2], [0.9, 0.2])
    labels = [_shows(0), _shows(0, 1), unsure, BoxLabels.empty()]
    np.testing.assert_allclose(repeat_factors(labels, 3, threshold), expected, rtol=1e-6)
    probabilities = sampling_probabilities(labels, 3, threshold)
    np.testing.assert_allclose(probabilities, np.array(expected) / sum(expected), rtol=1e-6)


def test_threshold_zero_samples_uniformly():
    assert sampling_probabilities([_shows(0), _shows(1)], 2, 0.0) is None


@pytest.mark.parametrize("threshold, share, expected", [
    # 1 scene photo of 4 gets 80% of the draws, the other 3 share 20%
    (0.0, 0.8, [0.8, 0.2 / 3, 0.2 / 3, 0.2 / 3]),
    (0.0, 0.25, [0.25, 0.25, 0.25, 0.25]),  # its natural share: uniform
    # within each side, repeat factors still split it: image 1 (rare class 1, factor sqrt 3) vs 2 and 3
    (0.75, 0.5, [0.5, 0.5 * 3 ** 0.5 / (2 + 3 ** 0.5), 0.5 / (2 + 3 ** 0.5), 0.5 / (2 + 3 ** 0.5)]),
])
def test_scene_share_sets_the_groups_share_of_the_draws(threshold, share, expected):
    labels = [_shows(0), _shows(0, 1), _shows(0), BoxLabels.empty()]
    group = np.array([True, False, False, False])
    probabilities = sampling_probabilities(labels, 3, threshold, group, share)
    np.testing.assert_allclose(probabilities, expected, rtol=1e-6)


def test_scene_photos_are_recognised_by_their_folder(tmp_path):
    from pi_vision.training.data.recipes import COCO_SCENES, is_coco_scene
    assert is_coco_scene(tmp_path / "unlabeled" / COCO_SCENES / "x.jpg")
    assert not is_coco_scene(tmp_path / "unlabeled" / "bsds500" / "x.jpg")
