"""Guest side of the Cortex-A72 cost model: count the instructions of one invoke().

Runs inside the arm64 root under qemu-aarch64 with the insn_marker plugin
(research/qemu_insn_plugin); research/a72_cost_model.py sets that up. For each model:
load it with the app's TFLiteDetector at 1 thread, run a real frame (a vtest.avi frame
through detect_image, so the input tensor holds real pixels), warm up outside the
markers (XNNPACK packs weights and sizes buffers on the first invokes), count empty
START/STOP pairs (the fixed cost of the markers themselves), then N invokes, each
between its own START/STOP pair. Results go to a JSON file; the numbers come only from
the plugin, which appends "<tag> <own> <other>" to its output file at every STOP.

Never run it outside that setup: the markers are getpid(2) with extra arguments on
aarch64, and the same syscall number means something else on other architectures.
"""
from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import platform
import sys
import time
from pathlib import Path

SYS_GETPID_AARCH64 = 172
MARKER_MAGIC = 0x7069766973696F6E  # "pivision", as in insn_marker.c
MARKER_START, MARKER_STOP = 1, 2
AT_HWCAP = 16
# Read by OpenCV's FFmpeg backend when a capture opens (see read_frame).
os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", "threads;1")


def die(message: str) -> None:
    print(f"count_invoke: {message}", file=sys.stderr)
    sys.exit(2)


class Counter:
    """Marks regions for the plugin and reads back its count for each."""

    def __init__(self, counts_path: Path):
        self._libc = ctypes.CDLL(None, use_errno=True)
        self._libc.syscall.restype = ctypes.c_long
        self._path = counts_path
        self._next_tag = 1
        # The plugin opens (creates) the file at qemu start-up, before Python runs.
        if not counts_path.is_file():
            die(f"{counts_path} does not exist: not running under the insn_marker plugin; "
                f"use research/a72_cost_model.py")
        self._file = counts_path.open()
        self._file.seek(0, os.SEEK_END)

    def count(self, work) -> tuple[int, int, float]:
        """(instructions of this thread, of other threads, wall seconds) for one call of ``work``."""
        tag = self._next_tag
        self._next_tag += 1
        # Everything the markers need is built before the first one: between them the
        # interpreter only makes three calls. Attribute lookups there (ctypes objects,
        # a CDLL with __getattr__) make CPython 3.11's specializing interpreter retry and
        # give up at growing intervals, which changed counts by ~1000 instructions from
        # one invoke to the next. syscall(2) directly: glibc's getpid() may answer from
        # a cache and never reach qemu; variadic arguments are passed as on a normal
        # call on aarch64 Linux.
        syscall = self._libc.syscall
        start = (ctypes.c_long(SYS_GETPID_AARCH64), ctypes.c_ulong(MARKER_MAGIC), ctypes.c_ulong(MARKER_START),
                 ctypes.c_ulong(tag))
        stop = start[:2] + (ctypes.c_ulong(MARKER_STOP), start[3])
        t0 = time.perf_counter()
        syscall(*start)
        work()
        syscall(*stop)
        wall = time.perf_counter() - t0
        line = self._file.readline()
        fields = line.split()
        if len(fields) != 3 or fields[0] == "error" or int(fields[0]) != tag:
            die(f"unexpected line from the plugin for region {tag}: {line.strip()!r}")
        return int(fields[1]), int(fields[2]), wall


def conv_weight_dtype(interpreter) -> str:
    """What the convolutions compute in: the dtype of their weight tensors (uint8 for the
    per-tensor asymmetric reference, int8 for full-int8 models, float32 for float ones)."""
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    dtypes = {tensors[int(op["inputs"][1])]["dtype"].__name__ for op in interpreter._get_ops_details()
              if op["op_name"] in ("CONV_2D", "DEPTHWISE_CONV_2D") and int(op["inputs"][1]) in tensors}
    if len(dtypes) != 1:
        return "mixed(" + ",".join(sorted(dtypes)) + ")"
    return dtypes.pop()


def count_model(counter: Counter, model: str, frame, warmup: int, invokes: int, empty: int) -> dict:
    from pi_vision.config import DetectorConfig
    from pi_vision.detection.detector import TFLiteDetector, detect_image

    t0 = time.perf_counter()
    detector = TFLiteDetector(DetectorConfig(model=model, threads=1))
    load_s = time.perf_counter() - t0
    detections = detect_image(detector, frame)  # sets a real input; the first (warm-up) invoke
    for _ in range(warmup - 1):
        detector.invoke_only()
    # The binding Interpreter.invoke() ends in: its Python-level check before that
    # (_ensure_safe) costs a few thousand instructions whose count drifted from one call
    # to the next with CPython's adaptive specializer.
    native_invoke = detector._interpreter._interpreter.Invoke
    # Python's cyclic garbage collector runs when allocations pass a threshold, which
    # can fall inside any window and add thousands of instructions to it: off while counting.
    gc.collect()
    gc.disable()
    try:
        empty_counts = [counter.count(lambda: None) for _ in range(empty)]
        invoke_counts = [counter.count(native_invoke) for _ in range(invokes)]
    finally:
        gc.enable()
    own_empty = [c[0] for c in empty_counts]
    return {
        "model": detector.name,
        "path": str(detector.path),
        "precision": conv_weight_dtype(detector._interpreter),
        "input_dtype": detector.input_dtype.name,
        "input": f"{detector.input_size[1]}x{detector.input_size[0]}",
        "mult_adds": detector.cost.mult_adds,
        "params": detector.cost.params,
        "runtime": detector.runtime,
        "threads": detector.threads,
        "xnnpack_partitions": detector.xnnpack_partitions,
        "detections_on_frame": len(detections.scores),
        "marker_overhead": own_empty,
        "raw_counts": [c[0] for c in invoke_counts],
        # The invoke alone: the markers' fixed cost (identical in every pair) taken off.
        "invoke_counts": [c[0] - min(own_empty) for c in invoke_counts],
        "other_thread_counts": [c[1] for c in invoke_counts] + [c[1] for c in empty_counts],
        "invoke_wall_s": [round(c[2], 3) for c in invoke_counts],
        "load_s": round(load_s, 2),
        "model_wall_s": round(time.perf_counter() - t0, 1),
    }


def read_frame(video: Path, index: int):
    import cv2

    # Single-threaded decoding and resizing: with worker threads the order of their
    # allocations depends on timing, the heap then differs from run to run, and so do
    # the malloc paths taken inside the counted invokes (by tens of instructions).
    cv2.setNumThreads(1)
    capture = cv2.VideoCapture(str(video))
    if not capture.isOpened():
        die(f"cannot open {video}; pass an existing video with --video")
    frame = None
    for _ in range(index + 1):
        ok, frame = capture.read()
        if not ok:
            die(f"{video} has fewer than {index + 1} frames; use a smaller --frame")
    capture.release()
    return frame


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", required=True, help="a .tflite path (repeatable)")
    parser.add_argument("--counts", type=Path, default=os.environ.get("PI_VISION_INSN_COUNTS"),
                        help="the plugin's out= file (default $PI_VISION_INSN_COUNTS)")
    parser.add_argument("--out", type=Path, required=True, help="JSON results file to write")
    parser.add_argument("--video", type=Path,
                        default=Path(os.environ.get("PI_VISION_DATA", "/pi-vision/data")) / "videos" / "vtest.avi")
    parser.add_argument("--frame", type=int, default=100, help="index of the video frame used as input")
    parser.add_argument("--warmup", type=int, default=2, help="invokes before counting (>= 1)")
    parser.add_argument("--invokes", type=int, default=3, help="counted invokes per model")
    parser.add_argument("--maps", type=Path, help="diagnosis: write the guest's /proc/self/maps here at the end")
    parser.add_argument("--empty", type=int, default=2, help="counted empty marker pairs per model")
    args = parser.parse_args(argv)
    if platform.machine() != "aarch64":
        die(f"this runs in the arm64 guest only (machine is {platform.machine()}): the markers are "
            f"aarch64 syscall numbers")
    if args.counts is None:
        die("no --counts file and no $PI_VISION_INSN_COUNTS; use research/a72_cost_model.py")
    if min(args.warmup, args.invokes, args.empty, args.frame + 1) < 1:
        die("--warmup, --invokes and --empty must be >= 1, --frame >= 0")
    for model in args.model:
        if not Path(model).is_file():
            die(f"model {model} does not exist")

    counter = Counter(args.counts)
    frame = read_frame(args.video, args.frame)
    hwcap = ctypes.CDLL(None).getauxval
    hwcap.restype = ctypes.c_ulong
    results = {
        "machine": platform.machine(),
        "hwcap": hex(hwcap(ctypes.c_ulong(AT_HWCAP))),
        "cpu_part": next((line.split(":")[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                          if line.startswith("CPU part")), None),
        "python": platform.python_version(),
        "video": str(args.video),
        "frame": args.frame,
        "models": [],
    }
    for model in args.model:
        result = count_model(counter, model, frame, args.warmup, args.invokes, args.empty)
        print(f"count_invoke: {result['model']}: {result['invoke_counts']} instructions per invoke "
              f"(markers {result['marker_overhead']}, {result['model_wall_s']} s)", flush=True)
        results["models"].append(result)
        # Written after every model, so a run cut short keeps what it finished.
        args.out.write_text(json.dumps(results, indent=1) + "\n")
    if args.maps:
        args.maps.write_text(Path("/proc/self/maps").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
