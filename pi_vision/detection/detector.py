"""The detector interface and its TFLite implementation."""
from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import Protocol

import numpy as np

from pi_vision.config import DetectorConfig
from pi_vision.detections import Detections
from pi_vision.errors import UserError
from pi_vision.detection.labels import load_labels
from pi_vision.detection.model_cost import graph_cost
from pi_vision.detection.model_file import read_card
from pi_vision.detection.output_layouts import RawOutput, find_layout
from pi_vision.paths import MODELS_DIR
from pi_vision.detection.preprocess import InputSpec, ModelInput, Preprocessor
from pi_vision.detection.runtime import load_interpreter

log = logging.getLogger(__name__)


class Detector(Protocol):
    """What the app needs from a detector; backends are chosen by ``detector.backend``."""

    name: str
    labels: list[str]
    input_size: tuple[int, int]  # (height, width)
    threads: int
    score_threshold: float

    def resize_for_model(self, image_bgr: np.ndarray) -> ModelInput:
        """Resize a BGR frame to the model's input; thread-safe, so capture threads may call it."""
        ...

    def detect(self, model_input: ModelInput, timings: dict[str, float]) -> Detections:
        """Detect objects; sets preprocess (after resize_for_model), invoke and postprocess seconds in ``timings``."""
        ...

    def title(self) -> str:
        """What the banner calls it."""
        ...

    def on_key(self, key: str) -> bool:
        """A key pressed in the window; True when what it detects with changed."""
        ...

    def stats(self, whole_run: bool = False) -> dict:
        """Fields of its own for the stats lines (since the last call) or the summary."""
        ...


def detect_image(detector: Detector, image_bgr: np.ndarray, timings: dict[str, float] | None = None) -> Detections:
    """fit + detect in one call, for single images; preprocess time includes the fit."""
    timings = {} if timings is None else timings
    t0 = time.perf_counter()
    model_input = detector.resize_for_model(image_bgr)
    resize_s = time.perf_counter() - t0
    detections = detector.detect(model_input, timings)
    timings["preprocess"] += resize_s
    return detections


def available_models() -> list[str]:
    return sorted(p.stem for p in MODELS_DIR.glob("*.tflite"))


def resolve_model(model: str) -> Path:
    """A model name in models/ or a path to a .tflite file."""
    path = Path(model).expanduser()
    if path.is_dir():
        inside = sorted(p.name for p in path.glob("*.tflite"))
        raise UserError(f"model error: {model} is a folder; pass a .tflite file "
                        + (f"in it ({', '.join(inside[:5])}{', ...' if len(inside) > 5 else ''})" if inside
                           else "or a model name"))
    if path.suffix == ".tflite" or path.parent != Path("."):
        if not path.is_file():
            raise UserError(f"model error: {model} does not exist; pass an existing .tflite file or a model name "
                            f"({', '.join(available_models()) or 'models/ is empty'})")
        return path
    candidate = MODELS_DIR / f"{model}.tflite"
    if not candidate.is_file():
        raise UserError(f"model error: no model named {model} in {MODELS_DIR}; use one of "
                        f"{', '.join(available_models()) or '(none installed)'} or pass a .tflite path")
    return candidate


class TFLiteDetector:
    """An SSD detector run by a TFLite interpreter (XNNPACK on the CPU)."""

    def __init__(self, config: DetectorConfig):
        path = resolve_model(config.model)
        if path.stat().st_size == 0:
            raise UserError(f"model error: {path} is empty; re-download or re-export it")
        loaded = load_interpreter(path, config.threads)
        self._interpreter = loaded.interpreter
        self.runtime = loaded.runtime
        self.threads = loaded.threads
        self.xnnpack_partitions = loaded.xnnpack_partitions
        self.name = path.stem
        self.path = path
        inputs = self._interpreter.get_input_details()
        shape = [int(s) for s in inputs[0]["shape"]] if inputs else []
        if len(inputs) != 1 or len(shape) != 4 or shape[0] != 1 or shape[3] != 3:
            raise UserError(f"model error: {path.name} takes inputs {[list(d['shape']) for d in inputs]}, expected one "
                            f"image [1,H,W,3]; pass an SSD detection model")
        detail = inputs[0]
        if detail["dtype"] not in (np.uint8, np.int8, np.float32):
            raise UserError(f"model error: {path.name} takes {np.dtype(detail['dtype']).name} input, expected "
                            f"uint8, int8 or float32")
        scale, zero_point = detail["quantization"]
        card = read_card(path)
        self.input_size = (shape[1], shape[2])
        self.input_dtype = np.dtype(detail["dtype"])
        self._input_index = detail["index"]
        self._preprocess = Preprocessor(
            InputSpec(shape[1], shape[2], np.dtype(detail["dtype"]), float(scale), int(zero_point), card.scaling),
            config.resize)
        self._layout = find_layout(self._interpreter, path, self.input_size, lambda: card.anchors)
        # Scores come out on the reference's scale, so thresholds mean the same for every model.
        self._calibration = card.calibration
        self.labels = load_labels(path, config.labels)
        self.score_threshold = config.score_threshold
        self.cost = graph_cost(self._interpreter)
        log.info("model %s: input %dx%d %s, outputs %s, %.0f M mult-adds, %.2f M params", self.name, shape[2],
                 shape[1], np.dtype(detail["dtype"]).name, self._layout.name, self.cost.mult_adds / 1e6,
                 self.cost.params / 1e6)

    def resize_for_model(self, image_bgr: np.ndarray) -> ModelInput:
        return self._preprocess.resize_for_model(image_bgr)

    def detect(self, model_input: ModelInput, timings: dict[str, float]) -> Detections:
        t0 = time.perf_counter()
        # Written straight into the interpreter's input buffer; the view must be gone
        # before invoke(), which refuses to run while one is held.
        buffer = self._interpreter.tensor(self._input_index)()
        self._preprocess.to_tensor(model_input.image, buffer)
        del buffer
        t1 = time.perf_counter()
        self._interpreter.invoke()
        t2 = time.perf_counter()
        if self._calibration is None:
            raw = self._layout.decode(self.score_threshold)
            scores = raw.scores
        else:
            raw = self._layout.decode(float(self._calibration.inverse(self.score_threshold)))
            scores = self._calibration(raw.scores)
            keep = scores >= self.score_threshold  # exact where the map is flat
            raw, scores = RawOutput(raw.boxes[keep], raw.scores[keep], raw.classes[keep]), scores[keep]
        boxes = self._preprocess.to_frame(raw.boxes, model_input.placement)
        detections = Detections(boxes, scores, raw.classes)
        t3 = time.perf_counter()
        timings["preprocess"] = t1 - t0
        timings["invoke"] = t2 - t1
        timings["postprocess"] = t3 - t2
        return detections

    def title(self) -> str:
        return f"{self.name} | {self.threads} threads"

    def on_key(self, key: str) -> bool:
        return False

    def stats(self, whole_run: bool = False) -> dict:
        return {}

    def invoke_only(self) -> None:
        """Run the network on whatever input is set; for measuring the bare invoke rate."""
        self._interpreter.invoke()


def create_detector(config: DetectorConfig) -> Detector:
    """The configured backend (the config admits only tflite today); with ``compare``, one detector
    that runs every listed model."""
    if config.compare:
        from pi_vision.detection.compare import CompareDetector  # it builds on this module

        return CompareDetector([TFLiteDetector(dataclasses.replace(config, model=m, compare=()))
                                for m in config.compare], config.score_threshold)
    return TFLiteDetector(config)
