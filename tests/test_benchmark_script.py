import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_benchmark_writes_a_table_and_plots(reference_path, tmp_path):
    out = tmp_path / "docs" / "benchmarks.md"
    result = subprocess.run([sys.executable, str(REPO / "scripts" / "benchmark.py"), "--models", str(reference_path),
                             "--threads", "1", "--min-runs", "5", "--max-runs", "25", "--no-map", "--out", str(out)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    table = out.read_text()
    row = next(line for line in table.splitlines() if line.startswith("| coco_ssd"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[2:5] == ["300", "uint8", "728"]  # input, precision, mult-adds (M)
    assert float(cells[7].split("/")[0]) > 0  # invoke p50
    for name in ("map_vs_latency.png", "map_vs_mult_adds.png", "latency_vs_mult_adds.png"):
        assert (out.parent / name).stat().st_size > 1000


def test_benchmark_rejects_missing_models(tmp_path):
    result = subprocess.run([sys.executable, str(REPO / "scripts" / "benchmark.py"), "--models",
                             str(tmp_path / "nope.tflite")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "not found" in result.stderr
