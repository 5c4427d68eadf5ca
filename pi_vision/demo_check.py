"""How well a model sees the demo scene: the share of frames in which each photo is found.

The demo scene knows where its four photos are in every frame, so the app's own output
(tracked objects, as a user sees them) is scored against that ground truth: a photo is
found in a frame when an object of its class overlaps it at IoU >= ``MIN_IOU``.
"""
from __future__ import annotations

import dataclasses

from .boxes import iou_matrix
from .config import Config
from .detections import Detections
from .labels import label_name
from .sources import Frame
from .sources.demo_source import SPRITES, DemoSource

# The photo is the ground truth box, and its object (the astronaut, the cup and saucer) fills only
# 50-80% of it, so a tight box around the object alone may overlap the photo by little more than that.
MIN_IOU = 0.3


def demo_hit_rates(config: Config, duration: float) -> dict[str, float]:
    """Run the app on the demo scene for ``duration`` seconds; class -> share of processed
    frames in which that photo was found."""
    from . import app
    from .detector import create_detector

    config = dataclasses.replace(config, source=dataclasses.replace(config.source, spec="demo"),
                                 run=dataclasses.replace(config.run, duration=duration, max_frames=0))
    scene = DemoSource(config.source)
    scene.open()  # the same deterministic scene as the app's own source: only for its ground truth
    found: dict[str, int] = {}
    frames = 0
    labels: list[str] = []

    def on_result(frame: Frame, detections: Detections) -> None:
        nonlocal frames
        frames += 1
        for cls, box in scene.sprite_boxes(frame.seq):
            same = [i for i, c in enumerate(detections.class_ids) if label_name(labels, int(c)) == cls]
            hit = bool(same) and iou_matrix(box[None], detections.boxes[same]).max() >= MIN_IOU
            found[cls] = found.get(cls, 0) + int(hit)

    detector = create_detector(config.detector)
    labels.extend(detector.labels)
    app.run(config, detector=detector, on_result=on_result)
    scene.close()
    return {sprite[3]: found.get(sprite[3], 0) / max(frames, 1) for sprite in SPRITES}
