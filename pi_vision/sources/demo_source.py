"""A camera-free scene: real photos that scikit-image ships, moving over a backdrop.

The astronaut (a person), Chelsea the cat, a coffee cup and a motorcycle drift and
bounce, so a COCO detector finds real objects and the tracker has motion to follow,
on any machine, with no download.
"""
from __future__ import annotations

import importlib.resources
import logging
import math
import time

import cv2
import numpy as np

from pi_vision.config import SourceConfig
from pi_vision.errors import UserError

log = logging.getLogger(__name__)

# (file in skimage/data, height as a fraction of the frame, speed in frame-heights per s, COCO class)
SPRITES = (
    ("astronaut.png", 0.45, 0.10, "person"),
    ("chelsea.png", 0.32, 0.16, "cat"),
    ("coffee.png", 0.28, 0.13, "cup"),
    ("motorcycle_left.png", 0.32, 0.08, "motorcycle"),
)


def _load_image(name: str) -> np.ndarray:
    try:
        path = importlib.resources.files("skimage.data") / name
        data = path.read_bytes()
    except (ModuleNotFoundError, FileNotFoundError):
        raise UserError("source error: the demo scene needs scikit-image; run: pip install scikit-image")
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)


class DemoSource:
    live = True

    def __init__(self, config: SourceConfig):
        self.config = config
        self.name = "demo"
        self.fps: float | None = config.fps
        self._sprites: list[np.ndarray] = []
        self._t0 = 0.0
        self._next_due = 0.0
        self._frame_index = 0

    def open(self) -> None:
        w, h = self.config.width, self.config.height
        # A soft vertical gradient with a little texture, like a wall and floor.
        ys = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
        top, bottom = np.array([200, 190, 170], np.float32), np.array([90, 110, 120], np.float32)
        backdrop = top * (1 - ys) + bottom * ys
        grain = np.random.default_rng(0).normal(0, 4, (h, w, 1)).astype(np.float32)
        self._backdrop = np.clip(backdrop + grain, 0, 255).astype(np.uint8)
        self._sprites = []
        for name, frac, _, _ in SPRITES:
            image = _load_image(name)
            sh = max(8, int(h * frac))
            sw = max(8, int(image.shape[1] * sh / image.shape[0]))
            self._sprites.append(cv2.resize(image, (sw, sh), interpolation=cv2.INTER_AREA))
        self._t0 = time.monotonic()
        self._next_due = self._t0
        self._frame_index = 0

    def _position(self, i: int, t: float, sprite: np.ndarray) -> tuple[int, int]:
        """Bounce each sprite inside the frame along its own slanted path."""
        w, h = self.config.width, self.config.height
        sh, sw = sprite.shape[:2]
        speed = SPRITES[i][2] * h
        angle = 0.6 + 1.3 * i

        def bounce(distance: float, span: int) -> int:
            if span <= 0:
                return 0
            phase = distance % (2 * span)
            return int(phase if phase < span else 2 * span - phase)

        start_x, start_y = (w - sw) * (i % 2), (h - sh) * (i // 2 % 2)
        return (bounce(start_x + speed * t * math.cos(angle) + w * 10, w - sw),
                bounce(start_y + speed * t * math.sin(angle) + h * 10, h - sh))

    def _time(self, index: int) -> float:
        return index / (self.fps or 30.0)

    def sprite_boxes(self, index: int) -> list[tuple[str, np.ndarray]]:
        """(COCO class, [x1, y1, x2, y2] normalised) of each photo in frame ``index`` (0-based),
        the ground truth of the scene. Later photos are drawn over earlier ones."""
        w, h = self.config.width, self.config.height
        boxes = []
        for i, sprite in enumerate(self._sprites):
            x, y = self._position(i, self._time(index), sprite)
            sh, sw = sprite.shape[:2]
            boxes.append((SPRITES[i][3], np.array([x / w, y / h, (x + sw) / w, (y + sh) / h], np.float32)))
        return boxes

    def read(self) -> tuple[np.ndarray, None]:
        # Paced like a camera at the configured rate.
        self._next_due += 1.0 / (self.fps or 30.0)
        delay = self._next_due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        else:
            self._next_due = time.monotonic()
        t = self._time(self._frame_index)
        self._frame_index += 1
        frame = self._backdrop.copy()
        for i, sprite in enumerate(self._sprites):
            x, y = self._position(i, t, sprite)
            sh, sw = sprite.shape[:2]
            frame[y:y + sh, x:x + sw] = sprite
        return frame, None

    def close(self) -> None:
        self._sprites = []
