"""The model-file contract: the card the runtime reads beside each .tflite."""
from __future__ import annotations

import pytest

from pi_vision.detection.anchors import AnchorSpec
from pi_vision.errors import UserError
from pi_vision.detection.model_file import (FOREIGN_SCALING, TRAINED_SCALING, InputScaling, anchor_section, read_card,
                                  write_card)


def test_a_file_without_a_card_gets_the_foreign_conventions(tmp_path):
    card = read_card(tmp_path / "detect.tflite")
    assert card.anchors is None and card.scaling == FOREIGN_SCALING


@pytest.mark.parametrize("scales_at", [None, 160])
def test_a_written_card_reads_back(tmp_path, scales_at):
    spec = AnchorSpec(strides=(8, 16, 32, 64, 128, 256), scales=(0.06, 0.14, 0.28, 0.45, 0.65, 0.85),
                      aspect_ratios=(1.0, 2.0, 0.5), reduce_boxes_in_lowest_layer=False, scales_at=scales_at)
    write_card(tmp_path / "m.yaml", {"input": {"scaling": TRAINED_SCALING.to_card()},
                                     "anchors": anchor_section(spec, 160)})
    card = read_card(tmp_path / "m.tflite")
    assert card.scaling == TRAINED_SCALING and card.anchors == spec


@pytest.mark.parametrize("text, scaling", [
    ("anchors:\n  strides: [8]\n", FOREIGN_SCALING),  # another tool's card: no scaling section
    ("input:\n  scaling: {mean: 0, std: 255}\n", InputScaling(0.0, 255.0)),
])
def test_scaling_comes_from_the_card(tmp_path, text, scaling):
    (tmp_path / "m.yaml").write_text(text)
    assert read_card(tmp_path / "m.tflite").scaling == scaling


@pytest.mark.parametrize("text, message", [
    ("input: [\n", "is not valid YAML"),
    ("input:\n  scaling: {mean: 0}\n", "input.scaling needs numbers mean and std"),
    ("input:\n  scaling: {mean: 0, std: 0}\n", "std must be positive"),
])
def test_bad_cards_are_a_one_line_model_error(tmp_path, text, message):
    (tmp_path / "m.yaml").write_text(text)
    with pytest.raises(UserError, match=message):
        read_card(tmp_path / "m.tflite")
