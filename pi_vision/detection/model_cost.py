"""Multiply-adds and parameters of a TFLite graph, counted from its convolution ops.

Works on any model file (ours, the reference, the ImageNet classifiers), so the cost of
every variant is measured the same way: the MobileNet paper's "mult-adds" are the MACs
of convolutions and fully connected layers. The Keras counter in training
(``training.complexity.count``) returns the same type for the network before conversion.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class GraphCost:
    mult_adds: int
    params: int


def graph_cost(interpreter) -> GraphCost:
    """Count over CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED ops (weights + biases as params)."""
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    mult_adds = params = 0
    for op in interpreter._get_ops_details():
        name = op["op_name"]
        if name not in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            continue
        weights = [int(s) for s in tensors[int(op["inputs"][1])]["shape"]]
        out = [int(s) for s in tensors[int(op["outputs"][0])]["shape"]]
        if name == "CONV_2D":  # weights [out_c, kh, kw, in_c]
            mult_adds += int(np.prod(out[:-1])) * int(np.prod(weights))
        elif name == "DEPTHWISE_CONV_2D":  # weights [1, kh, kw, out_c]
            mult_adds += int(np.prod(out)) * weights[1] * weights[2]
        else:  # weights [out, in]
            mult_adds += int(np.prod(out[:-1])) * int(np.prod(weights))
        for index in op["inputs"][1:]:
            if int(index) >= 0:
                params += int(np.prod(tensors[int(index)]["shape"]))
    return GraphCost(mult_adds, params)


def file_cost(path: Path) -> GraphCost:
    """``graph_cost`` of a model file."""
    from pi_vision.detection.runtime import load_interpreter

    return graph_cost(load_interpreter(Path(path), threads=1).interpreter)
