"""The dense distillation loss against hand-made teacher outputs."""
from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from pi_vision.training.losses import dense_distillation_loss  # noqa: E402

LOGITS = np.array([[[4.0, -4.0], [-4.0, -4.0]]], np.float32)   # anchor 0: class 0; anchor 1: nothing
BOXES = np.array([[[0.1, 0.2, 0.3, 0.4], [1.0, 1.0, 1.0, 1.0]]], np.float32)


def _loss(box_pred, logits, box_weight=1.0):
    return float(dense_distillation_loss(tf.constant(box_pred), tf.constant(logits), tf.constant(BOXES),
                                         tf.constant(LOGITS), tf.constant(1.0), box_weight))


@pytest.mark.parametrize("case, box_pred, logits, expect", [
    ("the same outputs", BOXES, LOGITS, "zero"),
    ("box off where the teacher sees nothing", BOXES + [[[0, 0, 0, 0], [3, 3, 3, 3]]], LOGITS, "small"),
    ("box off where the teacher sees an object", BOXES + [[[3, 3, 3, 3], [0, 0, 0, 0]]], LOGITS, "large"),
    ("a class the teacher does not see", BOXES, LOGITS + [[[0, 0], [8, 0]]], "large"),
])
def test_distillation_loss(case, box_pred, logits, expect):
    loss = _loss(np.asarray(box_pred, np.float32), np.asarray(logits, np.float32))
    if expect == "zero":
        assert loss == pytest.approx(0.0, abs=1e-6), case
    elif expect == "small":  # weighted by the teacher's best score there, sigmoid(-4) = 0.018
        assert 0 < loss < 0.3, case
    else:
        assert loss > 1.0, case


def test_box_loss_weight_scales_the_box_term():
    off = BOXES + np.float32(1.0)
    assert _loss(off, LOGITS, 0.5) == pytest.approx(0.5 * _loss(off, LOGITS, 1.0), rel=1e-6)
