"""Set BN layers without changing what a network computes.

Weight transfers (head_transfer, width_transfer) build a layer's function as conv + affine
and then hand it to training, where an ordinary BN normalises with the batch's statistics:
stored statistics of the identity would turn the first step into a different network. So a
BN first gets an exact affine function, then the statistics of its real inputs with gamma
and beta rewritten to keep that function.
"""
from __future__ import annotations

import keras
import numpy as np

from pi_vision.training.model import FrozenStatsBatchNorm


def set_affine(bn: keras.layers.BatchNormalization, scale: np.ndarray, shift: np.ndarray) -> None:
    """Make ``bn`` compute x * scale + shift with its stored statistics."""
    bn.moving_mean.assign(np.zeros_like(shift))
    bn.moving_variance.assign(np.full_like(shift, 1.0 - bn.epsilon))
    bn.gamma.assign(scale)
    bn.beta.assign(shift)


def restat(bn: keras.layers.BatchNormalization, inputs: np.ndarray) -> None:
    """Store the statistics of ``inputs`` (..., C) in ``bn`` and keep its inference function."""
    gamma, beta, mean, var = (np.asarray(w) for w in (bn.gamma, bn.beta, bn.moving_mean, bn.moving_variance))
    scale = gamma / np.sqrt(var + bn.epsilon)
    shift = beta - scale * mean
    flat = inputs.reshape(-1, inputs.shape[-1]).astype(np.float64)
    new_mean, new_var = flat.mean(axis=0), flat.var(axis=0)
    bn.moving_mean.assign(new_mean.astype(np.float32))
    bn.moving_variance.assign(new_var.astype(np.float32))
    bn.gamma.assign((scale * np.sqrt(new_var + bn.epsilon)).astype(np.float32))
    bn.beta.assign((scale * new_mean + shift).astype(np.float32))


def restat_trainable(model: keras.Model, photos: np.ndarray) -> None:
    """Every BN that trains on batch statistics gets its inputs' statistics on ``photos``
    (normalised images); the backbone's frozen-statistics BN layers keep theirs."""
    bns = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)
           and not isinstance(layer, FrozenStatsBatchNorm)]
    probe = keras.Model(model.input, [bn.input for bn in bns])
    for bn, inputs in zip(bns, probe.predict(photos, batch_size=32, verbose=0)):
        restat(bn, inputs)
