"""The distillation teacher and the COCO evaluator, against the reference model."""
from __future__ import annotations


import cv2
import numpy as np
import pytest

from pi_vision.training.classes import COCO80_NAMES
from pi_vision.training.data.pseudo_labels import PseudoLabelCache, merge_with_human
from pi_vision.training.box_labels import BoxLabels
from pi_vision.training.teacher import Teacher, TeacherConfig


@pytest.fixture(scope="module")
def cats_and_dogs(data_dir) -> np.ndarray:
    path = data_dir / "images" / "cats_and_dogs.jpg"
    if not path.exists():
        pytest.skip(f"{path} not found")
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def test_dense_outputs_decode_to_the_post_process_result(reference_path, cats_and_dogs):
    """Our decode of the op's inputs finds the op's own best box and score."""
    teacher = Teacher(reference_path)
    boxes, scores = teacher.dense(cats_and_dogs)
    assert boxes.shape == (1917, 4) and scores.shape == (1917, 80)
    best = scores.max(axis=1).argmax()
    assert COCO80_NAMES[scores[best].argmax()] == "cat"
    assert scores[best].max() == pytest.approx(0.64, abs=0.01)  # the value the tflite-support tests expect
    interpreter = teacher._interpreter
    outputs = {d["name"]: interpreter.get_tensor(d["index"]) for d in interpreter.get_output_details()}
    np.testing.assert_allclose(boxes[best], outputs["TFLite_Detection_PostProcess"][0, 0], atol=1e-4)


def test_labels_include_low_scores_and_tiles(reference_path, cats_and_dogs):
    teacher = Teacher(reference_path, TeacherConfig(min_score=0.05))
    labels = teacher.label(cats_and_dogs)
    assert 4 <= len(labels) <= 100
    assert labels.scores.min() >= 0.05 and labels.scores.max() > 0.6
    assert {"cat", "dog"} <= {COCO80_NAMES[c] for c in labels.classes[labels.scores > 0.4]}
    assert labels.boxes.min() >= 0 and labels.boxes.max() <= 1


def test_pseudo_label_cache_reuses_its_files(reference_path, cats_and_dogs, tmp_path):
    image = tmp_path / "x.jpg"
    cv2.imwrite(str(image), cv2.cvtColor(cats_and_dogs, cv2.COLOR_RGB2BGR))
    cache = PseudoLabelCache(tmp_path / "cache", Teacher(reference_path))
    first = cache.get(image)
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 1
    again = cache.get(image)
    np.testing.assert_array_equal(first.boxes, again.boxes)


def test_human_labels_replace_overlapping_teacher_boxes():
    teacher = BoxLabels([[0, 0, 0.5, 0.5], [0, 0, 0.5, 0.5], [0.6, 0.6, 1, 1]], [0, 2, 0], [0.7, 0.3, 0.2])
    human = BoxLabels([[0.02, 0, 0.5, 0.5]], [0], [1.0])
    merged = merge_with_human(teacher, human)
    assert sorted(zip(merged.classes.tolist(), [round(float(s), 2) for s in merged.scores])) == \
        [(0, 0.2), (0, 1.0), (2, 0.3)]


def test_evaluator_reproduces_the_reference_map(reference_path, data_dir):
    """Validates the evaluator: the reference's published numbers on coco128 (300x300, 128 images)."""
    pytest.importorskip("pycocotools")
    from pi_vision.training.evaluate import evaluate_model
    coco128 = data_dir / "coco128"
    result = evaluate_model(reference_path, coco128 / "instances_train2017.json", coco128 / "images")
    assert result.images == 128
    assert result.map == pytest.approx(0.204, abs=0.0015)
    assert result.map50 == pytest.approx(0.315, abs=0.0015)


def test_yardsticks_score_each_set_as_alone_and_pool_them(reference_path, data_dir):
    """The merged ground truth keeps both sets apart: each scores as the published figures say."""
    pytest.importorskip("pycocotools")
    from pi_vision.training.yardsticks import POOLED, YARDSTICKS, load_yardstick, missing, score_model
    if missing(data_dir):
        pytest.skip(f"{missing(data_dir)} not in {data_dir}")
    yardstick = load_yardstick(data_dir)
    assert [len(yardstick.image_ids[name]) for name in (*YARDSTICKS, POOLED)] == [128, 80, 208]
    scores = score_model(reference_path, yardstick)
    assert scores["coco128"] == pytest.approx((0.204, 0.315), abs=0.0015)
    assert scores["coco_mini80"] == pytest.approx((0.202, 0.297), abs=0.0015)
    assert 0.15 < scores[POOLED][0] < 0.25
