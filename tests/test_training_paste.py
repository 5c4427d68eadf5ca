"""Object paste: what goes into the bank, how often each class comes out, and where labels end up."""
from __future__ import annotations

import numpy as np
import pytest

from pi_vision.training.box_labels import BoxLabels
from pi_vision.training.paste import ObjectBank, PasteConfig, paste_objects


def _photo(value: int, size: int = 100) -> np.ndarray:
    return np.full((size, size, 3), value, dtype=np.uint8)


@pytest.mark.parametrize("score, side, kept", [
    (0.9, 40, True),
    (0.5, 40, False),    # not sure enough
    (0.9, 10, False),    # too few source pixels to paste at any size
])
def test_bank_keeps_only_sure_and_big_enough_objects(score, side, kept):
    labels = BoxLabels([[0.1, 0.1, 0.1 + side / 100, 0.1 + side / 100]], [3], [score])
    bank = ObjectBank([_photo(0)], [labels], min_visible=0.45)
    assert len(bank) == int(kept)


def test_every_class_comes_out_equally_often():
    """50 people and 2 zebras in the bank: zebras are still half the draws."""
    images = [_photo(i) for i in range(52)]
    labels = [BoxLabels([[0.2, 0.2, 0.8, 0.8]], [0 if i < 50 else 22], [0.9]) for i in range(52)]
    bank = ObjectBank(images, labels, min_visible=0.45)
    rng = np.random.default_rng(0)
    drawn = np.array([bank.draw(rng).labels.classes[0] for _ in range(4000)])
    assert abs((drawn == 22).mean() - 0.5) < 0.03


def test_bank_caps_instances_per_class():
    images = [_photo(0)] * 30
    labels = [BoxLabels([[0.2, 0.2, 0.8, 0.8]], [0], [0.9])] * 30
    assert len(ObjectBank(images, labels, min_visible=0.45, config=PasteConfig(max_per_class=10))) == 10


def test_pasted_object_lands_where_its_label_says_and_hides_what_it_covers():
    source = _photo(0)
    source[20:80, 20:80] = 255
    # A square object, and a smaller one inside it that travels with it.
    bank = ObjectBank([source], [BoxLabels([[0.2, 0.2, 0.8, 0.8], [0.3, 0.3, 0.5, 0.5]], [5, 7], [0.9, 0.4])],
                      min_visible=0.45, config=PasteConfig(min_size=0.9, max_size=0.9, feather=0.01))
    canvas = _photo(100, 200)
    before = BoxLabels([[0.45, 0.45, 0.55, 0.55]], [2], [1.0])
    # Both sides of the paste are at least 0.72 of the canvas (aspect jitter 0.8-1.25), so it
    # always covers the centred box, which is then gone.
    out, labels = paste_objects(canvas, before, bank, 1, np.random.default_rng(0), min_visible=0.45,
                                min_box_pixels=2)
    assert sorted(labels.classes.tolist()) == [5, 7]
    pasted = labels.boxes[labels.classes == 5][0]
    y0, x0, y1, x1 = (pasted * 200).round().astype(int)
    assert max(y1 - y0, x1 - x0) == 180  # the longer side is 0.9 of the canvas
    inner = out[y0 + 3:y1 - 3, x0 + 3:x1 - 3]
    assert inner.min() == 255 and inner.max() == 255  # the patch's pixels, feathered only at the edge
    assert np.all(out[:, :x0] == 100) and np.all(out[:, x1:] == 100)
    inside = labels.boxes[labels.classes == 7][0]
    assert pasted[0] < inside[0] < inside[2] < pasted[2] and pasted[1] < inside[1] < inside[3] < pasted[3]
    assert labels.scores[labels.classes == 7][0] == pytest.approx(0.4)
