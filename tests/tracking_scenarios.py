"""Generated ground truth for tracker tests: scripted objects and a noisy fake detector.

Each actor moves along straight segments between waypoints (a repeated position is a
stop), exists from its first to its last waypoint frame and is visible while at least
30% of its box is inside the 1280x720 frame (a detector does not see slivers). The
"detector" then drops each visible object with probability ``drop``, jitters every box
edge by a fraction of the box size, gives a fifth of detections a low score (as for
partly occluded objects) and adds random clutter. Everything is driven by one seed.

Boxes are produced normalised to the frame like the real detector's, so the tracker sees
the aspect distortion of a 16:9 frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pi_vision.detections import Detections

FRAME_W, FRAME_H = 1280, 720
PERSON, CAR, DOG = 0, 2, 17  # COCO-style ids; only their distinctness matters
MIN_VISIBLE = 0.3


@dataclass(frozen=True)
class Actor:
    class_id: int
    size: tuple[float, float]  # width, height in pixels
    waypoints: tuple[tuple[int, float, float], ...]  # (frame, centre x, centre y), frames increasing

    def centre(self, frame: int) -> tuple[float, float] | None:
        frames = [w[0] for w in self.waypoints]
        if frame < frames[0] or frame > frames[-1]:
            return None
        x = np.interp(frame, frames, [w[1] for w in self.waypoints])
        y = np.interp(frame, frames, [w[2] for w in self.waypoints])
        return float(x), float(y)


@dataclass(frozen=True)
class Scenario:
    name: str
    frames: int
    actors: tuple[Actor, ...]


@dataclass(frozen=True)
class NoiseModel:
    drop: float = 0.2  # probability a visible object is not detected in a frame
    jitter: float = 0.04  # std of each box edge, as a fraction of the box width / height
    low_score_rate: float = 0.2  # share of detections scored in [0.25, 0.5)
    clutter_per_frame: float = 0.5  # mean number of false detections per frame


@dataclass(frozen=True)
class Sequence:
    """Per frame: ground truth (ids, normalised boxes) and what the fake detector reports."""

    gt_ids: list[np.ndarray]
    gt_boxes: list[np.ndarray]
    detections: list[Detections]


def _pixel_box(actor: Actor, frame: int) -> np.ndarray | None:
    centre = actor.centre(frame)
    if centre is None:
        return None
    w, h = actor.size
    return np.array([centre[0] - w / 2, centre[1] - h / 2, centre[0] + w / 2, centre[1] + h / 2])


def _visible_part(box: np.ndarray) -> np.ndarray | None:
    clipped = np.clip(box, 0, [FRAME_W, FRAME_H, FRAME_W, FRAME_H])
    full = (box[2] - box[0]) * (box[3] - box[1])
    seen = (clipped[2] - clipped[0]) * (clipped[3] - clipped[1])
    return clipped if seen >= MIN_VISIBLE * full else None


def generate(scenario: Scenario, seed: int, noise: NoiseModel = NoiseModel()) -> Sequence:
    rng = np.random.default_rng(seed)
    scale = np.array([FRAME_W, FRAME_H, FRAME_W, FRAME_H], dtype=np.float64)
    classes = sorted({a.class_id for a in scenario.actors})
    seq = Sequence([], [], [])
    for frame in range(scenario.frames):
        ids, truth = [], []
        for index, actor in enumerate(scenario.actors):
            box = _pixel_box(actor, frame)
            visible = None if box is None else _visible_part(box)
            if visible is not None:
                ids.append(index)
                truth.append(visible)
        truth_arr = np.array(truth).reshape(-1, 4)
        seq.gt_ids.append(np.array(ids, dtype=np.int64))
        seq.gt_boxes.append(truth_arr / scale)

        kept = rng.random(len(ids)) >= noise.drop
        boxes = truth_arr[kept]
        class_ids = np.array([scenario.actors[i].class_id for i in ids], dtype=np.int32)[kept]
        wh = np.tile(boxes[:, 2:] - boxes[:, :2], 2)
        boxes = boxes + rng.normal(0, noise.jitter, boxes.shape) * wh
        low = rng.random(len(boxes)) < noise.low_score_rate
        scores = np.where(low, rng.uniform(0.25, 0.5, len(boxes)), rng.uniform(0.55, 0.95, len(boxes)))

        n_clutter = rng.poisson(noise.clutter_per_frame)
        size = rng.uniform([30, 40], [200, 200], (n_clutter, 2))
        corner = rng.uniform([0, 0], [FRAME_W, FRAME_H], (n_clutter, 2)) - size / 2
        clutter = np.concatenate([corner, corner + size], axis=1)
        boxes = np.concatenate([boxes, clutter])
        scores = np.concatenate([scores, rng.uniform(0.2, 0.7, n_clutter)])
        class_ids = np.concatenate([class_ids, rng.choice(classes, n_clutter)]).astype(np.int32)

        boxes = np.clip(boxes, 0, scale) / scale
        seq.detections.append(Detections(boxes.astype(np.float32), scores.astype(np.float32), class_ids))
    return seq


def _crossing() -> Scenario:
    """Pairs passing through each other: same class (the hard case) and mixed classes."""
    return Scenario(
        "crossing",
        240,
        (
            # Two people walking towards each other, the nearer one a bit bigger and lower.
            Actor(PERSON, (70, 180), ((0, 100, 400), (239, 1180, 400))),
            Actor(PERSON, (60, 160), ((0, 1180, 380), (239, 100, 380))),
            # An X: two people crossing diagonally.
            Actor(PERSON, (60, 150), ((20, 200, 150), (220, 1000, 600))),
            Actor(PERSON, (60, 150), ((20, 1000, 150), (220, 200, 600))),
            # A car passing a person on the same line.
            Actor(CAR, (220, 130), ((0, 1200, 600), (120, 80, 600))),
            Actor(PERSON, (60, 150), ((0, 150, 590), (239, 700, 590))),
            # Vertical crossing of a dog with a walking person.
            Actor(DOG, (80, 60), ((30, 640, 80), (200, 640, 680))),
        ),
    )


def _stop_and_go() -> Scenario:
    """Objects that stop, wait, restart and turn back."""
    return Scenario(
        "stop_and_go",
        300,
        (
            Actor(CAR, (200, 120), ((0, 150, 500), (60, 650, 500), (150, 650, 500), (230, 1150, 500))),
            Actor(CAR, (180, 110), ((0, 1150, 300), (50, 800, 300), (120, 800, 300), (299, 150, 300))),
            # Walks right, stops, walks back the way it came.
            Actor(PERSON, (60, 160), ((0, 200, 200), (80, 600, 200), (130, 600, 200), (299, 150, 200))),
            Actor(PERSON, (55, 150), ((10, 900, 600), (90, 900, 600), (200, 400, 650), (299, 400, 650))),
            Actor(DOG, (90, 60), ((0, 300, 650), (40, 500, 650), (60, 500, 650), (100, 700, 640), (299, 1100, 640))),
        ),
    )


def _enter_leave() -> Scenario:
    """Staggered entries and exits through every edge, plus appearing/vanishing mid-frame."""
    return Scenario(
        "enter_leave",
        300,
        (
            Actor(PERSON, (60, 160), ((0, -60, 300), (150, 1340, 320))),
            Actor(PERSON, (60, 160), ((40, 1340, 450), (220, -60, 430))),
            Actor(CAR, (220, 120), ((80, -150, 620), (170, 1430, 620))),
            Actor(CAR, (200, 110), ((150, 1430, 150), (260, -150, 150))),
            Actor(PERSON, (50, 140), ((60, 500, -90), (240, 560, 810))),
            # Steps out of a doorway, walks a little, goes back in.
            Actor(PERSON, (60, 160), ((100, 900, 350), (160, 1000, 360), (220, 1000, 360), (260, 900, 350))),
            Actor(DOG, (80, 60), ((200, 1340, 520), (299, 600, 560))),
            Actor(PERSON, (60, 160), ((180, -60, 250), (299, 500, 250))),
        ),
    )


def _crowd(seed: int = 7, count: int = 20) -> Scenario:
    """Many objects on random straight paths with random pauses: crossings everywhere."""
    rng = np.random.default_rng(seed)
    actors = []
    for _ in range(count):
        class_id = int(rng.choice([PERSON, PERSON, PERSON, CAR, DOG]))
        size = {PERSON: (60, 160), CAR: (200, 120), DOG: (80, 60)}[class_id]
        scale = rng.uniform(0.7, 1.2)
        start = int(rng.integers(0, 120))
        frames = [start]
        points = [rng.uniform([100, 100], [1180, 620])]
        for _leg in range(3):
            speed = rng.uniform(1.5, 5.0) * (2.5 if class_id == CAR else 1.0)
            target = rng.uniform([50, 80], [1230, 640])
            travel = int(np.linalg.norm(target - points[-1]) / speed) + 1
            frames.append(frames[-1] + travel)
            points.append(target)
            pause = int(rng.integers(0, 40))
            if pause:
                frames.append(frames[-1] + pause)
                points.append(target)
        waypoints = tuple((f, float(p[0]), float(p[1])) for f, p in zip(frames, points))
        actors.append(Actor(class_id, (size[0] * scale, size[1] * scale), waypoints))
    return Scenario("crowd", 300, tuple(actors))


SCENARIOS = {s.name: s for s in (_crossing(), _stop_and_go(), _enter_leave(), _crowd())}


def no_association(iou: np.ndarray, min_iou: float) -> tuple[np.ndarray, np.ndarray]:
    """Stand-in for ``pi_vision.tracking.tracker.assign`` that never pairs anything."""
    empty = np.zeros(0, dtype=np.intp)
    return empty, empty


def blind_association(iou: np.ndarray, min_iou: float) -> tuple[np.ndarray, np.ndarray]:
    """Stand-in for ``pi_vision.tracking.tracker.assign`` that pairs rows and columns in order, ignoring overlap."""
    k = min(iou.shape)
    return np.arange(k), np.arange(k)


BROKEN_ASSOCIATIONS = {"no association": no_association, "blind association": blind_association}


def evaluate(seq: Sequence, tracker, detect_every: int = 1):
    """Run ``tracker`` over ``seq`` (detector on every ``detect_every``-th frame) and count CLEAR-MOT.

    Returns the summary and every id the tracker output, frame by frame.
    """
    from pi_vision.tracking.metrics import MotAccumulator

    acc = MotAccumulator()
    ids_per_frame = []
    for frame, detections in enumerate(seq.detections):
        if frame % detect_every == 0:
            out = tracker.update(detections)
        else:
            out = tracker.predict_only()
        acc.update(seq.gt_ids[frame], seq.gt_boxes[frame], out.track_ids, out.boxes)
        ids_per_frame.append(out.track_ids)
    return acc.summary(), ids_per_frame


def _print_table(seeds=(1, 2, 3)) -> None:
    """The table for the report: ``.venv/bin/python tests/tracking_scenarios.py``."""
    from unittest import mock

    from pi_vision.tracking import tracker as tracker_module

    print("scenario      detect  association         seed  IDsw  frag   MOTA   (FN, FP, GT)")
    for name, scenario in SCENARIOS.items():
        for detect_every in (1, 3):
            for label, broken in {"working": None, **BROKEN_ASSOCIATIONS}.items():
                for seed in seeds:
                    seq = generate(scenario, seed)
                    with mock.patch.object(tracker_module, "assign", broken or tracker_module.assign):
                        s, _ = evaluate(seq, tracker_module.Tracker(), detect_every)
                    print(
                        f"{name:13s} 1/{detect_every}     {label:18s} {seed:4d} {s.id_switches:5d} {s.fragmentations:5d} "
                        f"{s.mota:6.3f}   ({s.misses}, {s.false_positives}, {s.ground_truth})"
                    )


if __name__ == "__main__":
    _print_table()
