"""Shared fixtures: the shared data folder, skipped with a reason when absent."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from pi_vision.paths import reference_model, shared_data_dir


def _require(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} not found: put the shared data beside the repo or set PI_VISION_DATA")
    return path


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return _require(shared_data_dir())


@pytest.fixture(scope="session")
def reference_path() -> Path:
    return _require(reference_model())


@pytest.fixture(scope="session")
def street_image(data_dir) -> np.ndarray:
    """A real frame of people walking (the first frame of vtest.avi)."""
    ok, frame = cv2.VideoCapture(str(_require(data_dir / "videos" / "vtest.avi"))).read()
    assert ok
    return frame
