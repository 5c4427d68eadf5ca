#!/usr/bin/env python3
"""Run the app's detector on a fixed set of frames and write the detections as JSON.

Made for comparing platforms (research/arm64_check.sh runs it in the arm64 root and
tests/test_arm64_equality.py compares with x86), so besides the detections it records
what a comparison needs: a hash of every decoded frame and of the model input (a
decoder or resize that differs between platforms shows up there, before the network),
and for quantized models the quantization step of the post-process op's box and score
inputs and the largest anchor, from which the test derives "one quantization step".

Frames: the first 20 frames of videos/vtest.avi and every image in images/ of the
shared data folder. Video decoding (FFmpeg's MPEG-4 IDCT) is not bit-exact across
architectures, so --save-frames writes the decoded frames as PNG and the other
machine reads those (--frames-dir); OpenCV's resize is not either (its aarch64 HAL
rounds differently), so --save-inputs keeps every resized model input and the other
machine can run its network on exactly those (dump(load_inputs=...)). Usage:

    python -m research.dump_detections --out DIR [--model M]... [--save-frames DIR | --frames-dir DIR]

Without --model: the reference model and every .tflite in models/.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import platform
import sys
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent

from pi_vision.config import DetectorConfig
from pi_vision.detection.detector import TFLiteDetector
from pi_vision.errors import UserError
from pi_vision.paths import MODELS_DIR, reference_model, shared_data_dir
from pi_vision.detection.anchors import BOX_SCALES
from pi_vision.detection.model_file import POSTPROCESS_OP
from pi_vision.detection.preprocess import ModelInput

VIDEO_FRAMES = 20
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp"}
# Everything the model returns (the post-process op applies its own threshold and
# max-detections), so low-score boxes and the list's cut-off are compared too.
SCORE_THRESHOLD = 0.0


def default_models() -> list[Path]:
    return [reference_model(), *sorted(MODELS_DIR.glob("*.tflite"))]


def video_frame_name(k: int) -> str:
    return f"vtest.avi#{k:02d}"


def video_frame_file(k: int) -> str:
    return f"vtest.avi_{k:02d}.png"


def decode_video(data_dir: Path) -> list[np.ndarray]:
    """The first VIDEO_FRAMES frames of vtest.avi, decoded by this machine's OpenCV/FFmpeg."""
    video = data_dir / "videos" / "vtest.avi"
    capture = cv2.VideoCapture(str(video))
    decoded = []
    for _ in range(VIDEO_FRAMES):
        ok, frame = capture.read()
        if not ok:
            raise SystemExit(f"dump_detections: {video} has fewer than {VIDEO_FRAMES} frames")
        decoded.append(frame)
    capture.release()
    return decoded


def save_frames(decoded: list[np.ndarray], directory: Path) -> None:
    """Write decoded video frames losslessly (PNG), so another machine can run on exactly these pixels."""
    directory.mkdir(parents=True, exist_ok=True)
    for k, frame in enumerate(decoded):
        cv2.imwrite(str(directory / video_frame_file(k)), frame)


def load_frames(directory: Path) -> list[np.ndarray]:
    decoded = []
    for k in range(VIDEO_FRAMES):
        frame = cv2.imread(str(directory / video_frame_file(k)))
        if frame is None:
            raise SystemExit(f"dump_detections: {directory / video_frame_file(k)} is missing or unreadable")
        decoded.append(frame)
    return decoded


def frames(data_dir: Path, frames_dir: Path | None = None):
    """(name, BGR image) for the fixed frame set, in a fixed order. The video frames
    come from ``frames_dir`` (PNGs from save_frames) when given: video decoding is not
    bit-exact across architectures, and a detector comparison needs equal inputs."""
    decoded = load_frames(frames_dir) if frames_dir else decode_video(data_dir)
    for k, frame in enumerate(decoded):
        yield video_frame_name(k), frame
    for path in sorted((data_dir / "images").iterdir()):
        if path.suffix.lower() in IMAGE_SUFFIXES:
            image = cv2.imread(str(path))
            if image is not None:
                yield path.name, image


def _sha(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()[:16]


def _step_of(interpreter, index: int, details: dict, producers: dict) -> float:
    """Quantization step of tensor ``index``, looking through DEQUANTIZE and LOGISTIC
    (a float sigmoid of dequantized logits moves by at most scale/4 per logit step).
    0.0 for a float path."""
    scale = float(details[index]["quantization"][0])
    if scale > 0:
        return scale
    op = producers.get(index)
    if op is None:
        return 0.0
    if op["op_name"] == "DEQUANTIZE":
        return _step_of(interpreter, int(op["inputs"][0]), details, producers)
    if op["op_name"] == "LOGISTIC":
        return 0.25 * _step_of(interpreter, int(op["inputs"][0]), details, producers)
    return 0.0


def postprocess_quantization(detector: TFLiteDetector) -> dict | None:
    """Steps of the post-process op's inputs, or None when the model has no such op or
    its box path is float (then outputs should agree to float precision)."""
    interpreter = detector._interpreter  # the app's own detector; no public accessor needed elsewhere
    try:
        ops = interpreter._get_ops_details()
    except AttributeError:
        return None
    details = {int(d["index"]): d for d in interpreter.get_tensor_details()}
    # The original nodes, not the DELEGATE nodes that replaced them (both are listed).
    producers = {int(o): op for op in ops if op["op_name"] != "DELEGATE" for o in op["outputs"]}
    for op in ops:
        if op["op_name"] != POSTPROCESS_OP:
            continue
        boxes_in, scores_in, anchors_in = (int(i) for i in op["inputs"][:3])
        box_step = _step_of(interpreter, boxes_in, details, producers)
        if box_step == 0:
            return None
        anchors = interpreter.get_tensor(anchors_in).astype(np.float64)
        scale, zero_point = details[anchors_in]["quantization"]
        if scale > 0:
            anchors = (anchors - zero_point) * scale
        return {
            "box_encoding_step": box_step,
            "score_step": _step_of(interpreter, scores_in, details, producers),
            # Every SSD export in use (TF1 OD API, TF2, this project's training) uses these; the
            # Python API does not expose the op's options.
            "box_code_scales": list(BOX_SCALES),
            # anchors are [y_center, x_center, h, w], normalised
            "max_anchor_extent": float(anchors[:, 2:4].max()),
        }
    return None


def max_detections(detector: TFLiteDetector) -> int | None:
    """The post-process op's list length (its boxes output is [1, N, 4]); None for raw SSD models."""
    roles = getattr(detector._layout, "_roles", None)
    return int(roles["boxes"]["shape"][1]) if roles else None


def input_file(directory: Path, model_name: str, frame_name: str) -> Path:
    return directory / model_name / (frame_name.replace("#", "_") + ".png")


def dump(model: Path, data_dir: Path, threads: int = 0, frames_dir: Path | None = None,
         save_inputs: Path | None = None, load_inputs: Path | None = None) -> dict:
    """Detections of ``model`` on the frame set. ``save_inputs``: write each resized model
    input (the output of the app's resize_for_model) as PNG; ``load_inputs``: run the network on those
    instead of this machine's resize, so two machines' runtimes see identical inputs."""
    detector = TFLiteDetector(DetectorConfig(model=str(model), threads=threads, score_threshold=SCORE_THRESHOLD))
    input_detail = detector._interpreter.get_input_details()[0]
    result = {
        "model": detector.name,
        "model_sha256": hashlib.sha256(Path(model).read_bytes()).hexdigest()[:16],
        "machine": platform.machine(),
        "runtime": detector.runtime,
        "xnnpack_partitions": detector.xnnpack_partitions,
        "numpy": np.__version__,
        "opencv": cv2.__version__,
        "input_dtype": np.dtype(input_detail["dtype"]).name,
        "score_threshold": SCORE_THRESHOLD,
        "quantization": postprocess_quantization(detector),
        "max_detections": max_detections(detector),
        "video_frames": "decoded here" if frames_dir is None else f"read from {frames_dir.name}/",
        "frames": [],
    }
    for name, image in frames(data_dir, frames_dir):
        fitted = detector.resize_for_model(image)
        own_resize_sha = _sha(fitted.image)
        if save_inputs:
            path = input_file(save_inputs, detector.name, name)
            path.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(path), fitted.image)
        if load_inputs:
            loaded = cv2.imread(str(input_file(load_inputs, detector.name, name)))
            if loaded is None or loaded.shape != fitted.image.shape:
                raise SystemExit(f"dump_detections: no usable input {input_file(load_inputs, detector.name, name)}")
            fitted = ModelInput(loaded, fitted.placement)
        detections = detector.detect(fitted, {})
        result["frames"].append({
            "name": name,
            "frame_sha": _sha(image),
            "resize_sha": own_resize_sha,  # this machine's resize
            "input_sha": _sha(fitted.image),  # what the network saw
            "boxes": detections.boxes.astype(float).round(7).tolist(),  # x1 y1 x2 y2, frame-normalised
            "scores": detections.scores.astype(float).round(7).tolist(),
            "classes": detections.class_ids.astype(int).tolist(),
        })
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="directory for <model>.json")
    parser.add_argument("--model", action="append", type=Path,
                        help="a .tflite file (repeatable; default: the reference and models/*.tflite)")
    parser.add_argument("--threads", type=int, default=0, help="interpreter threads (0 = all cores)")
    parser.add_argument("--save-frames", type=Path, metavar="DIR",
                        help="decode the video here and write its frames to DIR as PNG; the dumps then use them")
    parser.add_argument("--frames-dir", type=Path, metavar="DIR",
                        help="take the video frames from PNGs written by --save-frames instead of decoding")
    parser.add_argument("--save-inputs", type=Path, metavar="DIR",
                        help="write every resized model input to DIR/<model>/<frame>.png")
    args = parser.parse_args(argv)
    data_dir = shared_data_dir()
    if not (data_dir / "videos" / "vtest.avi").is_file():
        print(f"dump_detections: {data_dir}/videos/vtest.avi not found; set PI_VISION_DATA", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    frames_dir = args.frames_dir
    if args.save_frames:
        save_frames(decode_video(data_dir), args.save_frames)
        frames_dir = args.save_frames
    for model in args.model or default_models():
        try:
            result = dump(model, data_dir, args.threads, frames_dir, save_inputs=args.save_inputs)
        except UserError as e:
            print(f"dump_detections: {e}", file=sys.stderr)
            return 2
        path = args.out / f"{result['model']}.json"
        path.write_text(json.dumps(result, indent=1) + "\n")
        n = sum(len(f["classes"]) for f in result["frames"])
        print(f"{path}: {len(result['frames'])} frames, {n} detections, {result['machine']}, "
              f"{result['runtime']}, XNNPACK partitions {result['xnnpack_partitions']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
