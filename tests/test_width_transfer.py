"""Carrying a backbone to another width: widening is exact, narrowing refits (needs TensorFlow)."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from pi_vision.training.model_spec import MOBILENET_V1_BLOCKS  # noqa: E402
from pi_vision.training.width_transfer import change_width, forward, narrow, stage_widths  # noqa: E402


def widths_at(alpha: float) -> list[int]:
    return [max(int(d * alpha), 8) for d in [32] + [depth for depth, _ in MOBILENET_V1_BLOCKS]]


def random_backbone(alpha: float, seed: int = 0) -> list:
    """He-initialised MobileNet v1 convolutions in TFLite layout, with small positive biases."""
    rng = np.random.default_rng(seed)
    widths = widths_at(alpha)
    convs = [("CONV_2D", rng.normal(0, np.sqrt(2 / 27), (widths[0], 3, 3, 3)), rng.uniform(0, 0.1, widths[0]))]
    for previous, width in zip(widths, widths[1:]):
        convs.append(("DEPTHWISE_CONV_2D", rng.normal(0, np.sqrt(2 / 9), (1, 3, 3, previous)),
                      rng.uniform(0, 0.1, previous)))
        convs.append(("CONV_2D", rng.normal(0, np.sqrt(2 / previous), (width, 1, 1, previous)),
                      rng.uniform(0, 0.1, width)))
    return [(op, k.astype(np.float32), b.astype(np.float32)) for op, k, b in convs]


def photos(n: int = 4, size: int = 96, seed: int = 1) -> np.ndarray:
    """Smooth random images (noise blurred by upsampling), a little like photos."""
    coarse = np.random.default_rng(seed).uniform(-1, 1, (n, size // 8, size // 8, 3))
    return np.repeat(np.repeat(coarse, 8, axis=1), 8, axis=2).astype(np.float32)


def test_widening_computes_exactly_what_the_narrow_network_did():
    narrow = random_backbone(0.25)
    wide = change_width(narrow, widths_at(0.5))
    assert stage_widths(wide) == widths_at(0.5)
    before, after = forward(narrow, photos())[-1], forward(wide, photos())[-1]
    # The first channels are the originals; their inputs' copies share the outgoing weights.
    np.testing.assert_allclose(after[..., :before.shape[-1]], before, rtol=1e-4, atol=1e-4)


def test_widened_copies_are_not_identical_twins():
    """Copies split the outgoing weights unevenly, or they would get the same gradients forever."""
    wide = change_width(random_backbone(0.25), widths_at(0.5))
    pointwise = wide[2][1][:, 0, 0, :]                     # block 1 reads conv0's 8 originals + 8 copies
    originals, copies = pointwise[:, :8], pointwise[:, 8:]
    assert not any(np.allclose(copies[:, j], originals[:, k]) for j in range(8) for k in range(8))


def test_narrowing_to_the_same_width_keeps_the_network():
    convs = random_backbone(0.25)
    same = change_width(convs, widths_at(0.25), photos(8))
    before, after = forward(convs, photos())[-1], forward(same, photos())[-1]
    assert np.corrcoef(before.ravel(), after.ravel())[0, 1] > 0.999


def test_narrowing_refits_better_than_slicing():
    """Half the channels: on photos it was not fitted on, the refitted network's last features
    follow the wide network's kept channels closer than the same channels sliced out."""
    convs = random_backbone(0.5)
    held_out = photos(4, seed=2)
    wide = forward(convs, held_out)[-1]
    errors = {}
    for refit in (True, False):
        narrowed, kept = narrow(convs, widths_at(0.25), photos(8), np.random.default_rng(0), refit=refit)
        assert stage_widths(narrowed) == widths_at(0.25)
        errors[refit] = np.abs(forward(narrowed, held_out)[-1] - wide[..., kept]).mean()
    assert errors[True] < 0.9 * errors[False]


@pytest.mark.parametrize("widths,error", [
    (widths_at(0.25)[:5], "expected 14 stage widths"),
    ([16] + widths_at(0.25)[1:-1] + [4], "neither all wider nor all narrower"),
])
def test_change_width_names_what_it_cannot_do(widths, error):
    with pytest.raises(ValueError, match=error):
        change_width(random_backbone(0.25), widths, photos())


def test_narrowing_without_photos_says_it_needs_them():
    with pytest.raises(ValueError, match="needs photos"):
        change_width(random_backbone(0.5), widths_at(0.25))


def test_a_widened_ssd_predicts_exactly_what_the_trained_narrow_one_did():
    """Head included: every extra layer and predictor reads the copies with their shares."""
    from pi_vision.training.model import build_ssd
    from pi_vision.training.model_spec import SSDConfig
    from pi_vision.training.width_transfer import widen_model

    narrow_model, wide_model = build_ssd(SSDConfig(0.25, 5)), build_ssd(SSDConfig(0.5, 5))
    rng = np.random.default_rng(3)
    for w in narrow_model.weights:   # trained-looking BN statistics and biases, not the initial ones
        if "moving_variance" in w.path or "gamma" in w.path:
            w.assign(rng.uniform(0.5, 1.5, w.shape).astype(np.float32))
        elif "moving_mean" in w.path or "beta" in w.path or "bias" in w.path:
            w.assign(rng.normal(0, 0.3, w.shape).astype(np.float32))
    widen_model(narrow_model, wide_model)
    assert wide_model.get_layer("extra64_pw").kernel.shape[-1] == 2 * narrow_model.get_layer("extra64_pw").kernel.shape[-1]
    images = photos(2, 128)
    for before, after in zip(narrow_model(images, training=False), wide_model(images, training=False)):
        np.testing.assert_allclose(after.numpy(), before.numpy(), rtol=1e-3, atol=1e-3)


def normalised_ssd(alpha: float, images: np.ndarray):
    """A random SSD whose every BN centres and scales its inputs on ``images``, so each layer uses
    ReLU6's range as a trained network does (random BN statistics would saturate or kill it)."""
    import keras

    from pi_vision.training.bn_init import set_affine
    from pi_vision.training.model import build_ssd
    from pi_vision.training.model_spec import SSDConfig

    model = build_ssd(SSDConfig(alpha, 5))
    for bn in [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]:
        x = np.asarray(keras.Model(model.input, bn.input)(images, training=False))
        mean, std = x.mean(axis=(0, 1, 2)), x.std(axis=(0, 1, 2)) + 1e-3
        set_affine(bn, 1 / std, 1.0 - mean / std)
    return model


def test_narrowing_a_whole_ssd_refits_it_better_than_slicing():
    import keras

    from pi_vision.training.model import build_ssd
    from pi_vision.training.model_spec import SSDConfig
    from pi_vision.training.width_transfer import narrow_model

    keras.utils.set_random_seed(0)   # a random network: the margin varies with it
    fit, held_out = photos(8, 64), photos(4, 64, seed=7)
    wide = normalised_ssd(0.5, fit)
    same = build_ssd(SSDConfig(0.5, 5))
    narrow_model(wide, same, fit)
    for before, after in zip(wide(held_out, training=False), same(held_out, training=False)):
        np.testing.assert_allclose(after.numpy(), before.numpy(), rtol=1e-4, atol=1e-4)

    def agreement(refit: bool) -> list[float]:
        narrow = build_ssd(SSDConfig(0.25, 5))
        narrow_model(wide, narrow, fit, refit=refit)
        return [np.corrcoef(a.numpy().ravel(), b.numpy().ravel())[0, 1]
                for a, b in zip(wide(held_out, training=False), narrow(held_out, training=False))]

    refitted, sliced = agreement(True), agreement(False)
    assert all(r > s for r, s in zip(refitted, sliced)), (refitted, sliced)
