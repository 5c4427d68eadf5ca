"""MobileNet v1 backbone and SSDLite head in Keras.

Backbone: a 3x3 stride-2 convolution, then 13 depthwise-separable blocks, each layer
conv + BN + ReLU6, every channel count times ``alpha``. The ImageNet files we start from
have BN folded into their conv biases, so the backbone's BN layers always run in
inference mode: initialised as identity plus bias they reproduce the pretrained network
exactly, and their scale and shift still train. Extra layers and predictors use ordinary
BN. Every layer that carries weights has a stable name so the initialiser, the counter
and the converter can find it.
"""
from __future__ import annotations

import math

import keras
from keras import layers

from pi_vision.training.model_spec import BACKBONE_TAPS, EXTRA_DEPTHS, MOBILENET_V1_BLOCKS, SSDConfig

# Prior probability of an object at initialisation: keeps the first focal-loss steps sane.
PRIOR_PROBABILITY = 0.01


@keras.saving.register_keras_serializable(package="pi_vision")
class FrozenStatsBatchNorm(layers.BatchNormalization):
    """BN that always normalises with its stored statistics, while gamma and beta still train.

    Passing ``training=False`` when building a functional model is not enough: Keras 3
    overrides it with the ``training`` flag of the outer call, and batch statistics would
    then wreck the pretrained features (and overwrite the stored ones).
    """

    def call(self, inputs, training=None, mask=None):
        return super().call(inputs, training=False, mask=mask)


def _bn(name: str, frozen: bool) -> layers.Layer:
    cls = FrozenStatsBatchNorm if frozen else layers.BatchNormalization
    return cls(momentum=0.99, epsilon=1e-3, name=name)


def _conv_bn(x, filters: int, kernel: int, stride: int, name: str, frozen_bn: bool):
    x = layers.Conv2D(filters, kernel, strides=stride, padding="same", use_bias=False, name=name)(x)
    x = _bn(name + "_bn", frozen_bn)(x)
    return layers.ReLU(6.0, name=name + "_relu")(x)


def _dw_bn(x, kernel: int, stride: int, name: str, frozen_bn: bool):
    x = layers.DepthwiseConv2D(kernel, strides=stride, padding="same", use_bias=False, name=name)(x)
    x = _bn(name + "_bn", frozen_bn)(x)
    return layers.ReLU(6.0, name=name + "_relu")(x)


def mobilenet_v1_features(inputs, config: SSDConfig, last_block: int = 13) -> dict[int, keras.KerasTensor]:
    """Backbone feature maps by stride (8, 16, 32 as far as ``last_block`` reaches)."""
    x = _conv_bn(inputs, config.depth(32), 3, 2, "conv0", frozen_bn=True)
    features = {}
    for i, (depth, stride) in enumerate(MOBILENET_V1_BLOCKS[:last_block], start=1):
        x = _dw_bn(x, 3, stride, f"block{i}_dw", frozen_bn=True)
        x = _conv_bn(x, config.depth(depth), 1, 1, f"block{i}_pw", frozen_bn=True)
        for s, block in BACKBONE_TAPS.items():
            if block == i:
                features[s] = x
    return features


def mobilenet_v1_classifier(alpha: float, input_size: int, num_classes: int = 1001) -> keras.Model:
    """The plain ImageNet classifier, to check the counter and the imported weights."""
    config = SSDConfig(alpha, num_classes)
    inputs = keras.Input((input_size, input_size, 3), name="image")
    x = mobilenet_v1_features(inputs, config)[32]
    x = layers.GlobalAveragePooling2D(keepdims=True, name="pool")(x)
    x = layers.Conv2D(num_classes, 1, name="logits")(x)
    x = layers.Flatten(name="flatten")(x)
    return keras.Model(inputs, layers.Softmax(name="softmax")(x), name=f"mobilenet_v1_{alpha}_{input_size}")


@keras.saving.register_keras_serializable(package="pi_vision")
class _SlicedConstant(keras.initializers.Initializer):
    """A per-channel constant bias, cut to the layer's width (layers differ in boxes per cell)."""

    def __init__(self, values):
        self.values = list(values)

    def __call__(self, shape, dtype=None):
        return keras.ops.convert_to_tensor(self.values[:shape[0]], dtype=dtype)

    def get_config(self):
        return {"values": self.values}


def _predictor(x, outputs_per_anchor: int, anchors: int, name: str, bias_init):
    """SSDLite predictor: 3x3 depthwise + BN + ReLU6, then a 1x1 conv with bias."""
    x = _dw_bn(x, 3, 1, name + "_dw", frozen_bn=False)
    x = layers.Conv2D(anchors * outputs_per_anchor, 1, bias_initializer=bias_init, name=name)(x)
    # (B, H, W, k * d) -> (B, H * W * k, d): row, column, then box within cell, as the anchors are ordered.
    return layers.Reshape((-1, outputs_per_anchor), name=name + "_flat")(x)


def build_ssd(config: SSDConfig, input_size: tuple[int, int] | None = None) -> keras.Model:
    """SSDLite detector. Outputs raw box encodings (B, A, 4) and class logits (B, A, C).

    ``input_size`` None builds a model that takes any size (multi-scale training); a fixed size
    is for counting and export.
    """
    shape = (None, None, 3) if input_size is None else (*input_size, 3)
    inputs = keras.Input(shape, name="image")
    features = mobilenet_v1_features(inputs, config)
    strides = config.anchor_spec.strides
    x = features[32]
    for i, stride in enumerate(s for s in strides if s > 32):
        depth = config.depth(EXTRA_DEPTHS[i])
        x = _conv_bn(x, max(depth // 2, 8), 1, 1, f"extra{stride}_reduce", frozen_bn=False)
        x = _dw_bn(x, 3, 2, f"extra{stride}_dw", frozen_bn=False)
        x = _conv_bn(x, depth, 1, 1, f"extra{stride}_pw", frozen_bn=False)
        features[stride] = x
    prior_logit = math.log((1 - PRIOR_PROBABILITY) / PRIOR_PROBABILITY)
    if config.class_loss == "softmax":
        # Background (column 0 of each anchor's logits) starts at probability 1 - PRIOR_PROBABILITY.
        k_max = max(config.anchor_spec.boxes_per_cell())
        background_logit = prior_logit + math.log(config.num_classes)
        background = [background_logit if j % config.num_logits == 0 else 0.0 for j in range(k_max * config.num_logits)]
        prior_bias = _SlicedConstant(background)
    else:
        prior_bias = keras.initializers.Constant(-prior_logit)
    boxes, logits = [], []
    for stride, k in zip(strides, config.anchor_spec.boxes_per_cell()):
        boxes.append(_predictor(features[stride], 4, k, f"box{stride}", "zeros"))
        logits.append(_predictor(features[stride], config.num_logits, k, f"cls{stride}", prior_bias))
    box_out = layers.Concatenate(axis=1, name="box_encodings")(boxes)
    cls_out = layers.Concatenate(axis=1, name="class_logits")(logits)
    return keras.Model(inputs, [box_out, cls_out], name=f"ssd_mbv1_{config.alpha}")
