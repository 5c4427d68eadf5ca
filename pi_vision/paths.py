"""Where the project finds its models and the shared third-party data."""
from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_DIR = PACKAGE_DIR.parent
MODELS_DIR = Path(os.environ.get("PI_VISION_MODELS", REPO_DIR / "models"))


def shared_data_dir() -> Path:
    """The shared data folder: ``$PI_VISION_DATA``, else ``../shared/data`` beside the repo."""
    return Path(os.environ.get("PI_VISION_DATA", REPO_DIR.parent / "shared" / "data"))


def reference_model() -> Path:
    """The standard COCO SSD MobileNet v1 quant model, used as reference, teacher and test."""
    return shared_data_dir() / "reference" / "coco_ssd_mobilenet_v1_1.0_quant.tflite"
