import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def test_benchmark_writes_a_table_and_plots(reference_path, tmp_path):
    out = tmp_path / "docs" / "benchmarks.md"
    predictions = tmp_path / "pred.json"
    predictions.write_text(json.dumps({"method": "M", "date": "D", "models": {
        reference_path.stem: {"instructions": 1, "pi4_ms_1_thread": 100.0, "pi4_ms_4_threads": 40.0}}}))
    result = subprocess.run([sys.executable, "-m", "pi_vision.commands.benchmark", "--models", str(reference_path),
                             "--threads", "1", "--min-runs", "5", "--max-runs", "25", "--no-map", "--out", str(out),
                             "--pi4-predictions", str(predictions)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    table = out.read_text()
    row = next(line for line in table.splitlines() if line.startswith("| coco_ssd"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[2:5] == ["300", "uint8", "728"]  # input, precision, mult-adds (M)
    assert float(cells[7].split("/")[0]) > 0  # invoke p50
    assert cells[-1] == "10.0 / 25.0"  # predicted Pi 4 FPS from the cost model's file
    assert "a prediction, not a measurement on a Pi: M (counted D)" in table
    for name in ("map_vs_latency.png", "map_vs_mult_adds.png", "latency_vs_mult_adds.png"):
        assert (out.parent / name).stat().st_size > 1000


def test_benchmark_rejects_missing_models(tmp_path):
    result = subprocess.run([sys.executable, "-m", "pi_vision.commands.benchmark", "--models",
                             str(tmp_path / "nope.tflite")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "not found" in result.stderr


def test_bench_compare_prints_compare_vs_alone(reference_path, tmp_path):
    twin = tmp_path / "twin.tflite"
    twin.write_bytes(reference_path.read_bytes())
    video = reference_path.parent.parent / "videos" / "vtest.avi"
    result = subprocess.run([sys.executable, "-m", "pi_vision.commands.bench_compare", "--models", "REFERENCE",
                             str(twin), "--source", str(video), "--frames", "8", "--rounds", "1", "--threads", "1"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    lines = [line.split() for line in result.stdout.splitlines() if line.startswith(("coco_ssd", "twin"))]
    # Each model once in the ratio table (compare p50, alone p50, ratio), then in the app's compare table.
    assert [line[0] for line in lines] == ["coco_ssd_mobilenet_v1_1.0_quant", "twin"] * 2
    compare_ms, alone_ms, ratio = map(float, lines[1][1:4])
    assert compare_ms > 0 and alone_ms > 0 and ratio == pytest.approx(compare_ms / alone_ms, abs=0.01)
    assert "mAP50 vs" in result.stdout and "largest |ratio - 1|" in result.stdout


def test_bench_compare_needs_two_models(tmp_path):
    result = subprocess.run([sys.executable, "-m", "pi_vision.commands.bench_compare", "--models", "REFERENCE",
                             "--source", "x.avi"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "at least two" in result.stderr
