"""Initialise the MobileNet v1 backbone from a pretrained .tflite file.

Two sources: the ImageNet classifiers (one per alpha), or the reference COCO SSD, whose
feature extractor is a MobileNet v1 at depth 0.75 trained for detection on all of COCO -
the features our students otherwise have to learn from a few thousand photos. Other widths
get it through ``width_transfer``.

The quantized files hold uint8 weights with BN already folded into int32 conv biases; we
dequantize both and load them as conv kernel + (identity BN whose shift is the bias).
Layers are matched by order: the files are the plain TF-slim graph, so their first 27
convolutions are conv0 and the 13 depthwise/pointwise pairs (in the reference SSD too:
its extra layers and predictors come after them).
"""
from __future__ import annotations

import logging
from pathlib import Path

import cv2
import keras
import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType

from pi_vision.detection.model_file import TRAINED_SCALING
from pi_vision.detection.output_layouts import dequantize
from pi_vision.paths import reference_model, shared_data_dir
from pi_vision.training.model_spec import MOBILENET_V1_BLOCKS
from pi_vision.training.data.images import list_images
from pi_vision.training.data.recipes import COCO_SCENES
from pi_vision.training.data.sample import load_rgb
from pi_vision.training.train_config import BACKBONE_SOURCES, MIN_REFERENCE_ALPHA, REFERENCE_ALPHA
from pi_vision.training.width_transfer import change_width, stage_widths

log = logging.getLogger(__name__)

# The ImageNet file to start each alpha from.
BACKBONE_FILES = {
    0.25: "mobilenet_v1_0.25_128_quant.tflite",
    0.5: "mobilenet_v1_0.5_160_quant.tflite",
    0.75: "mobilenet_v1_0.75_192_quant.tflite",
    1.0: "mobilenet_v1_1.0_224_quant_embedding_extractor.tflite",
}
CONV_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D")


def backbone_file(alpha: float, source: str = "imagenet") -> Path:
    if source == "reference":
        if alpha < MIN_REFERENCE_ALPHA:
            raise ValueError(f"the reference's backbone (alpha {REFERENCE_ALPHA}) narrows to alpha "
                             f"{MIN_REFERENCE_ALPHA} at most, not {alpha}; use --backbone imagenet for this width")
        return reference_model()
    if source != "imagenet":
        raise ValueError(f"backbone source must be one of {[s for s in BACKBONE_SOURCES if s != 'random']}, "
                         f"not {source!r}")
    if alpha not in BACKBONE_FILES:
        raise ValueError(f"no ImageNet backbone for alpha {alpha}; have {sorted(BACKBONE_FILES)}")
    return shared_data_dir() / "backbones" / BACKBONE_FILES[alpha]


def read_convolutions(path: Path) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(op name, kernel, bias) of every convolution in graph order, as float32 in TFLite layout."""
    # Without the default delegate the graph keeps its original ops (XNNPACK would hide them).
    interpreter = Interpreter(str(path), experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interpreter.allocate_tensors()
    details = {d["index"]: d for d in interpreter.get_tensor_details()}
    convs = []
    for op in interpreter._get_ops_details():
        if op["op_name"] in CONV_OPS:
            _, kernel_idx, bias_idx = op["inputs"][:3]
            convs.append((op["op_name"], dequantize(interpreter.get_tensor(details[kernel_idx]["index"]), details[kernel_idx]),
                          dequantize(interpreter.get_tensor(details[bias_idx]["index"]), details[bias_idx])))
    return convs


def _load_conv(model: keras.Model, name: str, op: str, kernel: np.ndarray, bias: np.ndarray) -> None:
    layer = model.get_layer(name)
    if op == "CONV_2D":
        kernel = kernel.transpose(1, 2, 3, 0)         # [out, kh, kw, in] -> [kh, kw, in, out]
    else:
        kernel = kernel[0][..., None]                  # [1, kh, kw, c] -> [kh, kw, c, 1]
    if tuple(layer.kernel.shape) != kernel.shape:
        raise ValueError(f"{name}: file kernel {kernel.shape} vs model {tuple(layer.kernel.shape)}")
    layer.kernel.assign(kernel)
    bn = model.get_layer(name + "_bn")
    # Identity BN plus the folded bias: (x - 0) / sqrt(var + eps) * 1 + bias with var + eps = 1.
    bn.gamma.assign(np.ones_like(bias))
    bn.beta.assign(bias)
    bn.moving_mean.assign(np.zeros_like(bias))
    bn.moving_variance.assign(np.full_like(bias, 1.0 - bn.epsilon))


def backbone_layer_names() -> list[str]:
    names = ["conv0"]
    for i in range(1, len(MOBILENET_V1_BLOCKS) + 1):
        names += [f"block{i}_dw", f"block{i}_pw"]
    return names


def load_backbone(model: keras.Model, path: Path) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Load the 27 backbone convolutions of ``path`` into ``model``, carried over to the model's
    width if the file's differs; returns the remaining convolutions of the file (the classifier's
    logits layer, if it has one)."""
    convs = read_convolutions(path)
    names = backbone_layer_names()
    if len(convs) < len(names):
        raise ValueError(f"{path} has {len(convs)} convolutions, a MobileNet v1 needs {len(names)}")
    backbone = convs[:len(names)]
    widths = [model.get_layer(name).kernel.shape[-1] for name in names[::2]]  # conv0 and the pointwise layers
    if widths != stage_widths(backbone):
        log.info("carrying the backbone of %s from widths %s to %s", path.name, stage_widths(backbone), widths)
        backbone = change_width(backbone, widths, fit_photos())
    for name, (op, kernel, bias) in zip(names, backbone):
        _load_conv(model, name, op, kernel, bias)
    log.info("backbone initialised from %s", path.name)
    return convs[len(names):]


def fit_photos(count: int = 256, size: int = 224) -> np.ndarray:
    """COCO scene photos, normalised as in training, for refitting a narrowed backbone."""
    paths = list_images(shared_data_dir() / "unlabeled" / COCO_SCENES)
    if not paths:
        raise FileNotFoundError(f"no photos in {shared_data_dir() / 'unlabeled' / COCO_SCENES} to fit a backbone on")
    chosen = paths[::max(1, len(paths) // count)][:count]
    images = np.stack([cv2.resize(load_rgb(p), (size, size), interpolation=cv2.INTER_AREA) for p in chosen])
    return ((images.astype(np.float32) - TRAINED_SCALING.mean) / TRAINED_SCALING.std).astype(np.float32)


def load_classifier(model: keras.Model, path: Path) -> None:
    """Load a whole ImageNet classifier (backbone plus logits) into ``mobilenet_v1_classifier``."""
    rest = load_backbone(model, path)
    if not rest:
        raise ValueError(f"{path} has no classifier layer")
    _, kernel, bias = rest[0]
    model.get_layer("logits").kernel.assign(kernel.transpose(1, 2, 3, 0))
    model.get_layer("logits").bias.assign(bias)
