"""The model-file contract: what training writes and the runtime reads, defined once.

A shipped detector is a ``.tflite`` file and a YAML card beside it:

* The file ends in the ``TFLite_Detection_PostProcess`` op, whose four outputs come in
  the op's fixed order (``OUTPUT_ROLES``), named as the reference model names them.
* Line k of the label file packed into it (``LABELS_FILE``) names output class k.
* The card records the anchors and the input scaling the network was trained with, and
  the map that puts its scores on the reference's scale (``score_calibration``).

This module has no TensorFlow in it, so the runtime on the Pi imports it too.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from pi_vision.detection.anchors import AnchorSpec, generate_anchors
from pi_vision.errors import UserError
from pi_vision.detection.score_calibration import ScoreCalibration

POSTPROCESS_OP = "TFLite_Detection_PostProcess"
# The op's outputs, in the op's own order.
OUTPUT_ROLES = ("boxes", "classes", "scores", "count")
# Output names as in the reference model (tensor names) and its TF2 exports (signature keys),
# so code that reads outputs by name handles our files and the reference alike.
OUTPUT_TENSOR_NAMES = (POSTPROCESS_OP, POSTPROCESS_OP + ":1", POSTPROCESS_OP + ":2", POSTPROCESS_OP + ":3")
OUTPUT_SIGNATURE_KEYS = ("detection_boxes", "detection_classes", "detection_scores", "num_detections")

# The label file our converter packs; TFLite's metadata tools use the second name.
LABELS_FILE = "labelmap.txt"
PACKED_LABEL_NAMES = (LABELS_FILE, "labels.txt")


@dataclass(frozen=True)
class InputScaling:
    """How RGB pixels become the network's float input: ``(pixel - mean) / std``.

    Quantized inputs follow from it through the file's own scale and zero point."""

    mean: float
    std: float

    def to_card(self) -> dict:
        return {"mean": self.mean, "std": self.std, "formula": f"(pixel - {self.mean:g}) / {self.std:g}"}


# What this project's networks are trained on and int8-calibrated with: pixel / 127.5 - 1.
TRAINED_SCALING = InputScaling(127.5, 127.5)
# Files without a card (the reference and other foreign SSDs): the uint8 raw-pixel convention.
# Their usual quantization (scale 1/128, zero point 128) then takes the camera's pixel as it is.
FOREIGN_SCALING = InputScaling(128.0, 128.0)


def card_path(model_path: Path) -> Path:
    return Path(model_path).with_suffix(".yaml")


def anchor_section(spec: AnchorSpec, size: int) -> dict:
    return {
        "strides": list(spec.strides),
        "scales": [round(s, 4) for s in spec.layer_scales()[:-1]],
        **({"scales_at": spec.scales_at} if spec.scales_at is not None else {}),
        "aspect_ratios": [round(a, 4) for a in spec.aspect_ratios],
        "reduce_boxes_in_lowest_layer": spec.reduce_boxes_in_lowest_layer,
        "boxes_per_cell": spec.boxes_per_cell(),
        "count": int(len(generate_anchors(spec, (size, size)))),
        "layout": "[cy, cx, h, w] normalised; row, column, box; encodings scaled by 10, 10, 5, 5 (pi_vision.detection.anchors)",
    }


def write_card(path: Path, card: dict) -> None:
    Path(path).write_text(yaml.safe_dump(card, sort_keys=False, width=110))


@dataclass(frozen=True)
class ModelCard:
    """What the runtime needs from a card."""

    anchors: AnchorSpec | None
    scaling: InputScaling
    # Raw output score -> the reference's scale; None: the scores are used as they come.
    calibration: ScoreCalibration | None = None


def read_card(model_path: Path) -> ModelCard:
    """The card beside ``model_path``; a file without one, or a card without ``input.scaling``,
    gets the foreign conventions."""
    path = card_path(model_path)
    if not path.is_file():
        return ModelCard(None, FOREIGN_SCALING, None)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise UserError(f"model error: {path.name} is not valid YAML ({e.__class__.__name__}); fix or remove the card")
    return ModelCard(_anchors(data.get("anchors"), path), _scaling((data.get("input") or {}).get("scaling"), path),
                     _calibration(data.get("score_calibration"), path))


def _calibration(section: dict | None, path: Path) -> ScoreCalibration | None:
    if section is None:
        return None
    try:
        return ScoreCalibration.from_card(section)
    except (KeyError, TypeError, ValueError) as e:
        raise UserError(f"model error: {path.name}: bad score_calibration ({e}); fix or remove the section")


def _anchors(section: dict | None, path: Path) -> AnchorSpec | None:
    if not section:
        return None
    # Cards describe more than the spec needs (boxes per cell, count); take the spec's fields.
    fields = {f.name for f in dataclasses.fields(AnchorSpec)}
    try:
        return AnchorSpec(**{k: tuple(v) if isinstance(v, list) else v for k, v in section.items() if k in fields})
    except TypeError as e:
        raise UserError(f"model error: {path.name}: bad anchors section ({e}); fix the model card")


def _scaling(section: dict | None, path: Path) -> InputScaling:
    if section is None:  # a card written for another tool, e.g. only anchors
        return FOREIGN_SCALING
    try:
        scaling = InputScaling(float(section["mean"]), float(section["std"]))
    except (KeyError, TypeError, ValueError):
        raise UserError(f"model error: {path.name}: input.scaling needs numbers mean and std, got {section!r}; "
                        "fix the model card")
    if not np.isfinite(scaling.std) or scaling.std <= 0:
        raise UserError(f"model error: {path.name}: input.scaling.std must be positive; fix the model card")
    return scaling
