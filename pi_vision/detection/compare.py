"""Compare mode as a detector: every variant runs on every frame, one after another with all
threads, so each one's latency is what it would be alone, and its detections are scored
against the most expensive variant's on the same frames. The app sees one detector whose
output is the shown variant's; ``v`` in the window shows the next one."""
from __future__ import annotations

import logging
import statistics
from collections import deque

import numpy as np

from pi_vision.detection.agreement import box_fit, map50
from pi_vision.detections import Detections
from pi_vision.detection.detector import Detector, detect_image
from pi_vision.detection.labels import label_name
from pi_vision.monitoring.latency_stats import StageStats
from pi_vision.detection.preprocess import ModelInput, Placement

log = logging.getLogger(__name__)

# Frames over which agreement and detections per frame are computed.
AGREEMENT_WINDOW = 100
_WARMUP_INVOKES = 5


def _invoke_seconds(detector: Detector, blank: np.ndarray) -> float:
    model_input = detector.resize_for_model(blank)
    times = []
    for _ in range(_WARMUP_INVOKES):
        timings: dict[str, float] = {}
        detector.detect(model_input, timings)
        times.append(timings["invoke"])
    return statistics.median(times)


def class_map(labels: list[str], into: list[str]) -> np.ndarray | None:
    """Class id in ``labels`` -> the id of the same name in ``into`` (-1 if absent); None when
    the two numberings agree. The reference numbers COCO with gaps, the zoo without."""
    if labels == into[:len(labels)]:
        return None
    index = {name: i for i, name in enumerate(into)}
    return np.array([index.get(label_name(labels, i), -1) for i in range(len(labels))], dtype=np.int64)


class CompareDetector:
    """Several detectors behind the ``Detector`` interface; ``detect`` returns the shown one's."""

    def __init__(self, detectors: list[Detector], score_threshold: float):
        if len(detectors) < 2:
            raise ValueError("compare mode needs two or more detectors")
        self.detectors = detectors
        self.agreement_threshold = score_threshold
        self.shown = 0
        # The most expensive variant (by measured invoke time after warm-up) is the yardstick.
        blank = np.full((480, 640, 3), 114, np.uint8)
        costs = [_invoke_seconds(d, blank) for d in detectors]
        self.reference = int(np.argmax(costs))
        log.info("compare: %s; agreement measured against %s",
                 ", ".join(f"{d.name} ({c * 1000:.1f} ms)" for d, c in zip(detectors, costs)),
                 detectors[self.reference].name)
        reference_labels = detectors[self.reference].labels
        self._to_reference = [class_map(d.labels, reference_labels) for d in detectors]
        self._stats = [StageStats() for _ in detectors]
        self._recent: deque[list[Detections]] = deque(maxlen=AGREEMENT_WINDOW)

    # --- the Detector interface: what the shown variant is, all of them run
    @property
    def name(self) -> str:
        return ", ".join(d.name for d in self.detectors)

    @property
    def labels(self) -> list[str]:
        return self.detectors[self.shown].labels

    @property
    def threads(self) -> int:
        return self.detectors[self.shown].threads

    @property
    def input_size(self) -> tuple[int, int]:
        # The largest: a camera that delivers frames at this size (the Pi camera's second
        # stream) then only ever scales down for the other variants.
        return max((d.input_size for d in self.detectors), key=lambda hw: hw[0] * hw[1])

    @property
    def runtime(self) -> str | None:
        return getattr(self.detectors[self.shown], "runtime", None)

    @property
    def xnnpack_partitions(self) -> int:
        return min(getattr(d, "xnnpack_partitions", 0) for d in self.detectors)

    @property
    def score_threshold(self) -> float:
        return self.detectors[self.shown].score_threshold

    @score_threshold.setter
    def score_threshold(self, value: float) -> None:
        for detector in self.detectors:
            detector.score_threshold = value

    def title(self) -> str:
        return f"showing {self.detectors[self.shown].name} (v: next)"

    def resize_for_model(self, image_bgr: np.ndarray) -> ModelInput:
        # Each variant resizes to its own size in detect(); the frame passes through whole.
        h, w = image_bgr.shape[:2]
        return ModelInput(image_bgr, Placement(w, h, 1.0, 1.0))

    def detect(self, model_input: ModelInput, timings: dict[str, float]) -> Detections:
        """Run every variant; ``timings`` gets the totals over variants."""
        results = []
        for detector, stats in zip(self.detectors, self._stats):
            own: dict[str, float] = {}
            detections = detect_image(detector, model_input.image, own)
            for stage, seconds in own.items():
                stats.add(stage, seconds)
                timings[stage] = timings.get(stage, 0.0) + seconds
            results.append(detections)
        self._recent.append(results)
        return results[self.shown]

    def on_key(self, key: str) -> bool:
        """``v`` shows the next variant; True when the shown variant changed."""
        if key != "v":
            return False
        self.shown = (self.shown + 1) % len(self.detectors)
        log.info("showing %s", self.detectors[self.shown].name)
        return True

    def stats(self, whole_run: bool = False) -> dict:
        return {"variants": self.table(whole_run)}

    # --- the comparison
    def _in_reference_classes(self, i: int, detections: Detections) -> Detections:
        mapping = self._to_reference[i]
        if mapping is None or len(detections) == 0:
            return detections
        ids = mapping[np.clip(detections.class_ids, 0, len(mapping) - 1)]
        known = (detections.class_ids < len(mapping)) & (ids >= 0)
        kept = detections[known]
        return Detections(kept.boxes, kept.scores, ids[known], kept.track_ids)

    def table(self, whole_run: bool = False) -> list[dict]:
        """One row per variant: latency since the last table (or over the run), FPS alone,
        detections per frame and agreement over the last ``AGREEMENT_WINDOW`` frames."""
        recent = list(self._recent)
        truths = [frame[self.reference] for frame in recent]
        truths = [t[t.scores >= self.agreement_threshold] for t in truths]
        rows = []
        for i, (detector, stats) in enumerate(zip(self.detectors, self._stats)):
            ms = stats.run_ms() if whole_run else stats.window_ms()
            if not ms:
                continue
            per_frame_ms = sum(ms[s]["p50"] for s in ("preprocess", "invoke", "postprocess") if s in ms)
            predictions = [self._in_reference_classes(i, frame[i]) for frame in recent]
            agreement = map50(predictions, truths)
            fit = box_fit(predictions, truths)
            rows.append({
                "model": detector.name,
                "invoke_ms": {"p50": ms["invoke"]["p50"], "p95": ms["invoke"]["p95"]},
                "fps_alone": round(1000.0 / per_frame_ms, 1) if per_frame_ms else None,
                "detections_per_frame": round(float(np.mean([len(p[p.scores >= self.agreement_threshold])
                                                             for p in predictions])), 2) if predictions else 0.0,
                "map50_vs_reference": None if np.isnan(agreement) else round(agreement, 3),
                # Median height and width of its boxes over the reference's, same object and class.
                "box_size_vs_reference": None if np.isnan(fit.height_ratio) else
                [round(fit.height_ratio, 2), round(fit.width_ratio, 2)],
                "reference": i == self.reference,
            })
        return rows


def format_table(rows: list[dict]) -> list[str]:
    """The comparison as aligned text lines (log and overlay)."""
    reference = next((r["model"] for r in rows if r["reference"]), "?")
    lines = [f"{'model':<34} {'invoke p50/p95':>15} {'fps alone':>9} {'dets/frame':>10} {'box h/w':>9} "
             f"{'mAP50 vs ' + reference}"]
    for r in rows:
        agreement = "ref" if r["reference"] else ("--" if r["map50_vs_reference"] is None
                                                 else f"{r['map50_vs_reference']:.3f}")
        size = r["box_size_vs_reference"]
        size = "ref" if r["reference"] else ("--" if size is None else f"{size[0]:.2f}/{size[1]:.2f}")
        lines.append(f"{r['model']:<34} {r['invoke_ms']['p50']:>7.1f}/{r['invoke_ms']['p95']:<7.1f} "
                     f"{r['fps_alone'] or 0:>9.1f} {r['detections_per_frame']:>10.2f} {size:>9} {agreement}")
    return lines
