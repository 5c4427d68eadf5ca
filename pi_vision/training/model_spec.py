"""What fixes a zoo network besides its weights (no TensorFlow needed to read it)."""
from __future__ import annotations

from dataclasses import dataclass, field

from pi_vision.detection.anchors import AnchorSpec

# (pointwise depth, stride) of the 13 depthwise-separable blocks of MobileNet v1.
MOBILENET_V1_BLOCKS: tuple[tuple[int, int], ...] = (
    (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
    (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1),
)
# The block whose output is the feature map at each backbone stride.
BACKBONE_TAPS = {8: 5, 16: 11, 32: 13}
# Depth of the extra SSD layers that continue past stride 32, before alpha.
EXTRA_DEPTHS = (512, 256, 256, 128)


def zoo_anchor_spec(scales_at: int = 0) -> AnchorSpec:
    """Six maps, stride 8 to 256; the stride-8 map with small boxes is there for small objects.

    ``scales_at``: the input size the scales are fractions of, so that anchors keep their
    pixel size at every input size (AnchorSpec.scales_at); 0 makes them fractions of each
    input, as in runs trained before anchors kept their pixel size."""
    return AnchorSpec(strides=(8, 16, 32, 64, 128, 256), aspect_ratios=(1.0, 2.0, 0.5),
                      reduce_boxes_in_lowest_layer=False, scales=(0.06, 0.14, 0.28, 0.45, 0.65, 0.85),
                      scales_at=scales_at or None)


# Class losses: "focal" - one sigmoid per class (focal loss on soft targets); "softmax" - a
# softmax over background + classes with hard-negative mining, the original SSD recipe.
CLASS_LOSSES = ("focal", "softmax")


@dataclass(frozen=True)
class SSDConfig:
    alpha: float
    num_classes: int
    anchor_spec: AnchorSpec = field(default_factory=zoo_anchor_spec)
    class_loss: str = "focal"

    @property
    def num_logits(self) -> int:
        """Class logits per anchor: a softmax head also scores background (column 0)."""
        return self.num_classes + (1 if self.class_loss == "softmax" else 0)

    def depth(self, channels: int) -> int:
        # The TF-slim rule that the ImageNet checkpoints were built with.
        return max(int(channels * self.alpha), 8)
