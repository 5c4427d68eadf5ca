"""Where processed frames go besides the log: a window, a video file, an events file.

A failing output (disk full, window gone) is logged and stopped; detection goes on.
"""
from __future__ import annotations

import logging
from typing import Protocol

from pi_vision.detections import Detections
from pi_vision.sources import Frame

log = logging.getLogger(__name__)


class Output(Protocol):
    name: str
    # True: the output takes the annotated image, so the overlay must be drawn.
    needs_image: bool

    # Image outputs take ``frame.image``, annotated in place when ``needs_image`` is set.
    def write(self, frame: Frame, detections: Detections) -> None: ...

    def close(self) -> None: ...


class Outputs:
    def __init__(self, outputs: list[Output]):
        self._outputs = list(outputs)

    def __enter__(self) -> "Outputs":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def needs_image(self) -> bool:
        return any(o.needs_image for o in self._outputs)

    # Optional hooks an output may have (the web view's): each processed frame's stage
    # seconds and age, each stats line, and the app's live figures.
    def on_frame(self, stage_seconds: dict[str, float], frame_age_s: float) -> None:
        for output in self._outputs:
            if hasattr(output, "on_frame"):
                output.on_frame(stage_seconds, frame_age_s)

    def on_stats(self, data: dict) -> None:
        for output in self._outputs:
            if hasattr(output, "on_stats"):
                output.on_stats(data)

    def stats(self) -> dict:
        """Fields the outputs add to the stats line (the web view's encode time, MQTT's drops)."""
        fields: dict = {}
        for output in self._outputs:
            if hasattr(output, "stats"):
                fields.update(output.stats())
        return fields

    def bind_live(self, live) -> None:
        for output in self._outputs:
            if hasattr(output, "bind_live"):
                output.bind_live(live)

    def write(self, frame: Frame, detections: Detections) -> None:
        for output in list(self._outputs):
            try:
                output.write(frame, detections)
            except OSError as e:
                log.error("%s output stopped: %s; detection goes on", output.name, e)
                self._outputs.remove(output)
                self._close(output)

    def close(self) -> None:
        for output in self._outputs:
            self._close(output)
        self._outputs = []

    @staticmethod
    def _close(output: Output) -> None:
        try:
            output.close()
        except OSError as e:
            log.error("%s output did not close cleanly: %s", output.name, e)
