"""What every frame source provides."""
from __future__ import annotations

from typing import Protocol

import numpy as np


class FrameSource(Protocol):
    name: str
    # True: frames come at the scene's pace and are dropped when detection is slower.
    live: bool
    # Nominal frames per second (None when unknown).
    fps: float | None

    def open(self) -> None:
        """Start the device or stream; raises UserError with the fix when it cannot."""

    def read(self) -> tuple[np.ndarray, np.ndarray | None] | None:
        """Block until the next frame: (BGR image, BGR detection-size image or None).

        Returns None at the end of a finite stream; raises OSError when a live device fails
        (the capture thread then reopens it).
        """

    def close(self) -> None:
        """Release the device; safe to call twice."""
