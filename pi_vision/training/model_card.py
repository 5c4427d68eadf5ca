"""The model card of a converted student: what it is, how it was trained and how it scored.

The runtime reads the contract part (input scaling, anchors, score calibration) through
``pi_vision.detection.model_file``; the rest is for people choosing a model.
"""
from __future__ import annotations

import json
from pathlib import Path

from pi_vision.detection.model_file import LABELS_FILE, POSTPROCESS_OP, TRAINED_SCALING, anchor_section
from pi_vision.training import checkpoint
from pi_vision.training.augment import AugmentConfig
from pi_vision.training.classes import COCO80_NAMES
from pi_vision.training.evaluate import EvalResult
from pi_vision.training.image_sets import FUSION
from pi_vision.training.teacher import TeacherConfig
from pi_vision.training.train_config import REFERENCE_ALPHA


# Longer gaps between a run's log lines are pauses between resumed runs, not training.
MAX_LOG_GAP_S = 600


def training_minutes(run_dir: Path, until_step: int) -> float:
    """Wall time the run spent training up to ``until_step``, from its metrics log."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.exists():
        return 0.0
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    times = [r["time"] for r in records if r["step"] <= until_step]
    gaps = [b - a for a, b in zip(times, times[1:])]
    return round(sum(g for g in gaps if 0 < g < MAX_LOG_GAP_S) / 60, 1)


def stage_recipe(config: dict) -> dict:
    """How one training stage treated the backbone, the losses and the images (from its run config)."""
    data = config.get("data") or {}
    return {"frozen_backbone_blocks": config.get("frozen_blocks", 0),
            "backbone_optimizer": config.get("backbone_optimizer", "adamw"),
            "box_loss_weight": config.get("box_loss_weight", 1.0),
            # Runs from before the setting had anchors that are fractions of each input size.
            "anchors": (f"the pixel size of a {config['anchors_at']} input at every input size"
                        if config.get("anchors_at") else "fractions of each input size"),
            "augmentation": augmentation_description(config.get("augment") or {}),
            **({"dense_distillation": f"the outputs of {config['distil_from']} on every anchor and class, "
                                      f"weight {config.get('distil_weight', 1.0):g}"}
               if config.get("distil_from") else {}),
            **({"teachers": data.get("teacher", "reference"),
                "coco_scene_share": config.get("scene_share") or "natural"} if data.get("recipe") == "coco" else {})}


def data_history(run_dir: Path, config: dict) -> list[dict] | None:
    """Earlier sessions of a resumed run that trained on other data than its last, from the run
    record (runs older than the record kept this list in their config)."""
    path = Path(run_dir) / checkpoint.RUN_RECORD
    if not path.exists():
        return (config.get("data") or {}).get("history")
    sessions = json.loads(path.read_text())["sessions"]
    return [{"until_step": later["from_step"], "data": session["config"]["data"]}
            for session, later in zip(sessions, sessions[1:])
            if session["config"]["data"] != config.get("data")] or None


def _stage_checkpoint(init_from: str) -> Path | None:
    """The checkpoint an ``init_from`` names: a checkpoint folder, or a run's newest."""
    path = Path(init_from)
    return path if (path / checkpoint.STATE).exists() else checkpoint.latest(path / "checkpoints")


def earlier_stage(init_from: str | None) -> dict | None:
    """What the run started from when it was initialised from another run's checkpoint."""
    if not init_from:
        return None
    ckpt = _stage_checkpoint(init_from)
    if ckpt is None:
        return {"checkpoint": init_from, "note": "no longer on disk"}
    state = json.loads((ckpt / checkpoint.STATE).read_text())
    config = state.get("config", {})
    run_dir = ckpt.parent.parent
    return {"checkpoint": str(ckpt), "steps": state["step"], **stage_recipe(config),
            "wall_time_minutes": training_minutes(run_dir, state["step"]),
            "initialised_from": earlier_stage(config.get("init_from"))}


def backbone_description(config: dict) -> str:
    """Where the first stage's backbone came from (later stages start from its weights, widened
    if the first stage was narrower)."""
    final_alpha = config.get("alpha")
    while config.get("init_from"):
        ckpt = _stage_checkpoint(config["init_from"])
        if ckpt is None:
            return "not recorded (the first stage is no longer on disk)"
        config = json.loads((ckpt / checkpoint.STATE).read_text()).get("config", {})
    # Runs before the backbone setting recorded a yes/no for ImageNet.
    source = config.get("backbone") or ("imagenet" if config.get("pretrained_backbone", True) else "random")
    if source == "reference":
        alpha = final_alpha or config.get("alpha", REFERENCE_ALPHA)
        change = ("" if alpha == REFERENCE_ALPHA else
                  f", widened to alpha {alpha:g} (Net2WiderNet)" if alpha > REFERENCE_ALPHA else
                  f", narrowed to alpha {alpha:g} (channels kept by use, pointwise layers refitted)")
        head = ("; extra layers and predictors from the reference's too (pi_vision/training/head_transfer.py)"
                if config.get("head") == "reference" else "")
        return f"the reference COCO SSD's feature extractor, MobileNet v1 at depth {REFERENCE_ALPHA:g}{change}{head}"
    return {"imagenet": "ImageNet MobileNet v1 (dequantized .tflite)", "random": "random"}[source]


def teacher_description(min_score, tiles: int, teacher: str = "reference") -> str:
    t = TeacherConfig(tile_grid=tiles)
    views = "the full image" + (f" + {tiles}x{tiles} tiles on images at least {t.tile_min_side} px a side"
                                if tiles > 1 else "")
    reference = f"the reference's dense outputs on {views}"
    yolox = "YOLOX-Nano (416 letterbox)"
    fusion = FUSION
    who = {"reference": reference, "yolox": yolox,
           "fused": (f"{reference} and {yolox}, YOLOX's scores calibrated onto the reference's by rank, "
                     f"fused by weighted box fusion (IoU {fusion.iou}, weights {fusion.weights[0]:g}:"
                     f"{fusion.weights[1]:g}, scores {fusion.conf_type})")}[teacher]
    return (f"{who}; every (box, class) with score >= {min_score} as a soft target, "
            f"per-class NMS {t.nms_iou}, top {t.max_boxes} per image and teacher")


def augmentation_description(overrides: dict) -> str:
    # Runs recorded before crop_aspect existed cropped at the natural aspect.
    a = AugmentConfig(**({"crop_aspect": "natural"} | overrides))
    return (f"2x2 mosaic (p {a.mosaic_probability}), random crops (p {a.crop_probability}, "
            f"{a.crop_aspect} aspect), zoom-out "
            f"(p {a.zoom_out_probability}), flip, colour jitter"
            + (f", object paste (p {a.paste_probability}, up to {a.paste_max_objects})" if a.paste_probability else "")
            + f"; labels under {a.min_box_pixels:g} px dropped")


def build_card(name, path, ssd, size, precision, complexity, labels, config, step, ckpt, post,
          calibration_count: int, minutes: float) -> dict:
    coco = list(labels) == list(COCO80_NAMES)
    data = config.get("data") or {}
    card = {
        "name": name,
        "file": path.name,
        "architecture": "MobileNet v1 backbone + SSDLite head (depthwise-separable predictors)",
        "alpha": ssd.alpha,
        "input": {"shape": [1, size, size, 3], "dtype": "uint8" if precision == "int8" else "float32",
                  "color": "RGB", "scaling": TRAINED_SCALING.to_card()},
        "precision": f"int8 (full integer, calibrated on {calibration_count} real photos/frames)" if precision == "int8" else "float32",
        "mult_adds": complexity.mult_adds,
        "params": complexity.params,
        "file_size_bytes": path.stat().st_size,
        "outputs": {"op": POSTPROCESS_OP, "max_detections": post.max_detections,
                    "score_threshold": post.score_threshold, "iou_threshold": post.iou_threshold,
                    "boxes": "[1, N, 4] ymin, xmin, ymax, xmax normalised", "classes": "[1, N]", "scores": "[1, N]",
                    "count": "[1]"},
        "classes": {
            "numbering": ("80 contiguous COCO classes in category-id order; " if coco else "")
                         + f"output class k = line k of the packed {LABELS_FILE}",
            "count": len(labels),
            "labels": list(labels),
        },
        "anchors": anchor_section(ssd.anchor_spec, size),
        "training": {
            "recipe": "distilled from COCO detectors (teacher below, labels cached) on unlabelled COCO scene "
                      "photos, other photos, video frames and pedestrian frames (person boxes mixed in)"
                      if coco else "human-labelled custom set",
            "backbone_init": backbone_description(config),
            **stage_recipe(config),
            "images": data.get("images", "not recorded by this run"),
            "teacher": teacher_description(data.get("min_pseudo_score", "unrecorded"),
                                            data.get("teacher_tiles", TeacherConfig().tile_grid),
                                            data.get("teacher", "reference")) if coco else None,
            "data_history": data_history(ckpt.parent.parent, config),
            "loss": ("softmax cross-entropy over background + classes, 3 hard negatives per positive"
                     if ssd.class_loss == "softmax" else "quality focal loss on soft per-class targets")
                    + " (anchors IoU >= 0.5) + smooth L1 on box encodings",
            "hard_labels": data.get("hard_labels", False),
            "repeat_factor_sampling_threshold": config.get("repeat_threshold", 0.0),
            "coco_scene_share": config.get("scene_share") or "natural (one draw per image)",
            "multi_scale_sizes": config["sizes"],
            "batch_size": config["batch_size"],
            "steps": step,
            "backbone_lr_scale": config.get("backbone_lr_scale", 1.0),
            "wall_time_minutes": minutes,
            "trained_on": "2-core x86 CPU, TensorFlow CPU",
            "checkpoint": str(ckpt),
            "initialised_from": earlier_stage(config.get("init_from")),
        },
    }
    return card


def evaluation_section(result: EvalResult, eval_set, size: int) -> dict:
    return {"evaluation": {"dataset": eval_set.name, "images": result.images,
                           "mAP": round(result.map, 4), "mAP50": round(result.map50, 4),
                           "protocol": f"pycocotools bbox, {size}x{size} resize, all images"},
            "latency": {"invoke_ms_mean": round(result.mean_invoke_ms, 2),
                        "where": "ai_edge_litert on the 2-core x86 training machine, 2 threads (not a Pi)"}}
