"""Writes the annotated video as segments, keeping their total under a cap.

``--record out.mp4`` writes ``out-YYYYmmdd-HHMMSS.mp4`` files of ``record_segment_s``
seconds each (a new one also when the frame size changes). After each segment the oldest
ones are deleted until the rest fit ``record_max_mb`` (and ``record_max_age_h``), never the
one being written: a recording left running for months keeps the newest days and leaves
the SD card room. A restarted service starts a new segment and never overwrites one.
"""
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

    def __init__(self, path: str, fps: float, segment_s: float = 300.0, max_bytes: int = 2000 * 2**20,
                 max_age_s: float = 0.0, clock=time.time):
        target = Path(path)
        if target.suffix.lower() not in _FOURCC:
            raise UserError(f"output error: cannot record to {path}: use a .mp4, .avi or .mkv file name for --record")
        if not target.parent.resolve().is_dir():
            raise UserError(f"output error: cannot record to {path}: folder {target.parent} does not exist")
        self.base = target
        self.fps = fps
        self.segment_s = segment_s
        self.max_bytes = max_bytes
        self.max_age_s = max_age_s
        self._clock = clock
        self.path: Path | None = None  # the segment being written
        self._writer: cv2.VideoWriter | None = None
        self._size: tuple[int, int] | None = None
        self._started = 0.0
        self._frames = 0
        self.segments_written = 0
        self.deleted = 0
        log.info("record: %s-*%s segments of %g s, at most %.0f MB in all%s; the oldest are deleted first",
                 target.with_suffix(""), target.suffix, segment_s, max_bytes / 2**20,
                 f" and {max_age_s / 3600:g} h old" if max_age_s else "")

    def segments(self) -> list[Path]:
        """This recording's segments on disk, oldest first (their names sort by time)."""
        return sorted(self.base.parent.glob(f"{self.base.stem}-*{self.base.suffix}"))

    def write(self, frame: Frame, detections: Detections) -> None:
        h, w = frame.image.shape[:2]
        if self._writer is None or (w, h) != self._size or self._clock() - self._started >= self.segment_s:
            self._next_segment(w, h)
        if self._frames % CHECK_EVERY_FRAMES == 0:
            free = shutil.disk_usage(self.base.parent).free
            if free < MIN_FREE_BYTES:
                raise OSError(f"only {free // 2**20} MB left on the disk of {self.base.parent}")
        self._writer.write(frame.image)
        self._frames += 1

    def _next_segment(self, w: int, h: int) -> None:
        self._close_segment()
        self.path = self._new_name()
        self._writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*_FOURCC[self.base.suffix.lower()]),
                                       self.fps, (w, h))
        if not self._writer.isOpened():
            raise OSError(f"cannot open a video writer for {self.path}")
        self._size, self._started, self._frames = (w, h), self._clock(), 0
        log.info("record: %s, %dx%d at %.1f fps", self.path, w, h, self.fps)
        self._enforce_caps()

    def _new_name(self) -> Path:
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(self._clock()))
        path = self.base.with_name(f"{self.base.stem}-{stamp}{self.base.suffix}")
        n = 1
        while path.exists():  # never overwrite, even two segments within a second
            path = self.base.with_name(f"{self.base.stem}-{stamp}-{n}{self.base.suffix}")
            n += 1
        return path

    def _enforce_caps(self) -> None:
        older = [p for p in self.segments() if p != self.path]
        sizes = {p: p.stat().st_size for p in older}
        total = sum(sizes.values())
        now = self._clock()
        for p in older:  # oldest first
            too_old = self.max_age_s and now - p.stat().st_mtime > self.max_age_s
            if total <= self.max_bytes and not too_old:
                continue
            p.unlink(missing_ok=True)
            total -= sizes[p]
            self.deleted += 1
            log.info("record: deleted %s (%.1f MB) to stay within %.0f MB%s", p.name, sizes[p] / 2**20,
                     self.max_bytes / 2**20, f" and {self.max_age_s / 3600:g} h" if self.max_age_s else "")

    def _close_segment(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None
            self.segments_written += 1
            log.info("record: %d frames in %s", self._frames, self.path)

    def close(self) -> None:
        self._close_segment()
