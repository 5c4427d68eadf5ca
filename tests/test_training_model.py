"""Network, analytic counter and ImageNet initialisation (needs TensorFlow)."""
from __future__ import annotations

import json

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
import keras  # noqa: E402

from pi_vision.detection.anchors import generate_anchors  # noqa: E402
from pi_vision.training.complexity import count  # noqa: E402
from pi_vision.training.model import build_ssd, mobilenet_v1_classifier  # noqa: E402
from pi_vision.training.model_spec import SSDConfig  # noqa: E402


def test_counter_matches_the_mobilenet_paper():
    """MobileNet v1 1.0/224 with a 1000-way classifier: 569 M mult-adds, 4.2 M parameters."""
    c = count(mobilenet_v1_classifier(1.0, 224, num_classes=1000))
    assert c.mult_adds == pytest.approx(569e6, rel=0.002)
    assert c.params == pytest.approx(4.2e6, rel=0.01)


@pytest.mark.parametrize("alpha,size", [(0.25, 128), (0.5, 160), (1.0, 224)])
def test_model_outputs_one_row_per_anchor(alpha, size):
    config = SSDConfig(alpha, 80)
    model = build_ssd(config, (size, size))
    boxes, logits = model(np.zeros((1, size, size, 3), np.float32))
    anchors = generate_anchors(config.anchor_spec, (size, size))
    assert boxes.shape == (1, len(anchors), 4) and logits.shape == (1, len(anchors), 80)


def test_half_width_160_stays_in_the_issue_budget():
    """The issue's budget for ssd_mbv1_0.5_160: 10% of its ~1.2 G estimate of the reference."""
    assert count(build_ssd(SSDConfig(0.5, 80), (160, 160))).mult_adds <= 120e6


def test_keras_and_tflite_counters_agree(data_dir):
    """Both counters on the same network: our Keras classifier and the ImageNet 0.5/160 file."""
    from pi_vision.training.backbone_init import backbone_file
    from pi_vision.detection.model_cost import file_cost

    path = backbone_file(0.5)
    if not path.exists():
        pytest.skip(f"{path} not found")
    ours, theirs = count(mobilenet_v1_classifier(0.5, 160)), file_cost(path)
    assert ours == theirs


def test_backbone_normalisation_ignores_the_training_flag():
    model = build_ssd(SSDConfig(0.25, 3), (64, 64))
    x = np.random.default_rng(0).uniform(-1, 1, (2, 64, 64, 3)).astype(np.float32)
    backbone = keras.Model(model.inputs, model.get_layer("block13_pw_relu").output)
    np.testing.assert_array_equal(backbone(x, training=True).numpy(), backbone(x, training=False).numpy())


def test_imported_backbone_reproduces_the_tflite_classifier(data_dir):
    from ai_edge_litert.interpreter import Interpreter

    from pi_vision.training.backbone_init import backbone_file, load_classifier
    from pi_vision.training.data.images import list_images
    from pi_vision.training.data.sample import load_rgb
    import cv2

    path = backbone_file(0.25)
    if not path.exists():
        pytest.skip(f"{path} not found")
    model = mobilenet_v1_classifier(0.25, 128)
    load_classifier(model, path)
    interpreter = Interpreter(str(path))
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    images = [cv2.resize(load_rgb(p), (128, 128)) for p in list_images(data_dir / "unlabeled" / "imagenet_sample")[::100]]
    agree = 0
    for image in images:
        interpreter.set_tensor(inp["index"], image[None])
        interpreter.invoke()
        expected = interpreter.get_tensor(out["index"])[0].argmax()
        # training=True on purpose: the pretrained BN statistics must hold in training steps too.
        got = model(((image.astype(np.float32) - 128) / 128)[None], training=True).numpy()[0].argmax()
        agree += int(expected == got)
    assert agree >= len(images) - 1  # uint8 rounding may flip one near-tie


def test_reference_backbone_reproduces_the_reference_features(data_dir):
    """The reference SSD's first 27 convolutions are a MobileNet v1 at depth 0.75: loaded into our
    backbone, its stride-32 features match the ones the reference computes itself."""
    import cv2
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    from pi_vision.detection.output_layouts import dequantize
    from pi_vision.training.backbone_init import REFERENCE_ALPHA, backbone_file, load_backbone
    from pi_vision.training.model import mobilenet_v1_features

    path = backbone_file(REFERENCE_ALPHA, "reference")
    if not path.exists():
        pytest.skip(f"{path} not found")
    interpreter = Interpreter(str(path), experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
                              experimental_preserve_all_tensors=True)
    interpreter.allocate_tensors()
    image = cv2.resize(cv2.imread(str(data_dir / "coco128" / "images" / "000000000009.jpg")), (300, 300))[..., ::-1]
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], np.ascontiguousarray(image[None]))
    interpreter.invoke()
    convolutions = [op for op in interpreter._get_ops_details() if op["op_name"] in ("CONV_2D", "DEPTHWISE_CONV_2D")]
    block13 = {d["index"]: d for d in interpreter.get_tensor_details()}[convolutions[26]["outputs"][0]]
    expected = dequantize(interpreter.get_tensor(block13["index"]), block13)

    inputs = keras.Input((300, 300, 3))
    model = keras.Model(inputs, mobilenet_v1_features(inputs, SSDConfig(REFERENCE_ALPHA, 80))[32])
    load_backbone(model, path)
    got = model(((image.astype(np.float32) - 128) / 128)[None]).numpy()
    assert got.shape == expected.shape
    assert np.corrcoef(got.ravel(), expected.ravel())[0, 1] > 0.99


@pytest.mark.parametrize("alpha,source,error", [
    (0.25, "reference", "narrows to alpha 0.5 at most, not 0.25"),
    (0.75, "imagenet-21k", "must be one of"),
    (0.3, "imagenet", "no ImageNet backbone for alpha 0.3"),
])
def test_backbone_file_names_what_it_cannot_start_from(alpha, source, error):
    from pi_vision.training.backbone_init import backbone_file

    with pytest.raises(ValueError, match=error):
        backbone_file(alpha, source)


def test_softmax_head_scores_background_first_and_starts_sure_of_it():
    model = build_ssd(SSDConfig(0.25, 3, class_loss="softmax"), (64, 64))
    _, logits = model(np.zeros((1, 64, 64, 3), np.float32))
    assert logits.shape[-1] == 4  # background + 3 classes
    probabilities = keras.ops.convert_to_numpy(keras.ops.softmax(logits))[0]
    np.testing.assert_allclose(probabilities[:, 0], 0.99, atol=1e-3)


def _ce(logits: np.ndarray, label: int) -> float:
    return float(np.log(np.exp(logits).sum()) - logits[label])


@pytest.mark.parametrize("negatives_per_positive, min_negatives, expected_negatives", [
    (1, 1, [3]),        # one positive: the single hardest negative
    (2, 1, [3, 2]),     # two per positive: the two hardest
    (0, 1, [3]),        # at least min_negatives
    (10, 1, [3, 2, 0]),  # never more than there are (anchor 4 is in the grey zone)
])
def test_softmax_loss_keeps_the_hardest_negatives(negatives_per_positive, min_negatives, expected_negatives):
    from pi_vision.training.losses import softmax_hard_negative_loss

    # One image, 5 anchors, 2 classes (+ background). Anchor 1 is an object of class 1.
    logits = np.array([[0.0, 0.0, 0.0], [0.0, 0.5, 2.0], [0.0, 1.0, 0.0], [0.0, 3.0, 0.0], [0.0, 9.0, 9.0]],
                      np.float32)
    targets = np.zeros((1, 5, 2), np.float32)
    targets[0, 1, 1] = 0.7
    positive = np.array([[False, True, False, False, False]])
    weights = np.array([[1, 1, 1, 1, 0]], np.float32)
    loss = softmax_hard_negative_loss(logits[None], targets, positive, weights, negatives_per_positive, min_negatives)
    expected = _ce(logits[1], 2) + sum(_ce(logits[a], 0) for a in expected_negatives)
    assert float(loss) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("alpha, size, expected", [
    (0.25, 128, "ssd_mbv1_0.25_128"), (0.5, 160, "ssd_mbv1_0.5_160"),
    (0.75, 192, "ssd_mbv1_0.75_192"), (1.0, 224, "ssd_mbv1_1.0_224"),
])
def test_model_names_are_the_ones_users_type(alpha, size, expected):
    from pi_vision.training.export import model_name
    assert model_name(alpha, size) == expected


@pytest.mark.parametrize("tiles, expected", [
    (1, "the reference's dense outputs on the full image; every"),
    (2, "the reference's dense outputs on the full image + 2x2 tiles on images at least 320 px a side; every"),
])
def test_model_card_names_the_teacher_views_the_run_used(tiles, expected):
    from pi_vision.training.model_card import teacher_description
    assert teacher_description(0.3, tiles).startswith(expected)


def test_the_model_card_names_earlier_sessions_on_other_data(tmp_path):
    from pi_vision.training import checkpoint
    from pi_vision.training.model_card import data_history
    sessions = [{"from_step": 0, "config": {"data": {"images": 100}}},
                {"from_step": 500, "config": {"data": {"images": 100}}},
                {"from_step": 800, "config": {"data": {"images": 4000}}}]
    (tmp_path / checkpoint.RUN_RECORD).write_text(json.dumps({"sessions": sessions}))
    assert data_history(tmp_path, {"data": {"images": 4000}}) == [
        {"until_step": 500, "data": {"images": 100}}, {"until_step": 800, "data": {"images": 100}}]
    assert data_history(tmp_path / "older_run", {"data": {"history": ["kept in the config"]}}) == ["kept in the config"]


@pytest.mark.parametrize("config,expected", [
    ({"alpha": 0.75, "backbone": "reference"}, "the reference COCO SSD's feature extractor, MobileNet v1 at depth 0.75"),
    ({"alpha": 0.75, "backbone": "reference", "head": "reference"}, "extra layers and predictors from the reference"),
    ({"alpha": 0.5, "backbone": "reference"}, "narrowed to alpha 0.5"),
    ({"alpha": 1.0, "backbone": "reference"}, "widened to alpha 1 "),
    ({"alpha": 0.25, "backbone": "imagenet"}, "ImageNet MobileNet v1"),
    ({"alpha": 0.5, "pretrained_backbone": False}, "random"),   # a run from before the backbone setting
])
def test_the_card_says_where_the_backbone_came_from(config, expected):
    from pi_vision.training.model_card import backbone_description

    assert expected in backbone_description(config)


def test_the_card_follows_later_stages_back_to_the_first(tmp_path):
    from pi_vision.training import checkpoint
    from pi_vision.training.model_card import backbone_description

    first = tmp_path / "a" / "checkpoints" / "step_0000010"
    first.mkdir(parents=True)
    (first / checkpoint.STATE).write_text(json.dumps({"step": 10, "config": {"alpha": 0.5, "backbone": "reference"}}))
    assert "narrowed to alpha 0.5" in backbone_description({"alpha": 0.5, "init_from": str(tmp_path / "a")})
    assert "no longer on disk" in backbone_description({"alpha": 0.5, "init_from": str(tmp_path / "gone")})


def test_the_card_of_a_widened_run_says_it_was_widened(tmp_path):
    from pi_vision.training import checkpoint
    from pi_vision.training.model_card import backbone_description

    first = tmp_path / "a" / "checkpoints" / "step_0000010"
    first.mkdir(parents=True)
    (first / checkpoint.STATE).write_text(json.dumps(
        {"step": 10, "config": {"alpha": 0.75, "backbone": "reference", "head": "reference"}}))
    described = backbone_description({"alpha": 1.0, "init_from": str(tmp_path / "a")})
    assert "widened to alpha 1 " in described and "predictors from the reference" in described
