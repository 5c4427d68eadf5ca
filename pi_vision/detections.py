"""The one type that carries detections from the detector to the tracker and the overlay."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NO_TRACK = -1


def _check(name: str, array: np.ndarray, shape: tuple) -> None:
    """Raise ValueError naming the field when ``array`` does not match ``shape`` (None = any)."""
    ok = array.ndim == len(shape) and all(want is None or want == got for want, got in zip(shape, array.shape))
    if not ok:
        want = "(" + ", ".join("N" if s is None else str(s) for s in shape) + ")"
        raise ValueError(f"Detections.{name}: expected shape {want}, got {array.shape}")


@dataclass(frozen=True)
class Detections:
    """Aligned arrays, one row per object.

    boxes are ``[x1, y1, x2, y2]`` normalised to the source frame (0..1), so the same
    detections can be drawn on a frame of any resolution. ``track_ids`` is ``NO_TRACK``
    until a tracker fills it in.
    """

    boxes: np.ndarray
    scores: np.ndarray
    class_ids: np.ndarray
    track_ids: np.ndarray | None = None

    def __post_init__(self) -> None:
        boxes = np.asarray(self.boxes, dtype=np.float32)
        object.__setattr__(self, "boxes", boxes.reshape(0, 4) if boxes.size == 0 else boxes)
        object.__setattr__(self, "scores", np.asarray(self.scores, dtype=np.float32))
        object.__setattr__(self, "class_ids", np.asarray(self.class_ids, dtype=np.int32))
        n = len(self.boxes)
        if self.track_ids is None:
            object.__setattr__(self, "track_ids", np.full(n, NO_TRACK, dtype=np.int64))
        else:
            object.__setattr__(self, "track_ids", np.asarray(self.track_ids, dtype=np.int64))
        _check("boxes", self.boxes, (None, 4))
        for name in ("scores", "class_ids", "track_ids"):
            _check(name, getattr(self, name), (n,))

    @classmethod
    def empty(cls) -> "Detections":
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int32))

    def __len__(self) -> int:
        return len(self.scores)

    def __getitem__(self, index) -> "Detections":
        """Select rows with a boolean mask, an index array or a slice."""
        if isinstance(index, int):
            index = [index]
        return Detections(self.boxes[index], self.scores[index], self.class_ids[index], self.track_ids[index])

    def boxes_in_pixels(self, width: int, height: int) -> np.ndarray:
        return self.boxes * np.array([width, height, width, height], dtype=np.float32)
