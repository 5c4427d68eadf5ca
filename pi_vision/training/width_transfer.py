"""Carry a pretrained MobileNet v1 backbone over to another width multiplier.

The reference SSD's feature extractor (alpha 0.75, trained for detection on all of COCO)
is a better start than an ImageNet classifier, so the other widths start from it too:

- Wider (alpha 1.0): Net2WiderNet (Chen et al. 2016). Each new channel copies an existing
  one, and the copies share its outgoing weights in random fractions that sum to one:
  the network computes exactly what it did, and the copies can still learn apart.
- Narrower (alpha 0.5): channel pruning with reconstruction (He et al. 2017). Each layer
  keeps the channels whose outputs the next layer leans on most, and every pointwise layer
  is refitted by least squares to reproduce the wide network's output on real photos from
  the narrow network's own inputs, so errors do not pile up through the 13 blocks.

Convolutions are ``(op, kernel, bias)`` in TFLite layout, as ``backbone_init`` reads them:
conv0, then a depthwise/pointwise pair per block. ``widen_model`` and ``narrow_model`` do the
same to a whole trained Keras SSD, head included, to go on training it at another alpha.
"""
from __future__ import annotations

import logging

import keras
import numpy as np
import tensorflow as tf

from pi_vision.training.bn_init import restat_trainable, set_affine
from pi_vision.training.model_spec import MOBILENET_V1_BLOCKS

log = logging.getLogger(__name__)

Conv = tuple[str, np.ndarray, np.ndarray]
# Spatial positions per layer for the least-squares refit: enough for 1024 inputs many times over.
FIT_POSITIONS = 40_000
# Ridge strength relative to the mean input energy: keeps a refit stable on near-dead channels.
RIDGE = 1e-3
# Photos (count, side) a whole SSD is narrowed on: enough positions for the 1x1 refits down to the 1x1 maps.
NARROW_FIT_PHOTOS, NARROW_FIT_SIZE = 256, 192


def stage_widths(convs: list[Conv]) -> list[int]:
    """Output channels of conv0 and of each block's pointwise layer."""
    return [convs[0][1].shape[0]] + [convs[2 * i][1].shape[0] for i in range(1, len(MOBILENET_V1_BLOCKS) + 1)]


def _stride(layer: int) -> int:
    """conv0 is stride 2; a block's stride sits on its depthwise layer."""
    if layer == 0:
        return 2
    block, pointwise = divmod(layer - 1, 2)
    return 1 if pointwise else MOBILENET_V1_BLOCKS[block][1]


def _pre_activation(conv: Conv, layer: int, x: tf.Tensor) -> tf.Tensor:
    op, kernel, bias = conv
    s = _stride(layer)
    if op == "DEPTHWISE_CONV_2D":
        y = tf.nn.depthwise_conv2d(x, kernel[0][..., None], [1, s, s, 1], "SAME")
    else:
        y = tf.nn.conv2d(x, kernel.transpose(1, 2, 3, 0), s, "SAME")
    return y + bias


def _relu6(x: tf.Tensor) -> tf.Tensor:
    return tf.clip_by_value(x, 0.0, 6.0)


def forward(convs: list[Conv], images: np.ndarray) -> list[np.ndarray]:
    """Post-activation output of every layer for normalised images (N, H, W, 3)."""
    x, outputs = tf.constant(images, tf.float32), []
    for layer, conv in enumerate(convs):
        x = _relu6(_pre_activation(conv, layer, x))
        outputs.append(x.numpy())
    return outputs


def change_width(convs: list[Conv], widths: list[int], images: np.ndarray | None = None,
                 seed: int = 0) -> list[Conv]:
    """The backbone with ``widths`` output channels per stage (see ``stage_widths``). Narrowing
    needs ``images``: normalised photos (N, H, W, 3) to fit on."""
    source = stage_widths(convs)
    if len(widths) != len(source):
        raise ValueError(f"expected {len(source)} stage widths, got {len(widths)}")
    if all(w >= s for w, s in zip(widths, source)):
        return widen(convs, widths, np.random.default_rng(seed))
    if all(w <= s for w, s in zip(widths, source)):
        if images is None:
            raise ValueError("narrowing a backbone needs photos to refit it on")
        return narrow(convs, widths, images, np.random.default_rng(seed))[0]
    raise ValueError(f"widths {widths} are neither all wider nor all narrower than {source}")


def widen(convs: list[Conv], widths: list[int], rng: np.random.Generator) -> list[Conv]:
    out: list[Conv] = []
    copy_of, share = np.arange(3), np.ones(3, np.float32)   # the RGB input is not widened
    for stage, width in enumerate(widths):
        if stage > 0:  # a depthwise channel follows its input channel
            op, kernel, bias = convs[2 * stage - 1]
            out.append((op, kernel[..., copy_of], bias[copy_of]))
        op, kernel, bias = convs[2 * stage]
        new_copy_of, new_share = _copies(kernel.shape[0], width, rng)
        out.append((op, kernel[new_copy_of][..., copy_of] * share, bias[new_copy_of]))
        copy_of, share = new_copy_of, new_share
    return out


def _copies(source_width: int, width: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Which source channel each of ``width`` channels copies, and its share of that channel's
    outgoing weights: random shares that sum to one over the copies."""
    copy_of = np.concatenate([np.arange(source_width), rng.integers(0, source_width, width - source_width)])
    weight = rng.uniform(0.75, 1.25, width).astype(np.float32)
    return copy_of, weight / np.bincount(copy_of, weights=weight)[copy_of].astype(np.float32)


def _convolutions(model: keras.Model):
    """(layer, is depthwise, name of the layer whose channels it reads or None for the image) in graph order."""
    for layer in model.layers:
        depthwise = isinstance(layer, keras.layers.DepthwiseConv2D)
        if depthwise or isinstance(layer, keras.layers.Conv2D):
            producer = layer.input._keras_history.operation.name
            # A layer reads its producer through the producer's BN and ReLU6.
            yield layer, depthwise, producer[:-len("_relu")] if producer.endswith("_relu") else None


def _bn_of(model: keras.Model, layer: keras.layers.Layer) -> keras.layers.BatchNormalization | None:
    try:
        return model.get_layer(layer.name + "_bn")
    except ValueError:
        return None


def widen_model(source: keras.Model, target: keras.Model, seed: int = 0) -> None:
    """Load the trained ``source`` SSD into ``target``, the same network at a larger alpha, so that
    ``target`` computes exactly what ``source`` does (Net2WiderNet, layer by layer in graph order).

    A convolution's input channels follow the layer that produced them (through its BN and ReLU6);
    a depthwise layer's outputs are copies wherever its inputs are; a full convolution reads each
    copied input with its share and makes new copies of its own outputs where ``target`` is wider.
    """
    rng = np.random.default_rng(seed)
    copies: dict[str, tuple[np.ndarray, np.ndarray]] = {}   # producing layer -> (copy_of, share)
    for layer, depthwise, producer in _convolutions(target):
        old = source.get_layer(layer.name)
        if producer is None:
            copy_in, share_in = np.arange(layer.input.shape[-1]), np.ones(layer.input.shape[-1], np.float32)
        else:
            copy_in, share_in = copies[producer]
        if depthwise:
            copy_out, share_out = copy_in, share_in
            _take_channels(target, source, layer, copy_in, copy_out, depthwise=True)
        else:
            copy_out, share_out = _copies(old.kernel.shape[-1], layer.kernel.shape[-1], rng)
            _take_channels(target, source, layer, copy_in, copy_out, depthwise=False, input_share=share_in)
        copies[layer.name] = (copy_out, share_out)


def _run(model: keras.Model, outputs, photos: np.ndarray) -> np.ndarray:
    """``outputs`` (a tensor of ``model``'s graph) on ``photos``, in inference mode."""
    probe = keras.Model(model.input, outputs)
    return np.concatenate([np.asarray(probe(photos[i:i + 32], training=False)) for i in range(0, len(photos), 32)])


def narrow_model(source: keras.Model, target: keras.Model, photos: np.ndarray, seed: int = 0,
                 refit: bool = True) -> None:
    """Load the trained ``source`` SSD into ``target``, the same network at a smaller alpha, by
    channel pruning with reconstruction (as ``narrow`` does for a backbone), layer by layer in
    graph order: each full convolution keeps the outputs most active on ``photos`` (normalised
    images) and, where its inputs lost channels, is refitted by least squares to reproduce the
    wide network's pre-activations from the narrow network's own inputs. Depthwise layers keep
    the channels of their inputs. Predictors keep all their outputs and are refitted too.
    ``refit`` False only slices the kept channels out (to measure what the refit adds).
    """
    rng = np.random.default_rng(seed)
    kept: dict[str, np.ndarray] = {}   # layer -> the source channels its outputs keep
    for layer, depthwise, producer in _convolutions(target):
        old = source.get_layer(layer.name)
        keep_in = np.arange(layer.input.shape[-1]) if producer is None else kept[producer]
        if depthwise:
            kept[layer.name] = keep_in
            _take_channels(target, source, layer, keep_in, keep_in, depthwise=True)
            continue
        wide = _run(source, (_bn_of(source, old) or old).output, photos)
        keep_out = np.arange(old.kernel.shape[-1])
        if layer.kernel.shape[-1] < len(keep_out):
            activity = np.clip(wide, 0, 6).mean(axis=(0, 1, 2))
            keep_out = np.sort(np.argsort(-activity)[:layer.kernel.shape[-1]])
        kept[layer.name] = keep_out
        if len(keep_in) == old.kernel.shape[2] or not refit:   # whole inputs (the image): nothing to make up for
            _take_channels(target, source, layer, keep_in, keep_out, depthwise=False)
            continue
        if tuple(layer.kernel.shape[:2]) != (1, 1):
            raise ValueError(f"{layer.name}: only 1x1 convolutions can be refitted, not {tuple(layer.kernel.shape)}")
        narrow_in = _run(target, layer.input, photos)
        narrow_in, wide = narrow_in.reshape(-1, narrow_in.shape[-1]), wide.reshape(-1, wide.shape[-1])
        rows = rng.choice(len(wide), min(FIT_POSITIONS, len(wide)), replace=False)
        kernel, bias = _refit(narrow_in[rows], wide[rows][:, keep_out])
        layer.kernel.assign(kernel.transpose(1, 2, 3, 0))
        if (bn := _bn_of(target, layer)) is not None:
            set_affine(bn, np.ones_like(bias), bias)
        else:
            layer.bias.assign(bias)
    restat_trainable(target, photos)


def _take_channels(target: keras.Model, source: keras.Model, layer: keras.layers.Layer, keep_in: np.ndarray,
                   keep_out: np.ndarray, depthwise: bool, input_share: np.ndarray | None = None) -> None:
    """Copy the source layer's weights (and its BN's) for the channels ``keep_in`` / ``keep_out``
    index into ``layer``; ``input_share`` scales what each input channel contributes."""
    old = source.get_layer(layer.name)
    kernel = np.asarray(old.kernel)[:, :, keep_in, :]
    if input_share is not None:
        kernel = kernel * input_share[None, None, :, None]
    kernel = kernel if depthwise else kernel[..., keep_out]
    if kernel.shape != tuple(layer.kernel.shape):
        raise ValueError(f"{layer.name}: cannot carry {tuple(old.kernel.shape)} to {tuple(layer.kernel.shape)}")
    layer.kernel.assign(kernel)
    if layer.use_bias:
        layer.bias.assign(np.asarray(old.bias)[keep_out])
    if (bn := _bn_of(target, layer)) is not None:
        for new, value in zip(bn.weights, _bn_of(source, old).weights):
            new.assign(np.asarray(value)[keep_out])


def _importance(stage_output: np.ndarray, convs: list[Conv], stage: int) -> np.ndarray:
    """How much of each channel's output the next block passes on: mean activation after the
    next depthwise layer times the norm of the next pointwise weights reading it."""
    if stage == len(MOBILENET_V1_BLOCKS):  # the last block feeds the (new) head: its activation only
        return np.abs(stage_output).mean(axis=(0, 1, 2))
    after_dw = _relu6(_pre_activation(convs[2 * stage + 1], 2 * stage + 1, tf.constant(stage_output))).numpy()
    return np.abs(after_dw).mean(axis=(0, 1, 2)) * np.linalg.norm(convs[2 * stage + 2][1][:, 0, 0, :], axis=0)


def _refit(inputs: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ridge least squares targets ~ inputs @ W + b; returns the 1x1 kernel [out, 1, 1, in] and b."""
    a = np.concatenate([inputs, np.ones((len(inputs), 1))], axis=1).astype(np.float64)
    gram = a.T @ a
    gram += RIDGE * np.trace(gram) / len(gram) * np.eye(len(gram))
    solution = np.linalg.solve(gram, a.T @ targets.astype(np.float64))
    return solution[:-1].T[:, None, None, :].astype(np.float32), solution[-1].astype(np.float32)


def narrow(convs: list[Conv], widths: list[int], images: np.ndarray, rng: np.random.Generator,
           refit: bool = True) -> tuple[list[Conv], np.ndarray]:
    """The narrowed convolutions and which of the wide network's last channels they kept.
    ``refit`` False only slices the kept channels out (to measure what the refit adds)."""
    out: list[Conv] = []
    wide = narrow_x = tf.constant(images, tf.float32)
    kept = np.arange(3)
    for stage, width in enumerate(widths):
        if stage > 0:
            layer = 2 * stage - 1
            wide = _relu6(_pre_activation(convs[layer], layer, wide))
            op, kernel, bias = convs[layer]
            out.append((op, kernel[..., kept], bias[kept]))
            narrow_x = _relu6(_pre_activation(out[-1], layer, narrow_x))
        layer = 2 * stage
        wide_pre = _pre_activation(convs[layer], layer, wide)
        wide = _relu6(wide_pre)
        new_kept = np.sort(np.argsort(-_importance(wide.numpy(), convs, stage))[:width])
        op, kernel, bias = convs[layer]
        if stage == 0:  # the RGB input is whole: keeping filters loses nothing
            out.append((op, kernel[new_kept], bias[new_kept]))
        elif not refit:
            out.append((op, kernel[new_kept][..., kept], bias[new_kept]))
        else:
            positions = int(np.prod(wide_pre.shape[:-1]))
            rows = rng.choice(positions, min(positions, FIT_POSITIONS), replace=False)
            x = narrow_x.numpy().reshape(-1, narrow_x.shape[-1])[rows]
            y = wide_pre.numpy().reshape(-1, wide_pre.shape[-1])[rows][:, new_kept]
            out.append((op, *_refit(x, y)))
        narrow_x = _relu6(_pre_activation(out[-1], layer, narrow_x))
        kept = new_kept
        log.debug("stage %d: kept %d of %d channels", stage, width, kernel.shape[0])
    return out, kept
