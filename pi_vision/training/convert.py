"""Keras SSD -> .tflite with the TFLite_Detection_PostProcess op and packed labels.

The post-process op has no TensorFlow kernel. The converter replaces a function that
declares ``experimental_implements="TFLite_Detection_PostProcess ..."`` with the op, taking
its attributes from that declaration; the function's body is a placeholder that never runs.
"""
from __future__ import annotations

import logging
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import keras
import numpy as np
import tensorflow as tf

from pi_vision.detection.anchors import BOX_SCALES, generate_anchors
from pi_vision.detection.model_file import (LABELS_FILE, OUTPUT_SIGNATURE_KEYS, OUTPUT_TENSOR_NAMES, POSTPROCESS_OP,
                                  TRAINED_SCALING)
from pi_vision.training.model import build_ssd
from pi_vision.training.model_spec import SSDConfig

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class PostProcessConfig:
    max_detections: int = 25
    score_threshold: float = 0.01
    iou_threshold: float = 0.6
    # The fast (class-agnostic candidate) NMS the reference uses; regular NMS is slower on the Pi.
    use_regular_nms: bool = False


def implements_signature(num_classes: int, config: PostProcessConfig) -> str:
    y, x, h, w = BOX_SCALES
    attrs = [
        f'name: "{POSTPROCESS_OP}"',
        f'attr {{ key: "max_detections" value {{ i: {config.max_detections} }} }}',
        'attr { key: "max_classes_per_detection" value { i: 1 } }',
        'attr { key: "detections_per_class" value { i: 100 } }',
        f'attr {{ key: "use_regular_nms" value {{ b: {str(config.use_regular_nms).lower()} }} }}',
        f'attr {{ key: "nms_score_threshold" value {{ f: {config.score_threshold:f} }} }}',
        f'attr {{ key: "nms_iou_threshold" value {{ f: {config.iou_threshold:f} }} }}',
        f'attr {{ key: "y_scale" value {{ f: {y:f} }} }}',
        f'attr {{ key: "x_scale" value {{ f: {x:f} }} }}',
        f'attr {{ key: "h_scale" value {{ f: {h:f} }} }}',
        f'attr {{ key: "w_scale" value {{ f: {w:f} }} }}',
        f'attr {{ key: "num_classes" value {{ i: {num_classes} }} }}',
    ]
    return " ".join(attrs)


def inference_model(ssd: SSDConfig, size: int, weights: Path | None = None,
                    source: keras.Model | None = None) -> keras.Model:
    """A fixed-size copy of the network with trained weights (from a file or a live model)."""
    model = build_ssd(ssd, (size, size))
    if weights is not None:
        model.load_weights(weights)
    elif source is not None:
        model.set_weights(source.get_weights())
    return model


def _export_saved_model(model: keras.Model, ssd: SSDConfig, size: int, post: PostProcessConfig, out_dir: Path) -> None:
    anchors = tf.constant(generate_anchors(ssd.anchor_spec, (size, size)), dtype=tf.float32)

    @tf.function(experimental_implements=implements_signature(ssd.num_classes, post))
    def detection_postprocess(box_encodings, class_predictions, anchor_boxes):
        # Placeholder outputs: the converter swaps this whole function for the TFLite op.
        del box_encodings, class_predictions, anchor_boxes
        return (tf.constant(0.0, name="boxes"), tf.constant(0.0, name="classes"),
                tf.constant(0.0, name="scores"), tf.constant(0.0, name="num_detections"))

    def serve(image):
        box_encodings, logits = model(image, training=False)
        # The op compares the scores' width with num_classes: one column more is background
        # (skipped, class k read from column k + 1); as many means class k is column k.
        scores = tf.nn.softmax(logits) if ssd.class_loss == "softmax" else tf.sigmoid(logits)
        return detection_postprocess(box_encodings, scores, anchors)

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serve", serve, input_signature=[tf.TensorSpec([1, size, size, 3], tf.float32, name="image")])
    archive.write_out(str(out_dir), verbose=False)


def convert(model: keras.Model, ssd: SSDConfig, size: int, out_path: Path, labels: list[str],
            representative_images: Callable[[], Iterable[np.ndarray]] | None = None,
            post: PostProcessConfig = PostProcessConfig()) -> Path:
    """Write ``out_path``: float32 when ``representative_images`` is None, else full-integer int8
    (uint8 image input, like the reference, so camera pixels go in unchanged) calibrated on
    those images (RGB uint8, any size)."""
    with tempfile.TemporaryDirectory() as tmp:
        saved = Path(tmp) / "saved_model"
        _export_saved_model(model, ssd, size, post, saved)
        converter = tf.lite.TFLiteConverter.from_saved_model(str(saved))
        converter.allow_custom_ops = True
        if representative_images is not None:
            def calibration():
                for image in representative_images():
                    resized = tf.image.resize(image[None].astype(np.float32), (size, size))
                    yield [(resized - TRAINED_SCALING.mean) / TRAINED_SCALING.std]
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.representative_dataset = calibration
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            converter.inference_input_type = tf.uint8
        flatbuffer = name_detection_outputs(converter.convert())
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = out_path.with_suffix(".tmp")
    tmp_out.write_bytes(flatbuffer)
    pack_labels(tmp_out, labels)
    shutil.move(tmp_out, out_path)
    log.info("wrote %s (%.2f MB)", out_path, out_path.stat().st_size / 1e6)
    return out_path


def name_detection_outputs(flatbuffer: bytes) -> bytes:
    """Rename the post-process op's outputs (the converter calls them StatefulPartitionedCall:k)."""
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(flatbuffer))
    graph = model.subgraphs[0]
    ops = [op for op in graph.operators
           if (model.operatorCodes[op.opcodeIndex].customCode or b"").decode() == POSTPROCESS_OP]
    if len(ops) != 1:
        raise ValueError(f"expected one {POSTPROCESS_OP} op, found {len(ops)}")
    outputs = [int(i) for i in ops[0].outputs]
    for index, name in zip(outputs, OUTPUT_TENSOR_NAMES):
        graph.tensors[index].name = name.encode()
    for signature in model.signatureDefs or []:
        for item in signature.outputs:
            if item.tensorIndex in outputs:
                item.name = OUTPUT_SIGNATURE_KEYS[outputs.index(item.tensorIndex)].encode()
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def pack_labels(model_path: Path, labels: list[str]) -> None:
    """Append a zip holding ``labelmap.txt`` (line k names class k), as TFLite metadata does;
    the interpreter ignores bytes after the flatbuffer."""
    with zipfile.ZipFile(model_path, "a") as archive:
        archive.writestr(LABELS_FILE, "\n".join(labels) + "\n")
