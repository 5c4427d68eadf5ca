"""The demo scene's own ground truth, as demo_hits.py scores a model against it."""
from __future__ import annotations

import numpy as np

from pi_vision.config import Config, DetectorConfig, SourceConfig
from pi_vision.commands.demo_hits import demo_hit_rates
from pi_vision.sources.demo_source import SPRITES, DemoSource


def test_sprite_boxes_are_where_the_photos_are_drawn():
    scene = DemoSource(SourceConfig())
    scene.fps = 1e6  # no pacing: frames on demand
    scene.open()
    backdrop = scene._backdrop
    for index in range(3):
        frame, _ = scene.read()
        boxes = scene.sprite_boxes(index)
        assert [cls for cls, _ in boxes] == [s[3] for s in SPRITES]
        h, w = frame.shape[:2]
        changed = np.any(frame != backdrop, axis=2)
        ys, xs = np.nonzero(changed)
        union = np.array([min(b[0] for _, b in boxes), min(b[1] for _, b in boxes),
                          max(b[2] for _, b in boxes), max(b[3] for _, b in boxes)])
        np.testing.assert_allclose([xs.min() / w, ys.min() / h, (xs.max() + 1) / w, (ys.max() + 1) / h], union,
                                   atol=2 / min(h, w))


def test_the_reference_finds_the_motorcycle_in_most_frames(reference_path):
    """The reference names the demo motorcycle in every frame (measured: 100%); the scoring must see it."""
    rates = demo_hit_rates(Config(detector=DetectorConfig(model=str(reference_path), threads=2)), duration=3.0)
    assert set(rates) == {s[3] for s in SPRITES}
    assert rates["motorcycle"] >= 0.8 and rates["cup"] <= 0.2, rates
