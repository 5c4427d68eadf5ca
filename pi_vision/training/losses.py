"""SSD losses for soft targets: quality focal loss for classes, smooth L1 for boxes.

Quality focal loss (Li et al., Generalized Focal Loss) is binary cross-entropy against a
target probability, scaled by |target - prediction|^beta. With soft teacher targets it
learns the teacher's confidence; with hard 0/1 targets it is the usual focal loss. It
takes the place of hard-negative mining: easy background anchors fade out by themselves.
"""
from __future__ import annotations

import tensorflow as tf


def quality_focal_loss(logits: tf.Tensor, targets: tf.Tensor, beta: float = 2.0) -> tf.Tensor:
    """Elementwise loss, same shape as ``logits``."""
    prob = tf.sigmoid(logits)
    ce = tf.nn.sigmoid_cross_entropy_with_logits(labels=targets, logits=logits)
    return ce * tf.pow(tf.abs(targets - prob), beta)


def smooth_l1(prediction: tf.Tensor, target: tf.Tensor, delta: float = 1.0) -> tf.Tensor:
    diff = tf.abs(prediction - target)
    return tf.where(diff < delta, 0.5 * diff * diff / delta, diff - 0.5 * delta)


def detection_loss(box_pred, class_logits, box_targets, class_targets, box_weights, class_weights,
                   box_loss_weight: float = 1.0) -> dict[str, tf.Tensor]:
    """Sums over anchors, divided by the number of anchors that own an object."""
    positives = tf.reduce_sum(tf.cast(box_weights > 0, tf.float32))
    normaliser = tf.maximum(positives, 1.0)
    cls = tf.reduce_sum(quality_focal_loss(class_logits, class_targets) * class_weights[..., None]) / normaliser
    box = tf.reduce_sum(tf.reduce_sum(smooth_l1(box_pred, box_targets), axis=-1) * box_weights) / normaliser
    return {"loss": cls + box_loss_weight * box, "class_loss": cls, "box_loss": box, "positives": positives}
