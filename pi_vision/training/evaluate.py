"""COCO mAP of a detection .tflite on a COCO-JSON image set, with pycocotools."""
from __future__ import annotations

import contextlib
import io
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from pi_vision.config import DetectorConfig
from pi_vision.detection.detector import TFLiteDetector, detect_image

log = logging.getLogger(__name__)

UNUSED_LABEL = "???"


@dataclass
class EvalResult:
    map: float            # mAP@[.5:.95]
    map50: float          # mAP@.5
    images: int
    detections: int
    mean_invoke_ms: float
    stats: list[float]    # all 12 COCOeval summary numbers

    def as_dict(self) -> dict:
        return {"mAP": round(self.map, 4), "mAP50": round(self.map50, 4), "images": self.images,
                "detections": self.detections, "mean_invoke_ms": round(self.mean_invoke_ms, 2)}


def label_to_category(labels: list[str], categories: list[dict]) -> dict[int, int]:
    """Model output class -> dataset category id, by name; '???' slots map to nothing."""
    by_name = {c["name"]: c["id"] for c in categories}
    mapping = {}
    for k, name in enumerate(labels):
        if name == UNUSED_LABEL:
            continue
        if name not in by_name:
            raise ValueError(f"model label {name!r} is not a category of the dataset")
        mapping[k] = by_name[name]
    return mapping


def evaluate_model(model_path: Path, annotations: Path, images_dir: Path, num_threads: int = 2,
                   max_images: int | None = None) -> EvalResult:
    gt = load_coco(annotations)
    # The app's own detector, so what is scored is what users run; every score counts for AP.
    detector = TFLiteDetector(DetectorConfig(model=str(model_path), threads=num_threads, score_threshold=0.0))
    to_category = label_to_category(detector.labels, gt.loadCats(gt.getCatIds()))
    image_ids = sorted(gt.getImgIds())[:max_images]
    results, invoke_ms = [], []
    for image_id in image_ids:
        info = gt.loadImgs(image_id)[0]
        image = cv2.imread(str(Path(images_dir) / info["file_name"]), cv2.IMREAD_COLOR)
        if image is None:
            raise OSError(f"cannot read image {info['file_name']} in {images_dir}")
        timings: dict[str, float] = {}
        results += [dict(r, image_id=image_id) for r in coco_results(detector, image, to_category, timings)]
        invoke_ms.append(timings["invoke"] * 1000)
    if not results:
        log.warning("%s produced no detections", model_path)
    stats = coco_stats(gt, results, image_ids, Path(model_path).name)
    # Skip the first invoke: it includes one-off allocation work.
    return EvalResult(stats[0], stats[1], len(image_ids), len(results),
                      float(np.mean(invoke_ms[1:] or invoke_ms)), stats)


def coco_results(detector: TFLiteDetector, image_bgr: np.ndarray, to_category: dict[int, int],
                 timings: dict[str, float] | None = None) -> list[dict]:
    """The detector's boxes on one image as COCO result dicts (without image_id), in pixels."""
    h, w = image_bgr.shape[:2]
    det = detect_image(detector, image_bgr, timings)
    results = []
    for (x1, y1, x2, y2), cls, score in zip(det.boxes_in_pixels(w, h), det.class_ids, det.scores):
        if int(cls) in to_category:
            results.append({"category_id": to_category[int(cls)], "score": float(score),
                            "bbox": [float(x1), float(y1), float(x2 - x1), float(y2 - y1)]})
    return results


def coco_stats(gt: COCO, results: list[dict], image_ids: list[int], name: str) -> list[float]:
    """The 12 COCOeval summary numbers of ``results`` (COCO result dicts) over ``image_ids``."""
    if not results:
        return [0.0] * 12
    with contextlib.redirect_stdout(io.StringIO()) as text:
        dt = gt.loadRes(results)
        coco_eval = COCOeval(gt, dt, "bbox")
        coco_eval.params.imgIds = image_ids
        coco_eval.evaluate()
        coco_eval.accumulate()
        coco_eval.summarize()
    log.info("COCOeval of %s:\n%s", name, text.getvalue())
    return [float(s) for s in coco_eval.stats]


def load_coco(annotations: Path) -> COCO:
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress
        return COCO(str(annotations))


def write_results(result: EvalResult, path: Path) -> None:
    path.write_text(json.dumps(result.as_dict() | {"stats": result.stats}, indent=2))
