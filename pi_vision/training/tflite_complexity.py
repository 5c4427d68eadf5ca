"""Multiply-adds and weights of an existing .tflite, read from its convolution ops.

Lets model cards compare our networks with the reference on the same footing as
``complexity.count`` (convolutions and fully connected layers only).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType

from pi_vision.training.complexity_types import Complexity


def count_tflite(path: Path) -> Complexity:
    interpreter = Interpreter(str(path), experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interpreter.allocate_tensors()
    shapes = {d["index"]: tuple(int(v) for v in d["shape"]) for d in interpreter.get_tensor_details()}
    params = mult_adds = 0
    for op in interpreter._get_ops_details():
        name = op["op_name"]
        if name not in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            continue
        kernel = shapes[op["inputs"][1]]
        out = shapes[op["outputs"][0]]
        bias = shapes[op["inputs"][2]] if len(op["inputs"]) > 2 and op["inputs"][2] >= 0 else (0,)
        weights = int(np.prod(kernel))
        params += weights + int(np.prod(bias))
        if name == "CONV_2D":      # kernel [out, kh, kw, in]
            mult_adds += int(np.prod(out[1:3])) * weights
        elif name == "DEPTHWISE_CONV_2D":  # kernel [1, kh, kw, channels]
            mult_adds += int(np.prod(out[1:3])) * weights
        else:
            mult_adds += weights
    return Complexity(params, mult_adds)
