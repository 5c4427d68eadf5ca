import numpy as np
import pytest

from pi_vision.detection.anchors import AnchorSpec, decode_boxes, encode_boxes, feature_map_sizes, generate_anchors


def test_reproduces_the_reference_models_anchors(reference_path):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(reference_path), experimental_preserve_all_tensors=True)
    interpreter.allocate_tensors()
    detail = next(d for d in interpreter.get_tensor_details() if d["name"] == "anchors")
    scale, zero_point = detail["quantization"]
    reference = (interpreter.get_tensor(detail["index"]).astype(np.float32) - zero_point) * scale
    ours = generate_anchors(AnchorSpec(), (300, 300))
    assert ours.shape == reference.shape == (1917, 4)
    # The file stores them as uint8: equal within half a quantization step (after its clipping).
    assert np.abs(np.clip(ours, 0, 255 * scale) - reference).max() <= scale / 2 + 1e-6


@pytest.mark.parametrize("size, strides, expected", [
    ((300, 300), (16, 32, 64, 128, 256, 512), [(19, 19), (10, 10), (5, 5), (3, 3), (2, 2), (1, 1)]),
    ((160, 160), (16, 32, 64, 128, 256), [(10, 10), (5, 5), (3, 3), (2, 2), (1, 1)]),
    ((128, 224), (8, 16), [(16, 28), (8, 14)]),
])
def test_feature_map_sizes(size, strides, expected):
    assert feature_map_sizes(size, strides) == expected


def test_anchor_count_follows_boxes_per_cell():
    spec = AnchorSpec(strides=(16, 32, 64, 128, 256))
    sizes = feature_map_sizes((160, 160), spec.strides)
    assert spec.boxes_per_cell() == [3, 6, 6, 6, 6]
    assert len(generate_anchors(spec, (160, 160))) == sum(h * w * k for (h, w), k in zip(sizes, spec.boxes_per_cell()))


def test_encode_decode_round_trip():
    rng = np.random.default_rng(0)
    anchors = generate_anchors(AnchorSpec(), (300, 300))[rng.choice(1917, 50)]
    y0, x0 = rng.uniform(0, 0.6, (2, 50))
    boxes = np.stack([y0, x0, y0 + rng.uniform(0.05, 0.4, 50), x0 + rng.uniform(0.05, 0.4, 50)], 1).astype(np.float32)
    np.testing.assert_allclose(decode_boxes(encode_boxes(boxes, anchors), anchors), boxes, atol=1e-5)


def test_zero_encoding_decodes_to_the_anchor():
    anchors = generate_anchors(AnchorSpec(), (300, 300))[:5]
    boxes = decode_boxes(np.zeros((5, 4), np.float32), anchors)
    np.testing.assert_allclose((boxes[:, 2:] + boxes[:, :2]) / 2, anchors[:, :2], atol=1e-6)
    np.testing.assert_allclose(boxes[:, 2:] - boxes[:, :2], anchors[:, 2:], atol=1e-6)


@pytest.mark.parametrize("size", [128, 160, 224, 300])
def test_anchors_with_scales_at_keep_their_pixel_size(size):
    fractions = AnchorSpec(strides=(8, 16, 32), scales=(0.06, 0.14, 0.28))
    pixels = AnchorSpec(strides=(8, 16, 32), scales=(0.06, 0.14, 0.28), scales_at=160)
    at_160 = generate_anchors(fractions, (160, 160))
    ours = generate_anchors(pixels, (size, size))
    # Same cells as fractions of this input, boxes of the same size in pixels as at 160.
    np.testing.assert_allclose(ours[:, :2], generate_anchors(fractions, (size, size))[:, :2])
    np.testing.assert_allclose(np.unique(ours[:, 2] * size), np.unique(at_160[:, 2] * 160), rtol=1e-5)


def test_scales_at_a_non_square_input_keeps_boxes_square_in_pixels():
    anchors = generate_anchors(AnchorSpec(strides=(16,), scales=(0.2,), aspect_ratios=(1.0,), scales_at=160,
                                          reduce_boxes_in_lowest_layer=False), (120, 160))
    np.testing.assert_allclose(anchors[:, 2] * 120, anchors[:, 3] * 160, rtol=1e-5)
