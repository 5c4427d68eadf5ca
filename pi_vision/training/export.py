"""From a training run to shipped files: .tflite per input size and precision, each with its
model card (written by ``model_card.py``), score calibration and yardstick scores."""
from __future__ import annotations

import json
import logging
import random
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from pi_vision.config import DetectorConfig
from pi_vision.detection.detector import TFLiteDetector, detect_image
from pi_vision.detection.model_file import card_path, write_card
from pi_vision.paths import reference_model
from pi_vision.detection.score_calibration import ScoreCalibration
from pi_vision.training import checkpoint
from pi_vision.training.classes import COCO80_NAMES
from pi_vision.training.complexity import count
from pi_vision.training.convert import PostProcessConfig, convert, inference_model
from pi_vision.training.data.images import list_images
from pi_vision.training.data.recipes import COCO_SCENES
from pi_vision.training.data.sample import load_rgb
from pi_vision.training.evaluate import evaluate_model
from pi_vision.training.model_card import build_card, evaluation_section, training_minutes
from pi_vision.training.model_spec import SSDConfig, zoo_anchor_spec
from pi_vision.training.yardsticks import Yardstick, score_model

log = logging.getLogger(__name__)


@dataclass
class EvalSet:
    name: str
    annotations: Path
    images: Path


def calibration_images(data_dir: Path, count_: int = 200, seed: int = 0) -> list[Path]:
    """Real photos and frames for int8 calibration, never from the evaluation set."""
    pool = list_images(data_dir / "unlabeled" / "bsds500") + list_images(data_dir / "unlabeled" / "cats_dogs") + \
        list_images(data_dir / "pedestrians" / "images")
    random.Random(seed).shuffle(pool)
    return pool[:count_]


def model_name(alpha: float, size: int, prefix: str = "ssd_mbv1") -> str:
    """``ssd_mbv1_<alpha>_<input size>``; alpha keeps a decimal point (1.0, not 1), as users type it."""
    text = f"{alpha:g}"
    return f"{prefix}_{text if '.' in text else text + '.0'}_{size}"


def export_run(run_dir: Path, out_dir: Path, sizes: list[int], precisions: list[str], data_dir: Path,
               eval_set: EvalSet | None, checkpoint_path: Path | None = None, prefix: str = "ssd_mbv1",
               post: PostProcessConfig = PostProcessConfig(), calibration_count: int = 200,
               calibrate_scores: bool = True, yardstick: Yardstick | None = None) -> list[Path]:
    """Convert a run's checkpoint at each size/precision; precisions are 'int8' and/or 'float'."""
    ckpt = checkpoint_path or checkpoint.latest(run_dir / "checkpoints")
    if ckpt is None:
        raise FileNotFoundError(f"no checkpoint in {run_dir / 'checkpoints'}")
    state = json.loads((ckpt / checkpoint.STATE).read_text())
    config = state["config"]
    labels = config["class_names"]
    # Runs from before anchors kept their pixel size have no anchors_at: their anchors are fractions.
    ssd = SSDConfig(config["alpha"], len(labels), zoo_anchor_spec(config.get("anchors_at", 0)),
                    config.get("class_loss", "focal"))
    calibration = calibration_images(data_dir, calibration_count)
    # Only a COCO model has the reference's classes, and so a meaning for its scale.
    score_photos = score_calibration_photos(data_dir) if calibrate_scores and labels == list(COCO80_NAMES) else []
    reference_scores = None
    written = []
    for size in sizes:
        model = inference_model(ssd, size, weights=ckpt / checkpoint.WEIGHTS)
        complexity = count(model)
        for precision in precisions:
            name = model_name(ssd.alpha, size, prefix) + ("" if precision == "int8" else "_float")
            path = out_dir / f"{name}.tflite"
            images = (lambda: (load_rgb(p) for p in calibration)) if precision == "int8" else None
            convert(model, ssd, size, path, labels, images, post)
            # The card goes first: the runtime reads the input scaling from it, to calibrate and to score.
            card = build_card(name, path, ssd, size, precision, complexity, labels, config, state["step"], ckpt,
                         post, len(calibration), training_minutes(run_dir, state["step"]))
            write_card(card_path(path), card)
            if score_photos:
                if reference_scores is None:  # the same for every variant
                    reference_scores = detection_scores(reference_model(), score_photos)
                card["score_calibration"] = fit_score_calibration(path, score_photos, reference_scores)
                write_card(card_path(path), card)
            if eval_set:
                result = evaluate_model(path, eval_set.annotations, eval_set.images)
                card.update(evaluation_section(result, eval_set, size))
                write_card(card_path(path), card)
                log.info("%s: mAP %.3f mAP@.5 %.3f invoke %.1f ms", name, result.map, result.map50, result.mean_invoke_ms)
            if yardstick is not None:
                card.setdefault("evaluation", {})["yardsticks"] = {
                    set_name: {"mAP": round(m, 4), "mAP50": round(m50, 4)}
                    for set_name, (m, m50) in score_model(path, yardstick).items()}
                write_card(card_path(path), card)
            written.append(path)
    return written


# The reference's post-process op keeps its 10 best boxes per image.
REFERENCE_MAX_DETECTIONS = 10
# Every this many COCO scene photos is used to fit a model's score calibration.
SCORE_PHOTO_STEP = 10


def score_calibration_photos(data_dir: Path) -> list[Path]:
    """Everyday-scene photos to put a student's scores on the reference's scale (empty without them)."""
    folder = Path(data_dir) / "unlabeled" / COCO_SCENES
    return list_images(folder)[::SCORE_PHOTO_STEP] if folder.is_dir() else []


def fit_score_calibration(model_path: Path, photos: list[Path], reference_scores: np.ndarray) -> dict:
    """The card section that puts the model's scores on the reference's scale (its card must hold
    no calibration yet: the fit needs its raw scores)."""
    fitted = ScoreCalibration.by_rank(detection_scores(model_path, photos), reference_scores)
    return fitted.to_card() | {"fitted_on": (
        f"rank match of its detections to the reference's (top {REFERENCE_MAX_DETECTIONS}) on "
        f"{len(photos)} COCO scene photos")}


def detection_scores(model_path: Path, photos: list[Path]) -> np.ndarray:
    """Every score the model reports on ``photos``, as the app runs it (its card's scaling applied)."""
    detector = TFLiteDetector(DetectorConfig(model=str(model_path), threads=2, score_threshold=0.0))
    return np.concatenate([detect_image(detector, cv2.imread(str(p))).scores for p in photos])


