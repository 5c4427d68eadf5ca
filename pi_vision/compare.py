"""Compare mode: every variant runs on every frame, one after another with all threads,
so each one's latency is what it would be alone, and its detections are scored against
the most expensive variant's on the same frames."""
from __future__ import annotations

import logging
import statistics
from collections import deque

import numpy as np

from .agreement import map50
from .detections import Detections
from .detector import Detector, detect_image
from .latency_stats import StageStats

log = logging.getLogger(__name__)

# Frames over which agreement and detections per frame are computed.
AGREEMENT_WINDOW = 100
_WARMUP_INVOKES = 5


def _invoke_seconds(detector: Detector, blank: np.ndarray) -> float:
    model_input = detector.fit(blank)
    times = []
    for _ in range(_WARMUP_INVOKES):
        timings: dict[str, float] = {}
        detector.detect(model_input, timings)
        times.append(timings["invoke"])
    return statistics.median(times)


class Comparison:
    def __init__(self, detectors: list[Detector], score_threshold: float):
        self.detectors = detectors
        self.score_threshold = score_threshold
        # The most expensive variant (by measured invoke time after warm-up) is the yardstick.
        blank = np.full((480, 640, 3), 114, np.uint8)
        costs = [_invoke_seconds(d, blank) for d in detectors]
        self.reference = int(np.argmax(costs))
        log.info("compare: %s; agreement measured against %s",
                 ", ".join(f"{d.name} ({c * 1000:.1f} ms)" for d, c in zip(detectors, costs)),
                 detectors[self.reference].name)
        self._stats = [StageStats() for _ in detectors]
        self._recent: deque[list[Detections]] = deque(maxlen=AGREEMENT_WINDOW)
        self._frames = 0

    def detect_all(self, image: np.ndarray, timings: dict[str, float]) -> list[Detections]:
        """Run every variant on ``image``; ``timings`` gets the totals over variants."""
        results = []
        for detector, stats in zip(self.detectors, self._stats):
            own: dict[str, float] = {}
            detections = detect_image(detector, image, own)
            for stage, seconds in own.items():
                stats.add(stage, seconds)
                timings[stage] = timings.get(stage, 0.0) + seconds
            results.append(detections)
        self._recent.append(results)
        self._frames += 1
        return results

    def table(self, whole_run: bool = False) -> list[dict]:
        """One row per variant: latency since the last table (or over the run), FPS alone,
        detections per frame and agreement over the last ``AGREEMENT_WINDOW`` frames."""
        recent = list(self._recent)
        truths = [frame[self.reference] for frame in recent]
        truths = [t[t.scores >= self.score_threshold] for t in truths]
        rows = []
        for i, (detector, stats) in enumerate(zip(self.detectors, self._stats)):
            ms = stats.run_ms() if whole_run else stats.window_ms()
            if not ms:
                continue
            per_frame_ms = sum(ms[s]["p50"] for s in ("preprocess", "invoke", "postprocess") if s in ms)
            predictions = [frame[i] for frame in recent]
            agreement = map50(predictions, truths)
            rows.append({
                "model": detector.name,
                "invoke_ms": {"p50": ms["invoke"]["p50"], "p95": ms["invoke"]["p95"]},
                "fps_alone": round(1000.0 / per_frame_ms, 1) if per_frame_ms else None,
                "detections_per_frame": round(float(np.mean([len(p[p.scores >= self.score_threshold])
                                                             for p in predictions])), 2) if predictions else 0.0,
                "map50_vs_reference": None if np.isnan(agreement) else round(agreement, 3),
                "reference": i == self.reference,
            })
        return rows


def format_table(rows: list[dict]) -> list[str]:
    """The comparison as aligned text lines (log and overlay)."""
    reference = next((r["model"] for r in rows if r["reference"]), "?")
    lines = [f"{'model':<34} {'invoke p50/p95':>15} {'fps alone':>9} {'dets/frame':>10} {'mAP50 vs ' + reference}"]
    for r in rows:
        agreement = "ref" if r["reference"] else ("--" if r["map50_vs_reference"] is None
                                                 else f"{r['map50_vs_reference']:.3f}")
        lines.append(f"{r['model']:<34} {r['invoke_ms']['p50']:>7.1f}/{r['invoke_ms']['p95']:<7.1f} "
                     f"{r['fps_alone'] or 0:>9.1f} {r['detections_per_frame']:>10.2f} {agreement}")
    return lines
