import cv2
import numpy as np
import pytest
import yaml

from pi_vision.detection.anchors import AnchorSpec, generate_anchors
from pi_vision.config import DetectorConfig
from pi_vision.detection.detector import TFLiteDetector, detect_image
from pi_vision.errors import UserError
from pi_vision.detection.output_layouts import PostprocessLayout, RawSsdLayout


@pytest.fixture(scope="module")
def reference(reference_path):
    return TFLiteDetector(DetectorConfig(model=str(reference_path), threads=2, score_threshold=0.5))


def test_reference_on_cats_and_dogs(reference, data_dir):
    """The values the tflite-support tests expect from this model and image."""
    image = cv2.imread(str(data_dir / "images" / "cats_and_dogs.jpg"))
    timings = {}
    detections = detect_image(reference, image, timings)
    assert [reference.labels[c] for c in detections.class_ids] == ["cat", "cat", "cat", "dog"]
    np.testing.assert_allclose(detections.scores, [0.64, 0.61, 0.56, 0.51], atol=0.005)
    assert set(timings) == {"preprocess", "invoke", "postprocess"}
    # Boxes come back normalised to the frame as x1, y1, x2, y2.
    assert np.all(detections.boxes[:, 2] > detections.boxes[:, 0])
    assert np.all((detections.boxes >= 0) & (detections.boxes <= 1))


def test_xnnpack_and_labels_are_reported(reference):
    assert reference.xnnpack_partitions >= 1
    assert reference.runtime == "ai_edge_litert"
    assert reference.labels[0] == "person" and len(reference.labels) == 90


class _ReorderedOutputs:
    """The reference interpreter as a TF2 export presents it: outputs in another order
    under other names. Only the listing changes; the tensors are the real ones."""

    def __init__(self, interpreter, order, with_ops=True):
        self._interpreter = interpreter
        self._order = order
        if not with_ops:
            self._get_ops_details = None

    def __getattr__(self, name):
        return getattr(self._interpreter, name)

    def get_output_details(self):
        details = self._interpreter.get_output_details()
        renamed = [dict(d, name=f"StatefulPartitionedCall:{k}") for k, d in enumerate(details)]
        return [renamed[i] for i in self._order]


@pytest.mark.parametrize("order", [(0, 1, 2, 3), (2, 0, 3, 1), (3, 2, 1, 0)])
def test_postprocess_outputs_are_found_by_the_op_not_by_position(reference, order):
    wrapped = _ReorderedOutputs(reference._interpreter, order)
    layout = PostprocessLayout.find(wrapped, reference.path)
    assert layout is not None
    assert [layout._roles[r]["index"] for r in ("boxes", "classes", "scores", "count")] == \
        [reference._layout._roles[r]["index"] for r in ("boxes", "classes", "scores", "count")]


def test_postprocess_outputs_found_by_name_without_an_op_list(reference):
    class NoOps:
        def __init__(self, interpreter):
            self._i = interpreter

        def get_output_details(self):
            return self._i.get_output_details()[::-1]

    layout = PostprocessLayout.find(NoOps(reference._interpreter), reference.path)
    assert layout._roles["scores"]["name"] == "TFLite_Detection_PostProcess:2"


def test_raw_ssd_decoding_matches_the_postprocess_op(reference_path, data_dir):
    """Decode the reference's own raw tensors (the op's inputs) and compare with the op."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(reference_path), experimental_preserve_all_tensors=True)
    interpreter.allocate_tensors()
    image = cv2.imread(str(data_dir / "images" / "cats_and_dogs.jpg"))
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"],
                           cv2.resize(cv2.cvtColor(image, cv2.COLOR_BGR2RGB), (300, 300))[None])
    interpreter.invoke()
    tensors = {d["name"]: d for d in interpreter.get_tensor_details()}
    raw = RawSsdLayout(interpreter, tensors["Squeeze"], tensors["convert_scores"],
                       generate_anchors(AnchorSpec(), (300, 300))).decode(0.5)
    op = PostprocessLayout.find(interpreter, reference_path).decode(0.5)
    assert list(raw.classes) == list(op.classes)
    np.testing.assert_allclose(raw.scores, op.scores, atol=1e-6)
    # The op decodes with its uint8-stored anchors; ours are exact.
    np.testing.assert_allclose(raw.boxes, op.boxes, atol=0.01)


@pytest.mark.parametrize("model_name, message", [
    ("missing.tflite", "does not exist"),
    ("no_such_model", "no model named no_such_model"),
])
def test_missing_models(model_name, message, tmp_path):
    name = str(tmp_path / model_name) if model_name.endswith(".tflite") else model_name
    with pytest.raises(UserError, match=message):
        TFLiteDetector(DetectorConfig(model=name))


def test_truncated_and_non_detector_models(reference_path, data_dir, tmp_path):
    truncated = tmp_path / "truncated.tflite"
    truncated.write_bytes(reference_path.read_bytes()[:50000])
    with pytest.raises(UserError, match="not a loadable TFLite model"):
        TFLiteDetector(DetectorConfig(model=str(truncated)))
    classifier = data_dir / "backbones" / "mobilenet_v1_0.25_128_quant.tflite"
    with pytest.raises(UserError, match="is not an SSD detector"):
        TFLiteDetector(DetectorConfig(model=str(classifier)))


def test_model_card_anchors_only_matter_for_raw_outputs(reference_path, tmp_path):
    """A post-process model ignores its card's anchor section, whatever it holds."""
    model = tmp_path / "ref.tflite"
    model.write_bytes(reference_path.read_bytes())
    model.with_suffix(".yaml").write_text("anchors:\n  strides: [8]\n  boxes_per_cell: [4]\n  bogus: 1\n")
    assert TFLiteDetector(DetectorConfig(model=str(model))).labels[0] == "person"


def test_a_cards_score_calibration_puts_scores_on_the_reference_scale(reference_path, data_dir, tmp_path):
    """The runtime maps raw scores through the card's calibration; the threshold is in mapped units."""
    from pi_vision.detection.score_calibration import ScoreCalibration

    image = cv2.imread(str(data_dir / "images" / "cats_and_dogs.jpg"))
    raw = detect_image(TFLiteDetector(DetectorConfig(model=str(reference_path), score_threshold=0.3)), image)
    model = tmp_path / "calibrated.tflite"
    model.write_bytes(reference_path.read_bytes())
    doubled = ScoreCalibration((0.0, 0.3, 1.0), (0.0, 0.6, 1.0))  # below 0.3: twice the raw score
    model.with_suffix(".yaml").write_text(yaml.safe_dump({"score_calibration": doubled.to_card()}))
    calibrated = detect_image(TFLiteDetector(DetectorConfig(model=str(model), score_threshold=0.6)), image)
    np.testing.assert_allclose(calibrated.scores, doubled(raw.scores), atol=1e-6)
    assert len(calibrated) == len(raw) and calibrated.scores.min() >= 0.6
