"""Draws tracked detections and a stats banner onto the display frame, in place."""
from __future__ import annotations

from collections import deque

import cv2
import numpy as np

from .detections import NO_TRACK, Detections
from .labels import label_name

# Centres kept per track for its trail.
TRAIL_LENGTH = 20
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def track_colour(track_id: int) -> tuple[int, int, int]:
    """A stable, well-spread BGR colour per track (golden-ratio hue steps)."""
    hue = int((track_id * 0.618033988749895 % 1.0) * 180)
    hsv = np.array([[[hue, 220, 255]]], np.uint8)
    return tuple(int(c) for c in cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0])


class Overlay:
    """Keeps short trails of track centres between frames; ``draw`` paints one frame."""

    def __init__(self, labels: list[str]):
        self.labels = labels
        self._trails: dict[int, deque] = {}

    def draw(self, image: np.ndarray, detections: Detections, banner: list[str] = ()) -> np.ndarray:
        """Boxes, labels and trails, then ``banner`` lines top-left."""
        h, w = image.shape[:2]
        scale = max(0.35, min(w, h) / 1200)  # text readable from 480p to 4K
        thickness = max(1, round(scale * 2))
        boxes = detections.boxes_in_pixels(w, h).round().astype(np.int32)
        self._update_trails(detections, boxes)
        for track_id, trail in self._trails.items():
            if len(trail) > 1:
                cv2.polylines(image, [np.array(trail, np.int32)], False, track_colour(track_id), thickness)
        for (x1, y1, x2, y2), score, class_id, track_id in zip(
                boxes, detections.scores, detections.class_ids, detections.track_ids):
            colour = track_colour(int(track_id)) if track_id != NO_TRACK else (0, 255, 0)
            cv2.rectangle(image, (x1, y1), (x2, y2), colour, thickness)
            text = label_name(self.labels, int(class_id))
            if track_id != NO_TRACK:
                text += f" #{track_id}"
            text += f" {score:.2f}"
            self._label(image, text, (x1, y1), colour, scale)
        y = 0
        for line in banner:
            y += self._label(image, line, (0, y), (40, 40, 40), scale, below=True, text_colour=(255, 255, 255))
        return image

    def _update_trails(self, detections: Detections, boxes: np.ndarray) -> None:
        alive = set()
        for (x1, y1, x2, y2), track_id in zip(boxes, detections.track_ids):
            if track_id == NO_TRACK:
                continue
            alive.add(int(track_id))
            self._trails.setdefault(int(track_id), deque(maxlen=TRAIL_LENGTH)).append(((x1 + x2) // 2, (y1 + y2) // 2))
        for gone in set(self._trails) - alive:
            del self._trails[gone]

    @staticmethod
    def _label(image, text, corner, colour, scale, below=False, text_colour=(0, 0, 0)) -> int:
        """A filled text box above ``corner`` (below it if ``below`` or no room); returns its height."""
        (tw, th), base = cv2.getTextSize(text, _FONT, scale, 1)
        x, y = corner
        top = y if below or y - th - base < 0 else y - th - base
        cv2.rectangle(image, (x, top), (x + tw + 4, top + th + base), colour, cv2.FILLED)
        cv2.putText(image, text, (x + 2, top + th), _FONT, scale, text_colour, 1, cv2.LINE_AA)
        return th + base
