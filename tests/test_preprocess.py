import numpy as np
import pytest

from pi_vision.detection.model_file import FOREIGN_SCALING, TRAINED_SCALING
from pi_vision.detection.preprocess import InputSpec, Preprocessor


@pytest.mark.parametrize("dtype, scale, zero_point, pixel, expected", [
    (np.uint8, 1 / 128, 128, 200, 200),  # the classic uint8 SSD input: raw pixels
    (np.uint8, 1 / 128, 128, 0, 0),
    (np.int8, 1 / 128, 0, 200, 72),  # int8: pixel - 128
    (np.int8, 2 / 255, -1, 255, 126),  # a calibrated [-1, 1] range: (127/128)/(2/255) - 1
    (np.float32, 0.0, 0, 0, -1.0),
    (np.float32, 0.0, 0, 192, 0.5),
])
def test_pixel_values_follow_the_model_quantization(dtype, scale, zero_point, pixel, expected):
    pre = Preprocessor(InputSpec(4, 4, np.dtype(dtype), scale, zero_point))
    tensor, _ = pre(np.full((4, 4, 3), pixel, np.uint8))
    assert tensor.dtype == dtype and tensor.shape == (1, 4, 4, 3)
    assert tensor[0, 0, 0, 0] == pytest.approx(expected, abs=0.51 if dtype != np.float32 else 1e-6)


@pytest.mark.parametrize("dtype, scale, zero_point, pixel, expected", [
    # our int8 files: [-1, 1] at scale 2/255 and zero point 127; pixel / 127.5 - 1 is always a
    # tie between two codes, and every tie goes down
    (np.uint8, 2 / 255, 127, 0, 0),
    (np.uint8, 2 / 255, 127, 100, 99),
    (np.uint8, 2 / 255, 127, 200, 199),
    (np.uint8, 2 / 255, 127, 255, 254),
    (np.float32, 0.0, 0, 0, -1.0),  # float: exactly the training scaling
    (np.float32, 0.0, 0, 255, 1.0),
])
def test_our_models_get_the_scaling_they_were_trained_with(dtype, scale, zero_point, pixel, expected):
    pre = Preprocessor(InputSpec(4, 4, np.dtype(dtype), scale, zero_point, TRAINED_SCALING))
    tensor, _ = pre(np.full((4, 4, 3), pixel, np.uint8))
    assert tensor[0, 0, 0, 0] == pytest.approx(expected, abs=1e-6)


def test_foreign_models_get_raw_pixels_by_default():
    assert InputSpec(4, 4, np.dtype(np.uint8)).scaling == FOREIGN_SCALING


def test_bgr_becomes_rgb():
    pre = Preprocessor(InputSpec(2, 2, np.dtype(np.uint8), 1 / 128, 128))
    image = np.zeros((2, 2, 3), np.uint8)
    image[..., 0] = 255  # blue in BGR
    tensor, _ = pre(image)
    assert tensor[0, 0, 0, 2] == 255 and tensor[0, 0, 0, 0] == 0


@pytest.mark.parametrize("mode, frame_hw", [
    ("stretch", (480, 640)), ("letterbox", (480, 640)), ("letterbox", (640, 360)), ("letterbox", (300, 300)),
])
def test_boxes_map_back_to_the_frame(mode, frame_hw):
    """A box drawn into the frame comes back at the same place through resize and padding."""
    h, w = frame_hw
    pre = Preprocessor(InputSpec(300, 300, np.dtype(np.uint8), 1 / 128, 128), mode)
    frame = np.zeros((h, w, 3), np.uint8)
    x1, y1, x2, y2 = int(0.25 * w), int(0.4 * h), int(0.6 * w), int(0.9 * h)
    frame[y1:y2, x1:x2] = 255
    tensor, placement = pre(frame)
    ys, xs = np.nonzero(tensor[0, :, :, 0] > 127)
    box_yxyx = np.array([[ys.min(), xs.min(), ys.max() + 1, xs.max() + 1]], np.float32) / 300
    back = pre.to_frame(box_yxyx, placement)[0]
    np.testing.assert_allclose(back, [x1 / w, y1 / h, x2 / w, y2 / h], atol=2.5 / 300 * max(h, w) / min(h, w))
