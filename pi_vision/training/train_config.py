"""What a training run does, each setting described once (its flag in pi-vision-train too).

Free of TensorFlow, so ``pi-vision-train --help`` and bad flags answer at once.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal, get_args

from pi_vision.settings import SettingError, setting, validate


# The reference SSD's feature extractor is "ssd_mobilenet_v1_0.75_depth" (conv0 has 24 filters).
REFERENCE_ALPHA = 0.75
# Narrower than this, too few of its channels would be left to start from.
MIN_REFERENCE_ALPHA = 0.5
BackboneSource = Literal["imagenet", "reference", "random"]
BACKBONE_SOURCES = get_args(BackboneSource)


def _probability(v: float | None) -> bool:
    return v is None or 0.0 <= v <= 1.0


@dataclass
class TrainConfig:
    alpha: float = setting(0.5, "width multiplier of the MobileNet v1 backbone", check=lambda v: v > 0, must="> 0",
                           flag="--alpha")
    class_names: list[str] = setting(default_factory=list, help="output classes, line k = class k")
    out_dir: Path = setting(Path("runs/train"), "run folder: checkpoints, logs, run record", flag="--out")
    sizes: list[int] = setting(default_factory=lambda: [128, 160, 192, 224], help="input sizes, one per batch",
                               flag="--sizes")
    batch_size: int = setting(32, "images per batch", check=lambda v: v >= 1, must=">= 1", flag="--batch-size")
    steps: int = setting(10000, "training steps (re-running resumes up to this)", check=lambda v: v >= 1,
                         must=">= 1", flag="--steps")
    learning_rate: float = setting(2e-3, "peak learning rate of the head", check=lambda v: v > 0, must="> 0",
                                   flag="--lr")
    warmup_steps: int = setting(300, "linear warm-up steps before the cosine decay", check=lambda v: v >= 0,
                                must=">= 0", flag="--warmup")
    weight_decay: float = setting(1e-4, "decoupled weight decay")
    checkpoint_every: int = setting(250, "steps between checkpoints", check=lambda v: v >= 1, must=">= 1",
                                    flag="--checkpoint-every")
    log_every: int = setting(25, "steps between log lines", check=lambda v: v >= 1, must=">= 1", flag="--log-every")
    seed: int = setting(0, "seed of the batch sampler")
    backbone: BackboneSource = setting(
        "imagenet", "where the backbone's first weights come from: the ImageNet classifier of this alpha, the "
        "reference COCO SSD's feature extractor (alpha 0.75, carried to alpha 0.5 or 1.0), or random", flag="--backbone")
    head: Literal["random", "reference"] = setting(
        "random", "where the extra layers and predictors start: random, or the reference COCO SSD's (alpha 0.75 "
        "with --backbone reference; see pi_vision/training/head_transfer.py)", flag="--head")
    # With a few thousand images, fine-tuning the whole backbone overwrites what its pretraining taught it.
    frozen_blocks: int = setting(0, "keep conv0 and the first N of the 13 backbone blocks at their pretrained weights",
                                 check=lambda v: 0 <= v <= 13, must="in 0..13", flag="--frozen-blocks")
    # Adam's step size does not depend on the gradient's scale, so at the full rate the ImageNet
    # features are gone within a few thousand steps (measured: ImageNet top-1 fell to 1/100).
    backbone_lr_scale: float = setting(0.1, "learning rate of the pretrained backbone as a fraction of --lr",
                                       check=lambda v: v >= 0, must=">= 0", flag="--backbone-lr-scale")
    # SGD's steps shrink with the gradient, Adam's do not.
    backbone_optimizer: Literal["adamw", "sgd"] = setting(
        "adamw", "optimizer of the trainable backbone blocks (sgd: momentum 0.9)", flag="--backbone-optimizer")
    class_loss: Literal["focal", "softmax"] = setting(
        "focal", "focal: sigmoid per class on soft targets; softmax: background + classes with hard-negative "
        "mining (the original SSD)", flag="--class-loss")
    # Adam makes it irrelevant for the separate box and class predictors; it sets how the shared
    # backbone and extra layers trade the two.
    box_loss_weight: float = setting(1.0, "weight of the box loss against the class loss", check=lambda v: v >= 0,
                                     must=">= 0", flag="--box-loss-weight")
    # Trained at several input sizes, a network sees a 30-pixel person as 0.23 of a 128 input and
    # as 0.13 of a 224 one; with anchors that are fractions of the input it cannot tell which
    # to predict and learns the average: measured, boxes 1.45x too large at 224, too small at 128.
    anchors_at: int = setting(224, "input size the anchor scales are fractions of; anchors keep that pixel size "
                              "at every input size (0: fractions of each input size)", check=lambda v: v >= 0,
                              must=">= 0", flag="--anchors-at", metavar="SIZE")
    # Overrides of AugmentConfig's fields, e.g. {"mosaic_probability": 0.0}.
    augment: dict = setting(default_factory=dict, help="augmentation settings (AugmentConfig's fields)")
    # What the store was built from (recipe, image count), recorded for the model cards.
    data: dict = setting(default_factory=dict, help="what the training set was made of")
    repeat_threshold: float = setting(
        0.0, "repeat-factor sampling: images with classes seen in fewer than this fraction of images are drawn "
        "more often (e.g. 0.05; 0 = uniform)", check=lambda v: v >= 0, must=">= 0", flag="--repeat-threshold")
    scene_share: float | None = setting(
        None, "share of the draws from the COCO scene photos (unlabeled/coco_train2014_256); default: their "
        "natural share", check=_probability, must="in 0..1", flag="--scene-share")
    # The weights only, not the optimizer or step: to go on training a finished run with a new recipe.
    init_from: str | None = setting(None, "start from the weights of this run folder's newest checkpoint "
                                    "(a run of another alpha is widened or narrowed to this one)",
                                    flag="--init-from", metavar="RUN")

    # A narrowed network keeps 40% of its parent's score and does not win it back from the
    # teacher labels alone; the parent's dense outputs say more per image than those labels.
    distil_from: str | None = setting(None, "also learn the dense outputs (every anchor and class) of this run's "
                                      "newest checkpoint, a wider network with the same anchors and classes",
                                      flag="--distil-from", metavar="RUN")
    distil_weight: float = setting(1.0, "weight of the dense distillation loss against the teacher-label loss",
                                   check=lambda v: v >= 0, must=">= 0", flag="--distil-weight")

    def __post_init__(self) -> None:
        self.out_dir = Path(self.out_dir)
        validate(self)
        if self.backbone == "reference" and self.alpha < MIN_REFERENCE_ALPHA:
            raise SettingError("backbone", f"--backbone reference (a MobileNet v1 at alpha {REFERENCE_ALPHA:g}) "
                               f"narrows to alpha {MIN_REFERENCE_ALPHA:g} at most, not {self.alpha:g}: "
                               "use --backbone imagenet")
        if self.head == "reference" and (self.backbone != "reference" or self.alpha != REFERENCE_ALPHA):
            raise SettingError("head", f"--head reference needs --backbone reference and --alpha {REFERENCE_ALPHA:g} "
                               f"(the reference's own widths), not --backbone {self.backbone} --alpha {self.alpha:g}")

    def to_json(self) -> dict:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self).items()}
