"""The training loop: multi-scale batches, soft-target SSD loss, cosine schedule, checkpoints.

Re-running with the same output folder resumes from its newest checkpoint.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, replace
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from pi_vision.detection.model_file import TRAINED_SCALING
from pi_vision.training import checkpoint
from pi_vision.training.augment import AugmentConfig
from pi_vision.training.backbone_init import backbone_file, backbone_layer_names, fit_photos, load_backbone
from pi_vision.training.head_transfer import FIT_PHOTOS, FIT_SIZES, load_reference_head
from pi_vision.training.data.recipes import is_coco_scene
from pi_vision.training.loader import BatchLoader, ImageStore
from pi_vision.training.losses import dense_distillation_loss, detection_loss
from pi_vision.training.model import build_ssd
from pi_vision.training.model_spec import SSDConfig, zoo_anchor_spec
from pi_vision.training.train_config import TrainConfig
from pi_vision.training.width_transfer import NARROW_FIT_PHOTOS, NARROW_FIT_SIZE, narrow_model, widen_model

log = logging.getLogger(__name__)


def make_optimizer(config: TrainConfig, scale: float = 1.0, kind: str = "adamw") -> keras.optimizers.Optimizer:
    peak = config.learning_rate * scale
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=peak * 0.01, decay_steps=max(config.steps - config.warmup_steps, 1),
        alpha=0.02, warmup_target=peak, warmup_steps=config.warmup_steps)
    # Clipping guards the first steps, when random heads meet pretrained features.
    if kind == "sgd":
        return keras.optimizers.SGD(learning_rate=schedule, momentum=0.9, weight_decay=config.weight_decay,
                                    global_clipnorm=10.0)
    if kind != "adamw":
        raise ValueError(f"backbone_optimizer must be 'adamw' or 'sgd', not {kind!r}")
    return keras.optimizers.AdamW(learning_rate=schedule, weight_decay=config.weight_decay, global_clipnorm=10.0)


class Trainer:
    """Trains ``config`` on ``store``; ``self.config`` is the config as run (the exact checkpoint it
    started from, every augmentation setting), which checkpoints and the run record keep."""

    def __init__(self, config: TrainConfig, store: ImageStore):
        self.ssd = SSDConfig(config.alpha, len(config.class_names), zoo_anchor_spec(config.anchors_at),
                             config.class_loss)
        self.model = build_ssd(self.ssd)
        self._freeze_backbone(config.frozen_blocks)
        # Two parameter groups: the pretrained backbone at a lower rate, everything else.
        backbone = {id(v) for name in backbone_layer_names() for suffix in ("", "_bn")
                    for v in self.model.get_layer(name + suffix).trainable_weights}
        self._groups = [[v for v in self.model.trainable_variables if id(v) not in backbone],
                        [v for v in self.model.trainable_variables if id(v) in backbone]]
        self.optimizer = make_optimizer(config)
        self.backbone_optimizer = make_optimizer(config, config.backbone_lr_scale, config.backbone_optimizer)
        self.optimizer.build(self._groups[0])
        self.backbone_optimizer.build(self._groups[1])
        self.step = 0
        init_from = config.init_from
        ckpt = checkpoint.latest(config.out_dir / "checkpoints")
        if ckpt is not None:
            state = checkpoint.restore(ckpt, self.model, [self.optimizer, self.backbone_optimizer])
            self.step = state["step"]
            init_from = state.get("config", {}).get("init_from", init_from)
        elif init_from:
            source = checkpoint.latest(Path(init_from) / "checkpoints")
            if source is None:
                raise FileNotFoundError(f"--init-from {init_from}: no checkpoints/step_* in it")
            self._init_from(source)
            init_from = str(source)  # the exact checkpoint, for the model cards
        elif config.backbone != "random":
            rest = load_backbone(self.model, backbone_file(config.alpha, config.backbone))
            if config.head == "reference":
                photos = {size: fit_photos(FIT_PHOTOS, size) for size in FIT_SIZES}
                load_reference_head(self.model, self.ssd, rest, config.class_names, photos)
        self.distil_net = (self._load_distil_net(Path(config.distil_from), config.class_names)
                           if config.distil_from else None)
        # A resumed run draws fresh batches rather than replaying the ones it already saw.
        self.loader = BatchLoader(store, self.ssd.anchor_spec, self.ssd.num_classes, config.sizes,
                                  config.batch_size, seed=config.seed + self.step,
                                  augment=AugmentConfig(**config.augment), repeat_threshold=config.repeat_threshold,
                                  group=np.array([is_coco_scene(p) for p in store.paths]),
                                  group_share=config.scene_share)
        # Every augmentation setting, not only the overrides, so defaults can change later.
        self.config = replace(config, init_from=init_from, augment=asdict(self.loader.augment))
        self._train_step = tf.function(self._step, reduce_retracing=True)

    def _init_from(self, source: Path) -> None:
        """Load a checkpoint's weights; one of another alpha is widened or narrowed to this run's."""
        alpha = json.loads((source / checkpoint.STATE).read_text()).get("config", {}).get("alpha", self.ssd.alpha)
        if alpha == self.ssd.alpha:
            checkpoint.restore(source, self.model)
            return
        other = build_ssd(replace(self.ssd, alpha=alpha))
        checkpoint.restore(source, other)
        if alpha < self.ssd.alpha:
            widen_model(other, self.model)
        else:
            narrow_model(other, self.model, fit_photos(NARROW_FIT_PHOTOS, NARROW_FIT_SIZE))
        log.info("carried %s from alpha %g to %g", source, alpha, self.ssd.alpha)

    def _load_distil_net(self, run: Path, class_names: list[str]) -> keras.Model:
        """The network of ``run``'s newest checkpoint, frozen; its outputs must line up with ours."""
        source = checkpoint.latest(run / "checkpoints")
        if source is None:
            raise FileNotFoundError(f"--distil-from {run}: no checkpoints/step_* in it")
        config = json.loads((source / checkpoint.STATE).read_text()).get("config", {})
        # Outputs line up anchor by anchor and class by class only with the same anchors and classes;
        # the loss reads them as sigmoid scores, so both networks use the focal class loss.
        theirs = (config.get("anchors_at", 0) or None, config.get("class_names"), config.get("class_loss", "focal"))
        ours = (self.ssd.anchor_spec.scales_at, list(class_names), self.ssd.class_loss)
        if theirs != ours or ours[2] != "focal":
            raise ValueError(f"--distil-from {run}: its anchors, classes and class loss must match this run's "
                             f"and be the focal loss: anchors_at {theirs[0]} vs {ours[0]}, {len(theirs[1] or [])} "
                             f"vs {len(ours[1])} classes, {theirs[2]} vs {ours[2]}")
        network = build_ssd(replace(self.ssd, alpha=config.get("alpha", self.ssd.alpha)))
        checkpoint.restore(source, network)
        network.trainable = False
        log.info("distilling the dense outputs of %s (alpha %g)", source, config.get("alpha"))
        return network

    def _freeze_backbone(self, blocks: int) -> None:
        if blocks <= 0:
            return
        names = backbone_layer_names()[:1 + 2 * blocks]  # conv0, then a dw/pw pair per block
        for name in names:
            self.model.get_layer(name).trainable = False
            self.model.get_layer(name + "_bn").trainable = False
        log.info("backbone frozen up to block %d (%d layers)", blocks, len(names))

    def _step(self, images, class_targets, box_targets, box_weights, class_weights):
        x = (tf.cast(images, tf.float32) - TRAINED_SCALING.mean) / TRAINED_SCALING.std
        with tf.GradientTape() as tape:
            box_pred, logits = self.model(x, training=True)
            losses = detection_loss(box_pred, logits, box_targets, class_targets, box_weights, class_weights,
                                    box_loss_weight=self.config.box_loss_weight, class_loss=self.ssd.class_loss)
            if self.distil_net is not None:
                their_box, their_logits = self.distil_net(x, training=False)
                distil = dense_distillation_loss(box_pred, logits, their_box, their_logits,
                                                 tf.maximum(losses["positives"], 1.0), self.config.box_loss_weight)
                losses = losses | {"loss": losses["loss"] + self.config.distil_weight * distil,
                                   "distil_loss": distil}
        head, backbone = self._groups
        grads = tape.gradient(losses["loss"], head + backbone)
        self.optimizer.apply_gradients(zip(grads[:len(head)], head))
        if backbone:
            self.backbone_optimizer.apply_gradients(zip(grads[len(head):], backbone))
        return losses

    def save(self) -> Path:
        return checkpoint.save(self.config.out_dir / "checkpoints", self.model, [self.optimizer, self.backbone_optimizer], self.step,
                               {"config": self.config.to_json()})

    def _record_session(self) -> None:
        """Append this session (the step it starts at, its config) to the run record: a resumed
        run may train on other data or with another recipe than before."""
        path = self.config.out_dir / checkpoint.RUN_RECORD
        record = json.loads(path.read_text()) if path.exists() else {"sessions": []}
        record["sessions"].append({"from_step": self.step, "time": time.time(), "config": self.config.to_json()})
        path.write_text(json.dumps(record, indent=2))

    def run(self) -> None:
        config = self.config
        config.out_dir.mkdir(parents=True, exist_ok=True)
        self._record_session()
        metrics_file = (config.out_dir / "metrics.jsonl").open("a")
        window: list[dict] = []
        started, images_seen = time.time(), 0
        try:
            while self.step < config.steps:
                batch = self.loader.next()
                losses = self._train_step(batch.images, batch.class_targets, batch.box_targets,
                                          batch.box_weights, batch.class_weights)
                self.step += 1
                images_seen += len(batch.images)
                window.append({k: float(v) for k, v in losses.items()})
                if self.step % config.log_every == 0 or self.step == config.steps:
                    rate = images_seen / (time.time() - started)
                    mean = {k: float(np.mean([w[k] for w in window])) for k in window[0]}
                    lr = float(self.optimizer.learning_rate)
                    log.info("step %d/%d loss %.4f (cls %.4f box %.4f, %.0f pos) lr %.2e %.1f img/s", self.step,
                             config.steps, mean["loss"], mean["class_loss"], mean["box_loss"], mean["positives"], lr, rate)
                    metrics_file.write(json.dumps({"step": self.step, "time": time.time(), "lr": lr,
                                                   "images_per_s": rate} | mean) + "\n")
                    metrics_file.flush()
                    window = []
                if self.step % config.checkpoint_every == 0 or self.step == config.steps:
                    self.save()
        finally:
            metrics_file.close()
            self.loader.close()
