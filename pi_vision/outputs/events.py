"""One JSON line per processed frame: what was tracked where.

The file rotates by size (``events.jsonl`` -> ``events.jsonl.1`` ... ``.N``, the oldest
deleted) through the standard library's RotatingFileHandler, so months of events take a
bounded share of the SD card. Lines are written whole and flushed one by one, so none is
lost or split across a rotation.
"""
from __future__ import annotations

import json
import logging
import logging.handlers
import time
from pathlib import Path

from pi_vision.detections import Detections
from pi_vision.errors import UserError
from pi_vision.detection.labels import label_name
from pi_vision.sources import Frame

log = logging.getLogger(__name__)


class EventsWriter:
    name = "events"
    needs_image = False

    def __init__(self, path: str, labels: list[str], max_bytes: int = 10 * 2**20, keep: int = 5):
        self.path = Path(path)
        self.labels = labels
        try:
            # Append: a restarted service must not wipe the record of the previous run.
            self._rotation = logging.handlers.RotatingFileHandler(self.path, mode="a", maxBytes=max_bytes,
                                                                  backupCount=keep, encoding="utf-8")
        except OSError as e:
            raise UserError(f"output error: cannot write events to {path}: {e.strerror}; pick a writable path "
                            f"for --events")
        self.rotations = 0
        log.info("events: appending to %s, rotated at %.1f MB, %d older files kept (at most %.0f MB in all)",
                 self.path, max_bytes / 2**20, keep, max_bytes * (keep + 1) / 2**20)

    def write(self, frame: Frame, detections: Detections) -> None:
        h, w = frame.image.shape[:2]
        # The capture time on the wall clock, for joining with other records.
        wall = time.time() - (time.monotonic() - frame.t_capture)
        objects = [
            {"id": int(t), "class": int(c), "label": label_name(self.labels, int(c)), "score": round(float(s), 3),
             "box": [round(float(v), 1) for v in box]}
            for box, s, c, t in zip(detections.boxes_in_pixels(w, h), detections.scores, detections.class_ids,
                                    detections.track_ids)
        ]
        line = json.dumps({"seq": frame.seq, "time": round(wall, 3), "objects": objects})
        # The handler decides and performs the rotation; the write is ours, so that a full disk
        # raises (and stops this output) instead of being printed away by logging.
        rotation = self._rotation
        if rotation.shouldRollover(logging.makeLogRecord({"msg": line})):
            rotation.doRollover()
            self.rotations += 1
            log.info("events: rotated %s (%d older files kept)", self.path, rotation.backupCount)
        rotation.stream.write(line + "\n")
        rotation.stream.flush()

    def close(self) -> None:
        self._rotation.close()
