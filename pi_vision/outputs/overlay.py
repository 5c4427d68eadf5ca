"""Draws tracked detections and a stats banner onto the display frame, in place.

It runs on every frame that goes to a window or a recording, so it avoids per-frame work
that does not change from frame to frame: track colours are computed once per id, the
banner (which only changes when the monitor logs) is rendered once into small patches
that are then copied, and rows are read as Python lists rather than numpy scalars.
"""
from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from pi_vision.detections import NO_TRACK, Detections
from pi_vision.detection.labels import label_name

# Centres kept per track for its trail.
TRAIL_LENGTH = 20
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_UNTRACKED_COLOUR = (0, 255, 0)
_BANNER_COLOUR = (40, 40, 40)
_BANNER_TEXT_COLOUR = (255, 255, 255)


@lru_cache(maxsize=1024)  # bounded for months-long runs: ids only grow, old ones fall out
def track_colour(track_id: int) -> tuple[int, int, int]:
    """A stable, well-spread BGR colour per track (golden-ratio hue steps)."""
    hue = int((track_id * 0.618033988749895 % 1.0) * 180)
    hsv = np.array([[[hue, 220, 255]]], np.uint8)
    return tuple(int(c) for c in cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0])


def _draw_label(image, text, corner, colour, scale, below=False, text_colour=(0, 0, 0)) -> int:
    """A filled text box above ``corner`` (below it if ``below`` or no room); returns its height."""
    (tw, th), base = cv2.getTextSize(text, _FONT, scale, 1)
    x, y = corner
    top = y if below or y - th - base < 0 else y - th - base
    cv2.rectangle(image, (x, top), (x + tw + 4, top + th + base), colour, cv2.FILLED)
    cv2.putText(image, text, (x + 2, top + th), _FONT, scale, text_colour, 1, cv2.LINE_AA)
    return th + base


@lru_cache(maxsize=16)  # the banner changes once per log interval
def _banner_patch(text: str, scale: float) -> np.ndarray:
    """One banner line rendered once: exactly the pixels ``_draw_label`` would paint at (0, 0)."""
    (tw, th), base = cv2.getTextSize(text, _FONT, scale, 1)
    patch = np.zeros((th + base + 1, tw + 5, 3), np.uint8)  # rectangle corners are inclusive
    _draw_label(patch, text, (0, 0), _BANNER_COLOUR, scale, below=True, text_colour=_BANNER_TEXT_COLOUR)
    return patch


class _Trail:
    """The last ``TRAIL_LENGTH`` centres of one track, oldest first, kept in one array so
    drawing needs no per-frame conversion of a list of points."""

    def __init__(self):
        self._points = np.zeros((TRAIL_LENGTH, 2), np.int32)
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def append(self, x: int, y: int) -> None:
        self._points[:-1] = self._points[1:]  # numpy copes with the overlap
        self._points[-1] = x, y
        self._count = min(self._count + 1, TRAIL_LENGTH)

    @property
    def points(self) -> np.ndarray:
        return self._points[TRAIL_LENGTH - self._count:]


class Overlay:
    """Keeps short trails of track centres between frames; ``draw`` paints one frame."""

    def __init__(self):
        self._trails: dict[int, _Trail] = {}

    def draw(self, image: np.ndarray, detections: Detections, labels: list[str], banner: list[str] = ()) -> np.ndarray:
        """Boxes named by ``labels``, trails, then ``banner`` lines top-left."""
        h, w = image.shape[:2]
        scale = max(0.35, min(w, h) / 1200)  # text readable from 480p to 4K
        thickness = max(1, round(scale * 2))
        boxes = detections.boxes_in_pixels(w, h).round().astype(np.int32).tolist()
        track_ids = detections.track_ids.tolist()
        self._update_trails(boxes, track_ids)
        for track_id, trail in self._trails.items():
            if len(trail) > 1:
                cv2.polylines(image, [trail.points], False, track_colour(track_id), thickness)
        for (x1, y1, x2, y2), score, class_id, track_id in zip(
                boxes, detections.scores.tolist(), detections.class_ids.tolist(), track_ids):
            colour = track_colour(track_id) if track_id != NO_TRACK else _UNTRACKED_COLOUR
            cv2.rectangle(image, (x1, y1), (x2, y2), colour, thickness)
            text = label_name(labels, class_id)
            if track_id != NO_TRACK:
                text += f" #{track_id}"
            text += f" {score:.2f}"
            _draw_label(image, text, (x1, y1), colour, scale)
        y = 0
        for line in banner:
            patch = _banner_patch(line, scale)
            ph, pw = min(patch.shape[0], max(h - y, 0)), min(patch.shape[1], w)
            image[y:y + ph, :pw] = patch[:ph, :pw]
            y += patch.shape[0] - 1
        return image

    def _update_trails(self, boxes: list[list[int]], track_ids: list[int]) -> None:
        alive = set()
        for (x1, y1, x2, y2), track_id in zip(boxes, track_ids):
            if track_id == NO_TRACK:
                continue
            alive.add(track_id)
            trail = self._trails.get(track_id)
            if trail is None:
                trail = self._trails[track_id] = _Trail()
            trail.append((x1 + x2) // 2, (y1 + y2) // 2)
        if len(alive) != len(self._trails):
            for gone in set(self._trails) - alive:
                del self._trails[gone]
