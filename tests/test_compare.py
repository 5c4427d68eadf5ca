import json

import pytest

from pi_vision import app, cli
from pi_vision.config import Config, DetectorConfig, MonitorConfig, OutputConfig, RunConfig, SourceConfig
from pi_vision.errors import UserError
from pi_vision.config import from_dict


@pytest.fixture(scope="module")
def two_models(reference_path, tmp_path_factory):
    """The reference and an identical copy under another name: they must agree fully."""
    copy = tmp_path_factory.mktemp("models") / "reference_copy.tflite"
    copy.write_bytes(reference_path.read_bytes())
    return str(reference_path), str(copy)


def test_compare_runs_every_variant_on_every_frame(two_models, data_dir, tmp_path):
    shown = []
    config = Config(source=SourceConfig(spec=str(data_dir / "videos" / "vtest.avi")),
                    detector=DetectorConfig(compare=two_models, threads=2),
                    output=OutputConfig(events=str(tmp_path / "e.jsonl")),
                    monitor=MonitorConfig(log_interval=1e9), run=RunConfig(max_frames=30))
    summary = app.run(config, on_result=lambda frame, dets: shown.append(len(dets)))
    rows = summary["variants"]
    assert [r["model"] for r in rows] == ["coco_ssd_mobilenet_v1_1.0_quant", "reference_copy"]
    assert sum(r["reference"] for r in rows) == 1
    for row in rows:
        assert row["invoke_ms"]["p50"] > 0 and row["fps_alone"] > 0 and row["detections_per_frame"] > 0
        assert row["map50_vs_reference"] == pytest.approx(1.0, abs=0.011)
        assert row["box_size_vs_reference"] == [1.0, 1.0]
    assert len(shown) == 30 and summary["model"] == "coco_ssd_mobilenet_v1_1.0_quant, reference_copy"


def test_compare_table_in_json_lines(two_models, data_dir, capsys):
    code = cli.main(["--compare", ",".join(two_models), "--source", str(data_dir / "videos" / "vtest.avi"),
                     "--max-frames", "10", "--log-format", "json"])
    assert code == 0
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert last["event"] == "summary" and len(last["variants"]) == 2


@pytest.mark.parametrize("value, message", [
    (["only_one"], "detector.compare: must be two or more models"),
    ("a", "detector.compare: must be two or more models"),
    ([1, "b"], None),  # numbers become names, like camera indexes
    ({"a": 1}, "detector.compare: expected a list"),
])
def test_compare_config_values(value, message):
    if message is None:
        assert from_dict({"detector": {"compare": value}}).detector.compare == ("1", "b")
        return
    with pytest.raises(UserError, match=message):
        from_dict({"detector": {"compare": value}})


def test_v_key_cycles_the_shown_variant(reference_path):
    from pi_vision.detection.compare import CompareDetector
    from pi_vision.detection.detector import TFLiteDetector

    a, b = (TFLiteDetector(DetectorConfig(model=str(reference_path), threads=1)) for _ in range(2))
    b.name = "b"
    compare = CompareDetector([a, b], 0.5)
    assert not compare.on_key("x") and compare.title() == f"showing {a.name} (v: next)"
    assert compare.on_key("v") and compare.title() == "showing b (v: next)"
    assert compare.on_key("v") and compare.title() == f"showing {a.name} (v: next)"
    compare.score_threshold = 0.3
    assert a.score_threshold == b.score_threshold == 0.3
