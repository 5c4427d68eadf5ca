"""Assembles the training set of each recipe (shared by the scripts and the tests)."""
from __future__ import annotations

import json
import logging
import typing
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pi_vision.paths import REPO_DIR, reference_model
from pi_vision.detection.score_calibration import ScoreCalibration
from pi_vision.settings import SettingError, setting, validate
from pi_vision.training.classes import COCO80_NAMES
from pi_vision.training.data.pseudo_labels import FusedPseudoLabels, PseudoLabelCache, fit_calibration
from pi_vision.training.data.recipes import coco_distillation_samples, voc_split
from pi_vision.training.data.sample import Sample, load_rgb
from pi_vision.training.fusion import FusionConfig
from pi_vision.training.loader import ImageStore
from pi_vision.training.teacher import Teacher, TeacherConfig
from pi_vision.training.yolox_teacher import YoloxConfig, YoloxTeacher

log = logging.getLogger(__name__)

# Teacher labels below this confidence are left out of training (the cache keeps >= 0.05):
# they are mostly faint guesses that dilute the targets of the real objects.
MIN_PSEUDO_SCORE = 0.3


# The teachers a COCO run can distil from; "fused" is both, YOLOX calibrated onto the reference's scale.
TeacherName = Literal["reference", "yolox", "fused"]
TEACHERS: tuple[str, ...] = typing.get_args(TeacherName)
# How the two teachers' boxes are fused (research/score_teachers.py scores the choices).
FUSION = FusionConfig(iou=0.55, weights=(1.0, 1.0), conf_type="avg")


def yolox_model(data_dir: Path) -> Path:
    return Path(data_dir) / "teachers" / "yolox_nano.onnx"


def make_teachers(data_dir: Path, teacher_config: TeacherConfig = TeacherConfig(),
                  num_threads: int = 2) -> tuple[Teacher, YoloxTeacher]:
    return (Teacher(reference_model(), teacher_config, num_threads),
            YoloxTeacher(yolox_model(data_dir), YoloxConfig(), num_threads))


def _caches(cache_dir: Path, reference: Teacher, yolox: YoloxTeacher) -> tuple[PseudoLabelCache, PseudoLabelCache]:
    return PseudoLabelCache(cache_dir / "teacher", reference), PseudoLabelCache(cache_dir / "yolox", yolox)


def yolox_calibration(data_dir: Path, cache_dir: Path, reference: Teacher | None = None,
                      yolox: YoloxTeacher | None = None) -> ScoreCalibration:
    """YOLOX's scores mapped onto the reference's, by rank over every distillation photo
    (labelling whatever the caches still lack)."""
    if reference is None or yolox is None:
        reference, yolox = make_teachers(data_dir)
    samples = coco_distillation_samples(data_dir, cache_dir / "frames")
    ref_cache, yolox_cache = _caches(cache_dir, reference, yolox)
    ref_cache.fill(samples)
    yolox_cache.fill(samples)
    calibration = fit_calibration(yolox_cache, ref_cache, samples)
    log.info("YOLOX score calibration onto the reference: %s",
             ", ".join(f"{s:.2f}->{t:.2f}" for s, t in zip(calibration.source[::8], calibration.target[::8])))
    return calibration


def coco_store(data_dir: Path, cache_dir: Path, max_images: int | None = None,
               min_pseudo_score: float = MIN_PSEUDO_SCORE, hard_pseudo_labels: bool = False,
               teacher_config: TeacherConfig = TeacherConfig(), teacher: str = "reference") -> ImageStore:
    """Distillation set: every recipe image with cached teacher labels (computed on first use)."""
    if teacher not in TEACHERS:
        raise ValueError(f"teacher must be one of {TEACHERS}, not {teacher!r}")
    samples = coco_distillation_samples(data_dir, cache_dir / "frames")
    if max_images is not None:
        samples = samples[::max(1, len(samples) // max_images)][:max_images]
    reference, yolox = make_teachers(data_dir, teacher_config)
    ref_cache, yolox_cache = _caches(cache_dir, reference, yolox)
    if teacher == "fused":
        # Calibrated over all photos, so a subset run sees the same labels as a full one.
        labels = FusedPseudoLabels([ref_cache, yolox_cache],
                                   [ScoreCalibration(), yolox_calibration(data_dir, cache_dir, reference, yolox)],
                                   FUSION)
    else:
        labels = ref_cache if teacher == "reference" else yolox_cache
        labels.fill(samples)
    return ImageStore(samples, labels, min_pseudo_score=min_pseudo_score, hard_pseudo_labels=hard_pseudo_labels)


def _probability(v: float | None) -> bool:
    return v is None or 0.0 <= v <= 1.0


@dataclass(frozen=True)
class DataConfig:
    """What a run trains on."""

    recipe: Literal["coco", "voc"] = setting("coco", "coco: distil the COCO classes from the teachers on the "
                                             "shared photos; voc: a human-labelled Pascal VOC set", flag="--recipe")
    voc: Path | None = setting(None, "VOC folder with annotations/ and images/ (recipe voc)", flag="--voc",
                               metavar="FOLDER")
    classes: list[str] | None = setting(None, "VOC class names (default: every name in the XMLs)", flag="--classes")
    holdout: float = setting(0.2, "fraction of a VOC set kept for evaluation", check=lambda v: 0 < v < 1,
                             must="in (0, 1)", flag="--holdout")
    teacher: TeacherName = setting(
        "fused", "who labels the distillation photos: the reference SSD, YOLOX-Nano, or both fused (YOLOX's "
        "scores calibrated onto the reference's, weighted box fusion)", flag="--teacher")
    teacher_tiles: int = setting(2, "the reference also labels an N x N grid of overlapping tiles (1: the full "
                                 "image only)", check=lambda v: v >= 1, must=">= 1", flag="--teacher-tiles",
                                 metavar="N")
    min_pseudo_score: float = setting(MIN_PSEUDO_SCORE, "train on teacher labels at least this confident",
                                      check=_probability, must="in 0..1", flag="--min-pseudo-score")
    hard_labels: bool = setting(False, "train on kept teacher labels as sure (score 1) instead of their confidence",
                                flag="--hard-labels")
    max_images: int | None = setting(None, "use only this many images, evenly spread (smoke tests, learning "
                                     "curves)", check=lambda v: v is None or v >= 1, must=">= 1", flag="--max-images")
    cache: Path = setting(REPO_DIR / "runs" / "cache", "teacher labels and video frames, kept between runs",
                          flag="--cache")

    def __post_init__(self) -> None:
        validate(self)
        if self.recipe == "voc" and self.voc is None:
            raise SettingError("voc", "--recipe voc needs --voc FOLDER (a folder with annotations/ and images/)")


def build_store(data: DataConfig, data_dir: Path, out_dir: Path) -> tuple[ImageStore, list[str], dict]:
    """The training images and labels of ``data``, its class names, and what to record of it."""
    if data.recipe == "coco":
        store = coco_store(data_dir, data.cache, data.max_images, data.min_pseudo_score, data.hard_labels,
                           TeacherConfig(tile_grid=data.teacher_tiles), data.teacher)
        return store, list(COCO80_NAMES), {
            "recipe": "coco", "images": len(store), "min_pseudo_score": data.min_pseudo_score,
            "hard_labels": data.hard_labels, "teacher_tiles": data.teacher_tiles, "teacher": data.teacher,
            "source": "shared data (see recipes.py)"}
    class_names = data.classes or voc_class_names(data.voc / "annotations")
    store = voc_store(data.voc / "annotations", data.voc / "images", class_names, data.holdout, out_dir)
    return store, class_names, {"recipe": "voc", "images": len(store), "source": str(data.voc)}


def voc_class_names(annotations_dir: Path) -> list[str]:
    """Every object name in a VOC folder, sorted."""
    names = set()
    for xml_path in Path(annotations_dir).glob("*.xml"):
        names.update(o.findtext("name", "").strip() for o in ET.parse(xml_path).getroot().iter("object"))
    return sorted(n for n in names if n)


def voc_store(annotations_dir: Path, images_dir: Path, class_names: list[str], holdout: float,
              out_dir: Path) -> ImageStore:
    """Human-labelled custom set; the held-out part is written as COCO JSON for evaluate.py."""
    train, held = voc_split(annotations_dir, images_dir, class_names, holdout)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_coco_json(held, class_names, out_dir / "holdout.json")
    log.info("VOC: %d training, %d held-out images (%s)", len(train), len(held), out_dir / "holdout.json")
    return ImageStore(train, None)


def write_coco_json(samples: list[Sample], class_names: list[str], path: Path) -> None:
    """Ground truth in COCO form (absolute image paths as file names), category id = index + 1."""
    images, annotations = [], []
    for image_id, sample in enumerate(samples, start=1):
        h, w = load_rgb(sample.image).shape[:2]
        images.append({"id": image_id, "file_name": str(Path(sample.image).resolve()), "width": w, "height": h})
        for box, cls in zip(sample.labels.boxes, sample.labels.classes):
            y1, x1, y2, x2 = (float(v) for v in box * [h, w, h, w])
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": int(cls) + 1,
                                "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1), "iscrowd": 0})
    categories = [{"id": i + 1, "name": n} for i, n in enumerate(class_names)]
    path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": categories}))
