"""One JSON line per processed frame: what was tracked where."""
from __future__ import annotations

import json
import logging
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

    def __init__(self, path: str, labels: list[str]):
        self.path = Path(path)
        self.labels = labels
        try:
            # Append: a restarted service must not wipe the record of the previous run.
            self._file = open(self.path, "a", encoding="utf-8")
        except OSError as e:
            raise UserError(f"output error: cannot write events to {path}: {e.strerror}; pick a writable path "
                            f"for --events")
        log.info("events: appending to %s", self.path)

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
        self._file.write(json.dumps({"seq": frame.seq, "time": round(wall, 3), "objects": objects}) + "\n")
        self._file.flush()

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()
