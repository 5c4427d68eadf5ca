"""SSD losses: quality focal loss or softmax with hard-negative mining for classes, smooth L1 for boxes.

Dense distillation adds the same two losses against a trained wider student's outputs on
the same batch: every anchor and class, not only the teacher labels' positives.

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


def softmax_hard_negative_loss(logits: tf.Tensor, class_targets: tf.Tensor, positive: tf.Tensor,
                               class_weights: tf.Tensor, negatives_per_positive: int = 3,
                               min_negatives: int = 8) -> tf.Tensor:
    """Summed softmax cross-entropy of the original SSD: every positive anchor (its most likely
    class, logit column k + 1) and, per image, only the ``negatives_per_positive`` x positives
    background anchors with the highest loss (at least ``min_negatives``); the grey zone
    (``class_weights`` 0) is left out."""
    labels = tf.where(positive, tf.argmax(class_targets, axis=-1, output_type=tf.int32) + 1, 0)
    ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)      # (B, A)
    negative = tf.logical_and(tf.logical_not(positive), class_weights > 0)
    num_positive = tf.reduce_sum(tf.cast(positive, tf.int32), axis=1)
    num_negative = tf.minimum(tf.maximum(negatives_per_positive * num_positive, min_negatives),
                              tf.reduce_sum(tf.cast(negative, tf.int32), axis=1))
    hardest = tf.sort(tf.where(negative, ce, 0.0), axis=1, direction="DESCENDING")
    kept = tf.range(tf.shape(ce)[1])[None, :] < num_negative[:, None]
    return tf.reduce_sum(tf.where(positive, ce, 0.0)) + tf.reduce_sum(tf.where(kept, hardest, 0.0))


def smooth_l1(prediction: tf.Tensor, target: tf.Tensor, delta: float = 1.0) -> tf.Tensor:
    diff = tf.abs(prediction - target)
    return tf.where(diff < delta, 0.5 * diff * diff / delta, diff - 0.5 * delta)


def detection_loss(box_pred, class_logits, box_targets, class_targets, box_weights, class_weights,
                   box_loss_weight: float = 1.0, class_loss: str = "focal") -> dict[str, tf.Tensor]:
    """Sums over anchors, divided by the number of anchors that own an object."""
    positives = tf.reduce_sum(tf.cast(box_weights > 0, tf.float32))
    normaliser = tf.maximum(positives, 1.0)
    if class_loss == "softmax":
        cls = softmax_hard_negative_loss(class_logits, class_targets, box_weights > 0, class_weights) / normaliser
    else:
        cls = tf.reduce_sum(quality_focal_loss(class_logits, class_targets) * class_weights[..., None]) / normaliser
    box = tf.reduce_sum(tf.reduce_sum(smooth_l1(box_pred, box_targets), axis=-1) * box_weights) / normaliser
    return {"loss": cls + box_loss_weight * box, "class_loss": cls, "box_loss": box, "positives": positives}


def dense_distillation_loss(box_pred, class_logits, teacher_box, teacher_logits, normaliser,
                            box_loss_weight: float = 1.0) -> tf.Tensor:
    """Quality focal loss towards the teacher network's probabilities on every anchor, and
    smooth L1 towards its box encodings weighted by its confidence that the anchor holds an
    object (its best class); summed and divided by ``normaliser`` like ``detection_loss``."""
    teacher_prob = tf.sigmoid(teacher_logits)
    cls = tf.reduce_sum(quality_focal_loss(class_logits, teacher_prob)) / normaliser
    objectness = tf.reduce_max(teacher_prob, axis=-1)
    box = tf.reduce_sum(tf.reduce_sum(smooth_l1(box_pred, teacher_box), axis=-1) * objectness) / normaliser
    return cls + box_loss_weight * box
