"""Cost, speed and accuracy of every model in models/ plus the reference, in one table.

For each model file (float32 and int8 where both exist) and each thread count: mult-adds
and params (counted from the graph), file size, invoke p50/p95 (after a warm-up, in
batches until the median is stable), the achieved GMAC/s, and mAP / mAP@.5 on coco128
(from the model card, or measured here when the card has none). Writes a markdown
table and three PNG plots: mAP vs latency, mAP vs mult-adds (one line per alpha), and
latency vs mult-adds.

    pi-vision-benchmark                       # models/ + reference, 1 and 2 threads
    pi-vision-benchmark --threads 1 2 4 --out docs/benchmarks.md
"""
from __future__ import annotations

import argparse
import json
import logging
import re
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import yaml


from pi_vision.config import DetectorConfig
from pi_vision.detection.detector import TFLiteDetector, detect_image
from pi_vision.paths import MODELS_DIR, REPO_DIR, reference_model, shared_data_dir

PREDICTIONS = REPO_DIR / "docs" / "a72_predictions.json"
# Published Pi 4 figures of similar detectors, set beside our predictions (sources as cited).
PUBLISHED_PI4 = [
    ("SSD MobileNet v1 300 quant (the reference), 4 threads, C++, overclocked to 1.9 GHz", "24 FPS",
     "Qengineering/TensorFlow_Lite_SSD_RPi_64-bits"),
    ("SSDLite MobileNet v2 int8, 4 threads", "57 ms (17.5 FPS)", "NobuoTsukamoto/benchmarks, TFLite 2.5"),
    ("SSD MobileNet v1 0.75 depth", "82.7 ms (12.1 FPS)", "aallan/benchmarking-ml-on-the-edge"),
]
NAME = re.compile(r"ssd_mbv1_(?P<alpha>[0-9.]+)_(?P<size>\d+)(?P<float>_float)?$")
BATCH = 25


@dataclass
class Row:
    name: str
    path: Path
    alpha: float | None
    size: int
    precision: str
    mult_adds: int
    params: int
    file_bytes: int
    latency_ms: dict[int, tuple[float, float]] = field(default_factory=dict)  # threads -> (p50, p95)
    map: float | None = None
    map50: float | None = None
    pi4_ms: tuple[float, float] | None = None  # predicted (1 thread, 4 threads)


def invoke_percentiles(detector: TFLiteDetector, min_runs: int, max_runs: int) -> tuple[float, float]:
    """Invoke in batches until the median moves less than 1% between batches."""
    for _ in range(10):
        detector.invoke_only()
    times: list[float] = []
    previous = None
    while len(times) < max_runs:
        for _ in range(BATCH):
            t0 = time.perf_counter()
            detector.invoke_only()
            times.append(time.perf_counter() - t0)
        median = statistics.median(times)
        if len(times) >= min_runs and previous is not None and abs(median - previous) < 0.01 * previous:
            break
        previous = median
    return statistics.median(times) * 1000, float(np.percentile(times, 95)) * 1000


def card_map(path: Path) -> tuple[float | None, float | None]:
    card = path.with_suffix(".yaml")
    if not card.is_file():
        return None, None
    evaluation = (yaml.safe_load(card.read_text()) or {}).get("evaluation") or {}
    return evaluation.get("mAP"), evaluation.get("mAP50")


def measure(path: Path, threads: list[int], frame: np.ndarray, min_runs: int, max_runs: int) -> Row:
    match = NAME.match(path.stem)
    row = None
    for t in threads:
        detector = TFLiteDetector(DetectorConfig(model=str(path), threads=t))
        detect_image(detector, frame)  # a real input, not zeros
        if row is None:
            row = Row(name=path.stem, path=path, alpha=float(match["alpha"]) if match else None,
                      size=detector.input_size[0], precision=detector.input_dtype.name,
                      mult_adds=detector.cost.mult_adds, params=detector.cost.params, file_bytes=path.stat().st_size)
        row.latency_ms[t] = invoke_percentiles(detector, min_runs, max_runs)
        print(f"{path.stem}: {t} threads p50 {row.latency_ms[t][0]:.2f} ms p95 {row.latency_ms[t][1]:.2f} ms",
              flush=True)
    row.map, row.map50 = card_map(path)
    return row


def measure_map(row: Row) -> None:
    """mAP on coco128 with the project's evaluator, for models whose card has none."""
    try:
        from pi_vision.training.evaluate import evaluate_model
    except ImportError as e:
        print(f"{row.name}: no mAP in a model card and cannot evaluate ({e}); install requirements-train.txt")
        return
    coco = shared_data_dir() / "coco128"
    result = evaluate_model(row.path, coco / "instances_train2017.json", coco / "images")
    row.map, row.map50 = result.map, result.map50


def load_pi4_predictions(rows: list[Row], path: Path = PREDICTIONS) -> str | None:
    """Fill each row's predicted Pi 4 times from the cost model's JSON; returns its method, or None."""
    if not path.is_file():
        return None
    saved = json.loads(path.read_text())
    for row in rows:
        found = saved["models"].get(row.name)
        if found:
            row.pi4_ms = (found["pi4_ms_1_thread"], found["pi4_ms_4_threads"])
    return f"{saved['method']} (counted {saved.get('date') or 'on an unrecorded date'})"


def _fmt(value, pattern: str, missing: str = "-") -> str:
    return missing if value is None else format(value, pattern)


def write_markdown(rows: list[Row], threads: list[int], out: Path, command: str, plots: list[Path],
                   pi4_method: str | None = None) -> None:
    t_max = max(threads)
    head = ["model", "alpha", "input", "precision", "mult-adds (M)", "params (M)", "file (KB)"]
    head += [f"invoke p50/p95 ms, {t} thr" for t in threads]
    head += [f"GMAC/s ({t_max} thr)", "mAP", "mAP@.5", "Pi 4 FPS, 1 / 4 thr (predicted)"]
    lines = [
        "# Benchmarks",
        "",
        f"Generated by `{command}` on {time.strftime('%Y-%m-%d')} (machine: {_machine()}). Latency is TFLite",
        "invoke() alone with XNNPACK, median over stable batches after a warm-up; mAP is COCO mAP@[.5:.95]",
        "and mAP@.5 on the 128 images of coco128 (from each model card, or measured by this script).",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for r in rows:
        cells = [r.name, _fmt(r.alpha, "g"), f"{r.size}", r.precision, f"{r.mult_adds / 1e6:.0f}",
                 f"{r.params / 1e6:.2f}", f"{r.file_bytes / 1024:.0f}"]
        cells += [f"{r.latency_ms[t][0]:.2f} / {r.latency_ms[t][1]:.2f}" for t in threads]
        cells += [f"{r.mult_adds / r.latency_ms[t_max][0] / 1e6:.1f}", _fmt(r.map, ".3f"), _fmt(r.map50, ".3f"),
                  f"{1000 / r.pi4_ms[0]:.1f} / {1000 / r.pi4_ms[1]:.1f}" if r.pi4_ms else "not counted"]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "## Raspberry Pi 4 (4x Cortex-A72, 1.5 GHz)", ""]
    if pi4_method:
        lines += [f"The Pi 4 column is a prediction, not a measurement on a Pi: {pi4_method}. FPS is 1000 / predicted",
                  "invoke ms (the network alone). Published Pi 4 figures to set beside it:", ""]
    else:
        lines += ["No Pi 4 predictions yet: run `research/a72_cost_model.py` (see docs/a72_cost_model.md).",
                  "Published Pi 4 figures of similar detectors:", ""]
    lines += [f"- {what}: {figure} ({source})" for what, figure, source in PUBLISHED_PI4]
    lines += [""] + [f"![{p.stem}]({p.name})" for p in plots] + [""]
    out.write_text("\n".join(lines))


def _machine() -> str:
    import os
    import platform

    return f"{platform.machine()}, {os.cpu_count()} cores"


def plot(rows: list[Row], threads: list[int], out_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = max(threads)
    paths = []

    def finish(fig, ax, name: str, xlabel: str, ylabel: str, title: str, log_x: bool = False,
               log_y: bool = False) -> None:
        from matplotlib.ticker import NullFormatter, ScalarFormatter

        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        # Log axes with plain numbers on the major ticks only (minor tick labels collide).
        for axis, on in ((ax.xaxis, log_x), (ax.yaxis, log_y)):
            if on:
                (ax.set_xscale if axis is ax.xaxis else ax.set_yscale)("log")
                axis.set_major_formatter(ScalarFormatter())
                axis.set_minor_formatter(NullFormatter())
        handles, labels = ax.get_legend_handles_labels()
        if handles:
            unique = dict(zip(labels, handles))  # one entry per label
            ax.legend(unique.values(), unique.keys())
        ax.grid(alpha=0.3, which="both")
        paths.append(out_dir / name)
        fig.savefig(paths[-1], dpi=110, bbox_inches="tight")
        plt.close(fig)

    scored = [r for r in rows if r.map is not None]

    def by_alpha(selection):
        groups: dict = {}
        for r in sorted(selection, key=lambda r: r.mult_adds):
            groups.setdefault(r.alpha, []).append(r)
        return groups

    # 1. mAP vs latency: what a user trades.
    fig, ax = plt.subplots(figsize=(7, 5))
    colours = {alpha: f"C{i}" for i, alpha in enumerate(sorted({r.alpha for r in rows}, key=lambda a: a or 9))}
    for r in scored:
        ax.scatter(r.latency_ms[t][0], r.map, marker="s" if r.precision == "float32" else "o", color=colours[r.alpha],
                   label=f"alpha {r.alpha:g}" if r.alpha is not None else "reference")
        short = r.name.replace("ssd_mbv1_", "").replace("coco_ssd_mobilenet_v1_1.0_quant", "reference")
        ax.annotate(short, (r.latency_ms[t][0], r.map), fontsize=6, xytext=(3, 3), textcoords="offset points")
    finish(fig, ax, "map_vs_latency.png", f"invoke p50 (ms, {t} threads, log scale)", "COCO mAP@[.5:.95] on coco128",
           "Accuracy vs latency (circles 8-bit, squares float32)", log_x=True)

    # 2. mAP vs mult-adds: the paper's accuracy-vs-cost curve, one line per alpha.
    fig, ax = plt.subplots(figsize=(7, 5))
    for alpha, group in by_alpha([r for r in scored if r.precision != "float32"]).items():
        label = f"alpha {alpha:g}" if alpha is not None else "reference"
        ax.plot([r.mult_adds / 1e6 for r in group], [r.map for r in group], "o-", label=label)
        for r in group:
            ax.annotate(str(r.size), (r.mult_adds / 1e6, r.map), fontsize=7, xytext=(3, -8), textcoords="offset points")
    finish(fig, ax, "map_vs_mult_adds.png", "mult-adds (millions, log scale)", "COCO mAP@[.5:.95] on coco128",
           "Accuracy vs cost (8-bit models; points are input sizes)", log_x=True)

    # 3. latency vs mult-adds: how well XNNPACK turns fewer MACs into speed.
    fig, ax = plt.subplots(figsize=(7, 5))
    for quantized, marker in ((True, "o"), (False, "s")):
        group = [r for r in rows if (r.precision != "float32") == quantized]
        ax.scatter([r.mult_adds / 1e6 for r in group], [r.latency_ms[t][0] for r in group], marker=marker,
                   label="8-bit" if quantized else "float32")
        for r in group:
            gmacs = r.mult_adds / r.latency_ms[t][0] / 1e6
            ax.annotate(f"{r.name} {gmacs:.0f} GMAC/s", (r.mult_adds / 1e6, r.latency_ms[t][0]), fontsize=6,
                        xytext=(3, 3), textcoords="offset points")
    finish(fig, ax, "latency_vs_mult_adds.png", "mult-adds (millions, log scale)", f"invoke p50 (ms, {t} threads)",
           "Latency vs cost (labels: achieved GMAC/s)", log_x=True, log_y=True)
    return paths


def main() -> int:
    p = argparse.ArgumentParser(prog="pi-vision-benchmark", description=__doc__.split("\n\n")[0])
    p.add_argument("--models", type=Path, nargs="*", help="model files (default: models/*.tflite + the reference)")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--min-runs", type=int, default=100)
    p.add_argument("--max-runs", type=int, default=1000)
    p.add_argument("--out", type=Path, default=REPO_DIR / "docs" / "benchmarks.md")
    p.add_argument("--pi4-predictions", type=Path, default=PREDICTIONS,
                   help="predicted Pi 4 times written by research/a72_cost_model.py")
    p.add_argument("--no-map", action="store_true", help="do not evaluate models whose card has no mAP")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)

    models = args.models or sorted(MODELS_DIR.glob("*.tflite")) + [reference_model()]
    missing = [m for m in models if not m.is_file()]
    if missing:
        print(f"benchmark: not found: {', '.join(map(str, missing))}", file=sys.stderr)
        return 2
    ok, frame = cv2.VideoCapture(str(shared_data_dir() / "videos" / "vtest.avi")).read()
    if not ok:
        frame = np.full((480, 640, 3), 114, np.uint8)
    rows = [measure(m, args.threads, frame, args.min_runs, args.max_runs) for m in models]
    if not args.no_map:
        for row in rows:
            if row.map is None:
                measure_map(row)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    plots = plot(rows, args.threads, args.out.parent)
    command = "pi-vision-benchmark " + " ".join(sys.argv[1:])
    write_markdown(rows, args.threads, args.out, command.strip(), plots, load_pi4_predictions(rows, args.pi4_predictions))
    print(f"wrote {args.out} and {', '.join(p.name for p in plots)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
