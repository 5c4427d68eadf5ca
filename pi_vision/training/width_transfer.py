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
conv0, then a depthwise/pointwise pair per block.
"""
from __future__ import annotations

import logging

import numpy as np
import tensorflow as tf

from pi_vision.training.model_spec import MOBILENET_V1_BLOCKS

log = logging.getLogger(__name__)

Conv = tuple[str, np.ndarray, np.ndarray]
# Spatial positions per layer for the least-squares refit: enough for 1024 inputs many times over.
FIT_POSITIONS = 40_000
# Ridge strength relative to the mean input energy: keeps a refit stable on near-dead channels.
RIDGE = 1e-3


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
        extra = rng.integers(0, kernel.shape[0], width - kernel.shape[0])
        new_copy_of = np.concatenate([np.arange(kernel.shape[0]), extra])
        out.append((op, kernel[new_copy_of][..., copy_of] * share, bias[new_copy_of]))
        # Copies of a channel split its outgoing weights in random shares that sum to one.
        weight = rng.uniform(0.75, 1.25, width).astype(np.float32)
        share = weight / np.bincount(new_copy_of, weights=weight)[new_copy_of].astype(np.float32)
        copy_of = new_copy_of
    return out


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
