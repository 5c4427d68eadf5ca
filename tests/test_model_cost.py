import pytest

from pi_vision.detection.model_cost import graph_cost
from pi_vision.detection.runtime import load_interpreter


@pytest.mark.parametrize("file, mult_adds_m, params_m", [
    # MobileNet paper (Howard et al. 2017): 0.50 MobileNet-160 76 M / 1.32 M; 0.25 at 224: 41 M / 0.5 M.
    ("backbones/mobilenet_v1_0.5_160_quant.tflite", 76, 1.32),
    ("backbones/mobilenet_v1_0.25_224_float.tflite", 41, 0.47),
])
def test_counts_match_the_paper(data_dir, file, mult_adds_m, params_m):
    cost = graph_cost(load_interpreter(data_dir / file, threads=1).interpreter)
    assert cost.mult_adds / 1e6 == pytest.approx(mult_adds_m, rel=0.04)
    if params_m is not None:
        assert cost.params / 1e6 == pytest.approx(params_m, rel=0.05)


def test_the_reference_is_a_075_width_network(data_dir):
    """Despite its name, the reference's layers are 0.75x MobileNet's widths (24..768
    channels, not 32..1024), so it costs 0.73 G mult-adds, not the paper's 1.2 G for
    SSD300 MobileNet 1.0 - the figure our variants are measured against."""
    interpreter = load_interpreter(data_dir / "reference/coco_ssd_mobilenet_v1_1.0_quant.tflite", 1).interpreter
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    convs = [op for op in interpreter._get_ops_details() if op["op_name"] == "CONV_2D"]
    assert int(tensors[int(convs[0]["inputs"][1])]["shape"][0]) == 24  # 0.75 x 32
    assert graph_cost(interpreter).mult_adds / 1e6 == pytest.approx(728, rel=0.01)
