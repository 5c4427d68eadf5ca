"""Starting the SSD head from the reference's: the predictors carry over exactly (needs TensorFlow)."""
from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("tensorflow")

import keras  # noqa: E402

from pi_vision.detection.anchors import AnchorSpec, decode_boxes, generate_anchors  # noqa: E402
from pi_vision.training.classes import COCO80_IDS, COCO80_NAMES  # noqa: E402
from pi_vision.training.bn_init import restat  # noqa: E402
from pi_vision.training.head_transfer import (REFERENCE_ANCHORS, REFERENCE_LOGITS, anchor_matches,  # noqa: E402
                                              predictor_weights)
from pi_vision.training.model_spec import SSDConfig, zoo_anchor_spec  # noqa: E402


# Zoo anchors per cell: scale s at 1:1, 2:1 and 1:2, then sqrt(s * s_next) at 1:1. The reference's:
# 0.1 at 1:1, 0.2 at 2:1 and 1:2 at stride 16; elsewhere its scale at five ratios and the in-between 1:1.
@pytest.mark.parametrize("stride,expected", [
    (16, [(0, 0.14 / 0.1), (1, 0.14 / 0.2), (2, 0.14 / 0.2), (0, math.sqrt(0.14 * 0.28) / 0.1)]),
    (32, [(0, 0.28 / 0.35), (1, 0.28 / 0.35), (2, 0.28 / 0.35), (0, math.sqrt(0.28 * 0.45) / 0.35)]),
    (64, [(0, 0.45 / 0.5), (1, 0.45 / 0.5), (2, 0.45 / 0.5), (5, math.sqrt(0.45 * 0.65 / (0.5 * 0.65)))]),
    (128, [(0, 1.0), (1, 1.0), (2, 1.0), (5, math.sqrt(0.65 * 0.85 / (0.65 * 0.8)))]),
    (256, [(5, 0.85 / math.sqrt(0.8 * 0.95)), (1, 0.85 / 0.8), (2, 0.85 / 0.8), (5, math.sqrt(0.85 * 1.0 / (0.8 * 0.95)))]),
])
def test_each_zoo_anchor_takes_the_reference_anchor_of_its_shape(stride, expected):
    matches = anchor_matches(zoo_anchor_spec())
    assert [(j, pytest.approx(f)) for j, f in matches[stride]] == expected


@pytest.mark.parametrize("scales_at", [150, 300, 600])
def test_anchors_of_fixed_pixel_size_match_the_reference_in_pixels(scales_at):
    """Our 0.14 of a 150 input is 21 px, the reference's 0.2 of 300 is 60 px: factor 0.35."""
    (j, factor), = anchor_matches(AnchorSpec(strides=(16,), aspect_ratios=(2.0,), reduce_boxes_in_lowest_layer=False,
                                             scales=(0.14,), scales_at=scales_at))[16][:1]
    assert j == 1 and factor == pytest.approx(0.14 * scales_at / (0.2 * 300))


def test_the_stride_8_map_has_no_reference_counterpart():
    assert 8 not in anchor_matches(zoo_anchor_spec())


def test_an_aspect_ratio_the_reference_lacks_is_named():
    with pytest.raises(ValueError, match="no anchor with aspect ratio 4"):
        anchor_matches(AnchorSpec(strides=(32,), aspect_ratios=(4.0,), reduce_boxes_in_lowest_layer=False,
                                  scales=(0.3,)))


def test_rescaled_box_predictor_decodes_to_the_reference_boxes():
    """Whatever the features, our anchor plus our outputs is the reference's box."""
    rng = np.random.default_rng(0)
    channels, k_ref = 16, 6
    box = ("CONV_2D", rng.normal(0, 0.3, (4 * k_ref, 1, 1, channels)).astype(np.float32),
           rng.normal(0, 0.5, 4 * k_ref).astype(np.float32))
    cls = ("CONV_2D", rng.normal(0, 0.3, (REFERENCE_LOGITS * k_ref, 1, 1, channels)).astype(np.float32),
           rng.normal(0, 0.5, REFERENCE_LOGITS * k_ref).astype(np.float32))
    matches = anchor_matches(zoo_anchor_spec())[32]
    box_k, box_b, cls_k, cls_b = predictor_weights(box, cls, matches)
    features = rng.uniform(0, 6, (5, channels)).astype(np.float32)
    ours = (features @ box_k[0, 0] + box_b).reshape(5, len(matches), 4)
    theirs = (features @ box[1][:, 0, 0].T + box[2]).reshape(5, k_ref, 4)
    our_layer = dict(zip(zoo_anchor_spec().strides, zoo_anchor_spec()._box_specs()))[32]
    their_layer = dict(zip(REFERENCE_ANCHORS.strides, REFERENCE_ANCHORS._box_specs()))[32]
    for i, (j, _) in enumerate(matches):
        anchor = lambda s, r: np.array([[0.5, 0.5, s / math.sqrt(r), s * math.sqrt(r)]] * 5)  # noqa: E731
        np.testing.assert_allclose(decode_boxes(ours[:, i], anchor(*our_layer[i])),
                                   decode_boxes(theirs[:, j], anchor(*their_layer[j])), atol=1e-5)
        np.testing.assert_allclose((features @ cls_k[0, 0] + cls_b).reshape(5, len(matches), 80)[:, i],
                                   (features @ cls[1][:, 0, 0].T + cls[2]).reshape(5, k_ref, 91)[:, j, COCO80_IDS],
                                   rtol=1e-5, atol=1e-5)


def test_restat_keeps_what_bn_computes_and_stores_the_input_statistics():
    rng = np.random.default_rng(1)
    bn = keras.layers.BatchNormalization(epsilon=1e-3)
    bn.build((None, 4))
    for w, v in zip((bn.gamma, bn.beta, bn.moving_mean, bn.moving_variance), rng.uniform(0.5, 2, (4, 4))):
        w.assign(v.astype(np.float32))
    x = (rng.normal(3, 2, (256, 4)) * [1, 2, 3, 4]).astype(np.float32)
    before = bn(x, training=False).numpy()
    restat(bn, x)
    np.testing.assert_allclose(bn(x, training=False).numpy(), before, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(bn.moving_mean.numpy(), x.mean(axis=0), rtol=1e-4)
    # With its input's own statistics stored, a training step computes what inference does.
    np.testing.assert_allclose(bn(x, training=True).numpy(), before, rtol=1e-3, atol=1e-3)


def test_loaded_head_predicts_what_the_reference_predicts(data_dir):
    """At the reference's own input size, our stride-16 and stride-32 predictors (which sit on
    the backbone, no extra layer between) give the reference's boxes and class scores."""
    import cv2
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    from pi_vision.detection.output_layouts import dequantize
    from pi_vision.training.backbone_init import REFERENCE_ALPHA, backbone_file, load_backbone
    from pi_vision.training.head_transfer import load_reference_head
    from pi_vision.training.model import build_ssd

    path = backbone_file(REFERENCE_ALPHA, "reference")
    if not path.exists():
        pytest.skip(f"{path} not found")
    image = cv2.resize(cv2.imread(str(data_dir / "coco128" / "images" / "000000000009.jpg")), (300, 300))[..., ::-1]
    interpreter = Interpreter(str(path), experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
                              experimental_preserve_all_tensors=True)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], np.ascontiguousarray(image[None]))
    interpreter.invoke()
    details = {d["index"]: d for d in interpreter.get_tensor_details()}
    post = next(op for op in interpreter._get_ops_details() if op["op_name"] == "TFLite_Detection_PostProcess")
    ref_box, ref_scores = (dequantize(interpreter.get_tensor(i), details[i])[0] for i in post["inputs"][:2])

    config = SSDConfig(REFERENCE_ALPHA, 80)
    model = build_ssd(config)
    rest = load_backbone(model, path)
    normalised = ((image.astype(np.float32) - 128) / 128)[None]
    photos = {96: np.repeat(normalised[:, ::3, ::3][:, :96, :96], 32, axis=0)}
    load_reference_head(model, config, rest, list(COCO80_NAMES), photos, fit_steps=2)
    box, logits = (t.numpy()[0] for t in model(normalised, training=False))
    scores = 1 / (1 + np.exp(-logits))

    ours_anchors = generate_anchors(config.anchor_spec, (300, 300))
    ref_anchors = generate_anchors(REFERENCE_ANCHORS, (300, 300))
    our_counts = [fh * fw * k for (fh, fw), k in zip(
        [(math.ceil(300 / s),) * 2 for s in config.anchor_spec.strides], config.anchor_spec.boxes_per_cell())]
    ref_counts = [fh * fw * k for (fh, fw), k in zip(
        [(math.ceil(300 / s),) * 2 for s in REFERENCE_ANCHORS.strides], REFERENCE_ANCHORS.boxes_per_cell())]
    for layer, stride in ((1, 16), (2, 32)):
        matches = anchor_matches(config.anchor_spec)[stride]
        k_ref = REFERENCE_ANCHORS.boxes_per_cell()[layer - 1]
        cells = math.ceil(300 / stride) ** 2
        ours = sum(our_counts[:layer]) + np.arange(cells * len(matches))
        theirs = sum(ref_counts[:layer - 1]) + (np.arange(cells)[:, None] * k_ref + [j for j, _ in matches]).ravel()
        np.testing.assert_allclose(decode_boxes(box[ours], ours_anchors[ours]),
                                   decode_boxes(ref_box[theirs], ref_anchors[theirs]), atol=0.02)
        ref_cls = ref_scores[theirs][:, COCO80_IDS]
        assert np.abs(scores[ours] - ref_cls).max() < 0.05
        assert np.corrcoef(scores[ours].ravel(), ref_cls.ravel())[0, 1] > 0.98
