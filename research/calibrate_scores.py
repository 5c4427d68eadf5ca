#!/usr/bin/env python3
"""Put the scores of existing COCO models on the reference's scale: fit each one's score
calibration and write it into its model card (pi-vision-convert does this for new files).

    python -m research.calibrate_scores models/ssd_mbv1_0.75_*.tflite
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path


import yaml

from pi_vision.detection.model_file import card_path, write_card
from pi_vision.paths import reference_model, shared_data_dir


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path, nargs="+", help=".tflite files with a model card beside them")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    from pi_vision.training.export import detection_scores, fit_score_calibration, score_calibration_photos

    photos = score_calibration_photos(shared_data_dir())
    if not photos:
        print(f"calibrate_scores.py: no COCO scene photos under {shared_data_dir()}; set PI_VISION_DATA",
              file=sys.stderr)
        return 2
    cards = {}
    for model in args.model:
        if not card_path(model).is_file():
            print(f"calibrate_scores.py: {model} has no model card; convert it with pi-vision-convert",
                  file=sys.stderr)
            return 2
        cards[model] = yaml.safe_load(card_path(model).read_text())
    reference = detection_scores(reference_model(), photos)
    for model, card in cards.items():
        card.pop("score_calibration", None)
        write_card(card_path(model), card)  # the fit needs the raw scores
        card["score_calibration"] = fit_score_calibration(model, photos, reference)
        write_card(card_path(model), card)
        print(f"{model}: calibrated on {len(photos)} photos")
    return 0


if __name__ == "__main__":
    sys.exit(main())
