"""Tiny end-to-end run: train a few steps (and resume), convert, load with ai_edge_litert, detect."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import yaml

tf = pytest.importorskip("tensorflow")
pytest.importorskip("pycocotools")

from pi_vision.training import checkpoint  # noqa: E402
from pi_vision.training.data.recipes import voc_split  # noqa: E402
from pi_vision.training.export import EvalSet, export_run  # noqa: E402
from pi_vision.training.model_card import earlier_stage  # noqa: E402
from pi_vision.training.image_sets import write_coco_json  # noqa: E402
from pi_vision.training.loader import ImageStore  # noqa: E402
from pi_vision.config import DetectorConfig  # noqa: E402
from pi_vision.detection.detector import TFLiteDetector, detect_image  # noqa: E402
from pi_vision.training.trainer import TrainConfig, Trainer  # noqa: E402


@pytest.fixture(scope="module")
def raccoon(data_dir):
    folder = data_dir / "raccoon"
    if not folder.exists():
        pytest.skip(f"{folder} not found")
    train, held = voc_split(folder / "annotations", folder / "images", ["raccoon"], holdout=0.2)
    return train[:8], held[:4]


def test_train_resume_convert_detect(raccoon, data_dir, tmp_path):
    train, held = raccoon
    store = ImageStore(train, None)
    config = TrainConfig(alpha=0.25, class_names=["raccoon"], out_dir=tmp_path / "run", sizes=[128],
                         batch_size=4, steps=4, warmup_steps=2, checkpoint_every=2, log_every=2,
                         augment={"mosaic_probability": 0.0})
    trainer = Trainer(config, store)
    assert trainer.loader.augment.mosaic_probability == 0.0
    trainer.run()
    assert checkpoint.latest(config.out_dir / "checkpoints").name == "step_0000004"

    # Asking for more steps resumes from the checkpoint instead of starting again.
    config.steps = 6
    resumed = Trainer(config, store)
    assert resumed.step == 4
    resumed.run()
    steps = [json.loads(line)["step"] for line in (config.out_dir / "metrics.jsonl").read_text().splitlines()]
    assert steps == [2, 4, 6]
    # The run record keeps each session; the config given is left as it was.
    sessions = json.loads((config.out_dir / checkpoint.RUN_RECORD).read_text())["sessions"]
    assert [s["from_step"] for s in sessions] == [0, 4] and config.augment == {"mosaic_probability": 0.0}
    assert sessions[1]["config"]["augment"]["crop_probability"] == 0.8  # every setting, defaults too

    write_coco_json(held, ["raccoon"], tmp_path / "held.json")
    models = export_run(config.out_dir, tmp_path / "models", [128], ["int8", "float"], data_dir,
                        EvalSet("raccoon held-out", tmp_path / "held.json", tmp_path), calibration_count=8,
                        prefix="raccoon_mbv1")
    assert [m.name for m in models] == ["raccoon_mbv1_0.25_128.tflite", "raccoon_mbv1_0.25_128_float.tflite"]
    for model in models:
        detector = TFLiteDetector(DetectorConfig(model=str(model), score_threshold=0.0))
        assert detector.labels == ["raccoon"]
        assert detector.input_size == (128, 128)
        found = detect_image(detector, cv2.imread(str(held[0].image)))
        assert len(found) <= 25
        assert np.all(found.class_ids == 0) and np.all((found.boxes >= 0) & (found.boxes <= 1))
        names = {d["name"] for d in detector._interpreter.get_output_details()}
        assert "TFLite_Detection_PostProcess:2" in names
        card = yaml.safe_load((tmp_path / "models" / (model.stem + ".yaml")).read_text())
        assert card["training"]["augmentation"].startswith("2x2 mosaic (p 0.0)")


def test_a_run_can_start_from_another_runs_weights(raccoon, tmp_path):
    store = ImageStore(raccoon[0], None)
    settings = dict(alpha=0.25, class_names=["raccoon"], sizes=[128], batch_size=4, steps=2, warmup_steps=1, log_every=1)
    first = Trainer(TrainConfig(out_dir=tmp_path / "first", **settings), store)
    first.run()
    second = Trainer(TrainConfig(out_dir=tmp_path / "second", frozen_blocks=13, init_from=str(tmp_path / "first"),
                                 **settings), store)
    assert second.step == 0  # the weights carry over, the schedule starts again
    for a, b in zip(first.model.get_weights(), second.model.get_weights()):
        np.testing.assert_array_equal(a, b)
    second.run()
    state = json.loads((checkpoint.latest(tmp_path / "second" / "checkpoints") / checkpoint.STATE).read_text())
    stage = earlier_stage(state["config"]["init_from"])
    assert stage["checkpoint"] == str(tmp_path / "first" / "checkpoints" / "step_0000002")
    assert stage["steps"] == 2 and stage["frozen_backbone_blocks"] == 0 and stage["initialised_from"] is None


def test_sgd_moves_the_backbone_by_its_gradient_not_by_a_fixed_step(raccoon, tmp_path):
    """Adam moves every pretrained weight by about its rate per step whatever the gradient; SGD's
    step follows the (small) gradient, which is why it can fine-tune the ImageNet backbone."""
    store = ImageStore(raccoon[0], None)
    moved = {}
    for kind in ("adamw", "sgd"):
        trainer = Trainer(TrainConfig(alpha=0.25, class_names=["raccoon"], out_dir=tmp_path / kind, sizes=[128],
                                      batch_size=4, steps=2, warmup_steps=1, log_every=1, seed=3,
                                      backbone_lr_scale=1.0, backbone_optimizer=kind), store)
        assert type(trainer.backbone_optimizer).__name__ == {"adamw": "AdamW", "sgd": "SGD"}[kind]
        before = trainer.model.get_layer("block13_pw").kernel.numpy()
        trainer.run()
        moved[kind] = np.abs(trainer.model.get_layer("block13_pw").kernel.numpy() - before).mean()
    assert 0 < moved["sgd"] < moved["adamw"] / 10


def test_box_loss_weight_scales_the_box_term_of_the_trained_loss(raccoon, tmp_path):
    config = TrainConfig(alpha=0.25, class_names=["raccoon"], out_dir=tmp_path / "run", sizes=[128], batch_size=4,
                         steps=2, warmup_steps=1, log_every=1, frozen_blocks=13, box_loss_weight=0.25)
    Trainer(config, ImageStore(raccoon[0], None)).run()
    for line in (config.out_dir / "metrics.jsonl").read_text().splitlines():
        m = json.loads(line)
        assert m["box_loss"] > 0
        assert m["loss"] == pytest.approx(m["class_loss"] + 0.25 * m["box_loss"], rel=1e-5)


def test_a_run_learns_the_dense_outputs_of_a_wider_run(raccoon, tmp_path):
    store = ImageStore(raccoon[0], None)
    settings = dict(class_names=["raccoon"], sizes=[128], batch_size=4, steps=2, warmup_steps=1, log_every=1,
                    frozen_blocks=13)
    Trainer(TrainConfig(alpha=0.5, out_dir=tmp_path / "wide", **settings), store).run()
    config = TrainConfig(alpha=0.25, out_dir=tmp_path / "narrow", distil_from=str(tmp_path / "wide"),
                         distil_weight=0.5, **settings)
    Trainer(config, store).run()
    for line in (config.out_dir / "metrics.jsonl").read_text().splitlines():
        m = json.loads(line)
        assert m["distil_loss"] > 0
        assert m["loss"] == pytest.approx(m["class_loss"] + m["box_loss"] + 0.5 * m["distil_loss"], rel=1e-5)
    # Other anchors: the outputs no longer line up, so it refuses.
    with pytest.raises(ValueError, match="anchors_at"):
        Trainer(TrainConfig(alpha=0.25, out_dir=tmp_path / "other", distil_from=str(tmp_path / "wide"),
                            anchors_at=160, **settings), store)


@pytest.mark.parametrize("class_loss", ["focal", "softmax"])
def test_converted_head_keeps_class_numbering(class_loss, street_image, tmp_path):
    """Class k of the network is class k of the converted file, with or without a background column."""
    from pi_vision.training.convert import convert, inference_model
    from pi_vision.training.model_spec import SSDConfig

    ssd = SSDConfig(0.25, 3, class_loss=class_loss)
    model = inference_model(ssd, 96)
    sure_class = 1
    column = sure_class + (1 if class_loss == "softmax" else 0)
    for layer in model.layers:
        if layer.name.startswith("cls") and layer.name[3:].isdigit():  # the 1x1 class convolutions
            kernel, bias = layer.get_weights()
            bias = np.full_like(bias, -8.0)
            bias[column::ssd.num_logits] = 8.0
            layer.set_weights([np.zeros_like(kernel), bias])
    path = convert(model, ssd, 96, tmp_path / "m.tflite", ["a", "b", "c"])
    found = detect_image(TFLiteDetector(DetectorConfig(model=str(path), score_threshold=0.5)), street_image)
    assert len(found) > 0 and set(found.class_ids.tolist()) == {sure_class}
