"""Writes the annotated video."""
from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

import cv2

from pi_vision.detections import Detections
from pi_vision.errors import UserError
from pi_vision.sources import Frame

log = logging.getLogger(__name__)

_FOURCC = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}
# Stop recording before the disk is full: the system (and the events file) need room too.
MIN_FREE_BYTES = 200 * 1024 * 1024
CHECK_EVERY_FRAMES = 100


class Recorder:
    name = "record"
    needs_image = True

    def __init__(self, path: str, fps: float):
        target = Path(path)
        if target.suffix.lower() not in _FOURCC:
            raise UserError(f"output error: cannot record to {path}: use a .mp4, .avi or .mkv file name for --record")
        if not target.parent.resolve().is_dir():
            raise UserError(f"output error: cannot record to {path}: folder {target.parent} does not exist")
        if target.exists():
            # Never overwrite an earlier recording (a restarted service would lose it).
            target = target.with_name(f"{target.stem}-{time.strftime('%Y%m%d-%H%M%S')}{target.suffix}")
            log.info("record: %s exists, writing %s instead", path, target.name)
        self.path = target
        self.fps = fps
        self._writer: cv2.VideoWriter | None = None
        self._frames = 0

    def write(self, frame: Frame, detections: Detections) -> None:
        if self._writer is None:
            h, w = frame.image.shape[:2]
            fourcc = cv2.VideoWriter_fourcc(*_FOURCC[self.path.suffix.lower()])
            self._writer = cv2.VideoWriter(str(self.path), fourcc, self.fps, (w, h))
            if not self._writer.isOpened():
                raise OSError(f"cannot open a video writer for {self.path}")
            log.info("record: %s, %dx%d at %.1f fps", self.path, w, h, self.fps)
        if self._frames % CHECK_EVERY_FRAMES == 0:
            free = shutil.disk_usage(self.path.parent).free
            if free < MIN_FREE_BYTES:
                raise OSError(f"only {free // 2**20} MB left on the disk of {self.path}")
        self._writer.write(frame.image)
        self._frames += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None
            log.info("record: %d frames in %s", self._frames, self.path)
