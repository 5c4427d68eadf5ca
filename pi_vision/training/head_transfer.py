"""Start an alpha-0.75 student's SSD head from the reference SSD's own.

The reference's extra layers have our widths at alpha 0.75 and sit on the same strides
(64, 128, 256), and its predictors are 1x1 convolutions on the same maps (strides 16-256).
So everything but our stride-8 map can start from weights trained for detection on all of
COCO, instead of from scratch on a few thousand pseudo-labelled photos:

- Predictors: our SSDLite predictor is a 3x3 depthwise layer, BN, ReLU6, then a 1x1
  convolution. The depthwise layer starts as the identity (its inputs are ReLU6 outputs,
  so ReLU6 passes them unchanged) and the 1x1 convolution takes the reference's weights
  for the anchor of the same aspect ratio on the same stride. Where the anchor sizes differ
  by a factor r, the box outputs are rescaled exactly: the centre offsets are divided by r
  and log(r) (times the box coder's scale) comes off the size outputs. The class outputs
  keep the 80 of the reference's 91 columns that name COCO classes.
- Extra layers: the 1x1 reductions copy over exactly. The reference's 3x3 stride-2
  convolutions are full convolutions, ours depthwise separable (SSDLite); no exact mapping
  exists (a rank-1 split per input channel keeps only half the kernels' energy), so ours
  are fitted by gradient descent to reproduce the reference's outputs on real photos.

Finally every trainable BN layer of the head gets the statistics of its inputs on those
photos, rewritten so that it computes the same function: training then starts from the
function just built, whether BN normalises with batch or stored statistics.
"""
from __future__ import annotations

import logging
import math

import keras
import numpy as np
import tensorflow as tf

from pi_vision.detection.anchors import BOX_SCALES, AnchorSpec
from pi_vision.training.bn_init import restat_trainable, set_affine
from pi_vision.training.classes import COCO80_IDS, COCO80_NAMES
from pi_vision.training.model_spec import SSDConfig
from pi_vision.training.train_config import REFERENCE_ALPHA

log = logging.getLogger(__name__)

Conv = tuple[str, np.ndarray, np.ndarray]
# The reference's anchors: the TF Object Detection API's defaults.
REFERENCE_ANCHORS = AnchorSpec()
REFERENCE_INPUT = 300
# Class slots per anchor in the reference: background, then COCO category ids 1..90.
REFERENCE_LOGITS = 91
# Input sizes the extra layers are fitted at: the zoo's range and the reference's own 300.
FIT_SIZES = (160, 224, 320)
FIT_PHOTOS = 384
FIT_STEPS = 1500
FIT_BATCH = 32


def _extra_convs(rest: list[Conv]) -> dict[int, tuple[Conv, Conv]]:
    """(1x1 reduction, 3x3 stride-2 conv) of the reference's extra layer at each stride."""
    return {64 * 2 ** i: (rest[2 * i], rest[2 * i + 1]) for i in range(4)}


def _predictor_convs(rest: list[Conv]) -> dict[int, tuple[Conv, Conv]]:
    """(box, class) 1x1 predictors of the reference at each stride; they follow the 8 extra convs."""
    return {stride: (rest[8 + 2 * i], rest[9 + 2 * i]) for i, stride in enumerate(REFERENCE_ANCHORS.strides)}


def anchor_matches(ours: AnchorSpec, theirs: AnchorSpec = REFERENCE_ANCHORS) -> dict[int, list[tuple[int, float]]]:
    """For each of our strides the reference also has: per anchor of a cell, the reference
    anchor of the same aspect ratio nearest in scale, and our scale over theirs.

    Where our anchors keep their pixel size (``scales_at``), scales are compared in pixels,
    theirs at the reference's 300 input: the features, and so the predictors, see pixels."""
    their_layers = dict(zip(theirs.strides, theirs._box_specs()))
    # Our scale in units of theirs: pixels over pixels, or fractions of the same input.
    unit = ours.scales_at / REFERENCE_INPUT if ours.scales_at else 1.0
    matches = {}
    for stride, specs in zip(ours.strides, ours._box_specs()):
        if stride not in their_layers:
            continue
        row = []
        for scale, ratio in specs:
            candidates = [(abs(math.log(unit * scale / s)), j, unit * scale / s)
                          for j, (s, r) in enumerate(their_layers[stride]) if math.isclose(r, ratio)]
            if not candidates:
                raise ValueError(f"stride {stride}: the reference has no anchor with aspect ratio {ratio}")
            _, j, factor = min(candidates)
            row.append((j, factor))
        matches[stride] = row
    return matches


def predictor_weights(box: Conv, cls: Conv, matches: list[tuple[int, float]]) -> tuple[np.ndarray, ...]:
    """Our 1x1 box and class kernels [1, 1, in, out] and biases from the reference's predictors."""
    (_, box_kernel, box_bias), (_, cls_kernel, cls_bias) = box, cls
    box_k, box_b, cls_k, cls_b = [], [], [], []
    for j, factor in matches:
        k = box_kernel[4 * j:4 * j + 4, 0, 0, :].copy()   # rows ty, tx, th, tw; [out, in]
        b = box_bias[4 * j:4 * j + 4].copy()
        # Centre offsets are in units of the anchor's size; sizes are log ratios to it.
        k[:2] /= factor
        b[:2] /= factor
        b[2:] -= np.array(BOX_SCALES[2:], np.float32) * math.log(factor)
        box_k.append(k)
        box_b.append(b)
        columns = j * REFERENCE_LOGITS + COCO80_IDS
        cls_k.append(cls_kernel[columns, 0, 0, :])
        cls_b.append(cls_bias[columns])
    to_keras = lambda rows: np.concatenate(rows).T[None, None]  # noqa: E731 - [out, in] -> [1, 1, in, out]
    return to_keras(box_k), np.concatenate(box_b), to_keras(cls_k), np.concatenate(cls_b)


def _relu6(x):
    return tf.clip_by_value(x, 0.0, 6.0)


def _reference_extra(x, reduce: Conv, conv3: Conv):
    """The reference's extra layer on a batch (float TF ops)."""
    y = _relu6(tf.nn.conv2d(x, reduce[1].transpose(1, 2, 3, 0), 1, "SAME") + reduce[2])
    return _relu6(tf.nn.conv2d(y, conv3[1].transpose(1, 2, 3, 0), 2, "SAME") + conv3[2])


def _extra_layers(model: keras.Model, stride: int) -> list[keras.layers.Layer]:
    return [model.get_layer(f"extra{stride}_{part}") for part in
            ("reduce", "reduce_bn", "reduce_relu", "dw", "dw_bn", "dw_relu", "pw", "pw_bn", "pw_relu")]


def _separable_start(conv3: Conv) -> tuple[np.ndarray, np.ndarray]:
    """Depthwise [3, 3, C, 1] and pointwise [1, 1, C, out] kernels from the best rank-1 split of
    each input channel's slice of the full kernel [out, 3, 3, C]."""
    kernel = conv3[1]
    out, kh, kw, channels = kernel.shape
    dw = np.empty((kh, kw, channels, 1), np.float32)
    pw = np.empty((1, 1, channels, out), np.float32)
    for c in range(channels):
        u, s, vt = np.linalg.svd(kernel[:, :, :, c].reshape(out, kh * kw).T, full_matrices=False)
        dw[:, :, c, 0] = (u[:, 0] * math.sqrt(s[0])).reshape(kh, kw)
        pw[0, 0, c] = vt[0] * math.sqrt(s[0])
    return dw, pw


def fit_extra_layers(model: keras.Model, extras: dict[int, tuple[Conv, Conv]], strides: list[int],
                     block13: list[np.ndarray], steps: int = FIT_STEPS, seed: int = 0) -> dict[int, float]:
    """Copy the reductions, then fit our separable 3x3 layers to the reference's full ones on
    ``block13`` (backbone outputs, one array per input size); returns the unexplained share of
    each stride's output variance."""
    # The depthwise output is moved into ReLU6's open range before the pointwise layer takes it back.
    offset = 3.0
    for stride in strides:
        reduce, conv3 = extras[stride]
        layers = _extra_layers(model, stride)
        layers[0].kernel.assign(reduce[1].transpose(1, 2, 3, 0))
        set_affine(layers[1], np.ones_like(reduce[2]), reduce[2])
        dw, pw = _separable_start(conv3)
        layers[3].kernel.assign(dw)
        set_affine(layers[4], np.ones(dw.shape[2], np.float32), np.full(dw.shape[2], offset, np.float32))
        layers[6].kernel.assign(pw)
        set_affine(layers[7], np.ones_like(conv3[2]), conv3[2] - offset * pw[0, 0].sum(axis=0))
    trainable = [v for s in strides for layer in _extra_layers(model, s)[3:] for v in layer.trainable_weights
                 if "moving" not in v.path]
    targets = []
    for features in block13:
        x, per_stride = tf.constant(features), []
        for stride in strides:
            x = _reference_extra(x, *extras[stride])
            per_stride.append(x.numpy())
        targets.append(per_stride)
    variances = [float(np.mean([t[i].var() for t in targets])) for i in range(len(strides))]

    def student(x):
        outputs = []
        for stride in strides:
            for layer in _extra_layers(model, stride):
                x = layer(x, training=False)
            outputs.append(x)
        return outputs

    def loss_of(x, ys):
        return tf.add_n([tf.reduce_mean(tf.square(p - y)) / v for p, y, v in zip(student(x), ys, variances)])

    optimizer = keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(2e-3, steps))

    @tf.function(reduce_retracing=True)
    def step(x, ys):
        with tf.GradientTape() as tape:
            loss = loss_of(x, ys)
        optimizer.apply_gradients(zip(tape.gradient(loss, trainable), trainable))
        return loss

    rng = np.random.default_rng(seed)
    for i in range(steps):
        size = i % len(block13)
        rows = rng.choice(len(block13[size]), FIT_BATCH, replace=False)
        loss = step(tf.constant(block13[size][rows]), [tf.constant(t[rows]) for t in targets[size]])
        if i % 500 == 0 or i == steps - 1:
            log.info("extra layers: step %d/%d, loss %.4f", i + 1, steps, float(loss))
    unexplained = {}
    for i, stride in enumerate(strides):
        errors = [np.mean((out[i].numpy() - t[i]) ** 2) for features, t in zip(block13, targets)
                  for out in [student(tf.constant(features))]]
        unexplained[stride] = float(np.mean(errors) / variances[i])
    return unexplained


def load_reference_head(model: keras.Model, config: SSDConfig, rest: list[Conv], class_names: list[str],
                        photos: dict[int, np.ndarray], fit_steps: int = FIT_STEPS) -> dict[int, float]:
    """Load the reference's extra layers and predictors (``rest``: its convolutions after the
    backbone) into ``model``, whose backbone already holds the reference's. ``photos``:
    normalised photos per input size. Returns the extra layers' unexplained variance."""
    if config.alpha != REFERENCE_ALPHA:
        raise ValueError(f"the reference's head has the widths of alpha {REFERENCE_ALPHA}, not {config.alpha}")
    if list(class_names) != list(COCO80_NAMES) or config.class_loss != "focal":
        raise ValueError("the reference's head scores the 80 COCO classes with sigmoids: it needs the COCO "
                         "class list and the focal class loss")
    if len(rest) != 20:
        raise ValueError(f"expected the reference's 8 extra and 12 predictor convolutions, got {len(rest)}")
    matches = anchor_matches(config.anchor_spec)
    extra_strides = [s for s in config.anchor_spec.strides if s > 32]
    feature_model = keras.Model(model.input, model.get_layer("block13_pw_relu").output)
    block13 = [feature_model.predict(photos[size], batch_size=32, verbose=0) for size in sorted(photos)]
    unexplained = fit_extra_layers(model, _extra_convs(rest), extra_strides, block13, fit_steps)
    log.info("extra layers fitted to the reference's; unexplained variance by stride: %s",
             {s: round(v, 3) for s, v in unexplained.items()})
    predictors = _predictor_convs(rest)
    for stride, row in matches.items():
        box_k, box_b, cls_k, cls_b = predictor_weights(*predictors[stride], row)
        for name, kernel, bias in ((f"box{stride}", box_k, box_b), (f"cls{stride}", cls_k, cls_b)):
            dw = np.zeros(model.get_layer(name + "_dw").kernel.shape, np.float32)
            dw[1, 1] = 1.0
            model.get_layer(name + "_dw").kernel.assign(dw)
            channels = dw.shape[2]
            set_affine(model.get_layer(name + "_dw_bn"), np.ones(channels, np.float32),
                           np.zeros(channels, np.float32))
            model.get_layer(name).kernel.assign(kernel)
            model.get_layer(name).bias.assign(bias)
    restat_trainable(model, photos[max(photos)])
    log.info("head initialised from the reference at strides %s", sorted(matches))
    return unexplained
