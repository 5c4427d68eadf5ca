"""Parameters and multiply-adds of a Keras model, counted layer by layer from its shapes.

Counts are for the deployed network: BN is folded into the preceding convolution, so
each conv contributes its kernel plus one bias per output channel, and BN contributes
nothing. Only convolutions and dense layers count as multiply-adds (the MobileNet paper's
convention); pooling, activations and the post-processing op are left out.
"""
from __future__ import annotations

import keras
import numpy as np

from pi_vision.detection.model_cost import GraphCost


def _spatial(shape) -> int:
    return int(np.prod(shape[1:-1]))


def count(model: keras.Model) -> GraphCost:
    """Needs a model built with a fixed input size."""
    params = mult_adds = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            kh, kw, cin, mult = layer.kernel.shape
            params += kh * kw * cin * mult + cin * mult
            mult_adds += _spatial(layer.output.shape) * kh * kw * cin * mult
        elif isinstance(layer, keras.layers.Conv2D):
            kh, kw, cin, cout = layer.kernel.shape
            params += kh * kw * cin * cout + cout
            mult_adds += _spatial(layer.output.shape) * kh * kw * cin * cout
        elif isinstance(layer, keras.layers.Dense):
            cin, cout = layer.kernel.shape
            params += cin * cout + cout
            mult_adds += cin * cout
    if any(dim is None for dim in model.inputs[0].shape[1:]):
        raise ValueError("count() needs a model with a fixed input size")
    return GraphCost(mult_adds=int(mult_adds), params=int(params))
