"""The YAML card written beside every shipped .tflite."""
from __future__ import annotations

from pathlib import Path

import yaml

from pi_vision.anchors import AnchorSpec, generate_anchors


def anchor_section(spec: AnchorSpec, size: int) -> dict:
    return {
        "strides": list(spec.strides),
        "scales": [round(s, 4) for s in spec.layer_scales()[:-1]],
        "aspect_ratios": [round(a, 4) for a in spec.aspect_ratios],
        "reduce_boxes_in_lowest_layer": spec.reduce_boxes_in_lowest_layer,
        "boxes_per_cell": spec.boxes_per_cell(),
        "count": int(len(generate_anchors(spec, (size, size)))),
        "layout": "[cy, cx, h, w] normalised; row, column, box; encodings scaled by 10, 10, 5, 5 (pi_vision.anchors)",
    }


def write_model_card(path: Path, card: dict) -> None:
    path.write_text(yaml.safe_dump(card, sort_keys=False, width=110))
