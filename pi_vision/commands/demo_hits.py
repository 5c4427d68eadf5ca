"""How well a model sees the demo scene: the share of frames in which each photo is found.

The demo scene knows where its four photos are in every frame, so the app's own output
(tracked objects, as a user sees them) is scored against that ground truth: a photo is
found in a frame when an object of its class overlaps it at IoU >= ``MIN_IOU``.

    pi-vision-demo-hits                      # the shipped default model
    pi-vision-demo-hits --model ../shared/data/reference/coco_ssd_mobilenet_v1_1.0_quant.tflite
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import sys

from pi_vision.detection.boxes import iou_matrix
from pi_vision.config import Config, from_dict
from pi_vision.detections import Detections
from pi_vision.detection.labels import label_name
from pi_vision.sources import Frame
from pi_vision.sources.demo_source import SPRITES, DemoSource

# The photo is the ground truth box, and its object (the astronaut, the cup and saucer) fills only
# 50-80% of it, so a tight box around the object alone may overlap the photo by little more than that.
MIN_IOU = 0.3


def demo_hit_rates(config: Config, duration: float) -> dict[str, float]:
    """Run the app on the demo scene for ``duration`` seconds; class -> share of processed
    frames in which that photo was found."""
    from pi_vision import app
    from pi_vision.detection.detector import create_detector

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


def main() -> int:
    parser = argparse.ArgumentParser(prog="pi-vision-demo-hits", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=Config().detector.model)
    parser.add_argument("--duration", type=float, default=12.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    rates = demo_hit_rates(from_dict({"detector": {"model": args.model}}), args.duration)
    print(f"{args.model}: " + ", ".join(f"{cls} {share:.0%}" for cls, share in rates.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
