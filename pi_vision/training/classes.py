"""The class numbering of the zoo models and its links to the other two numberings.

Zoo models use the 80 COCO classes as contiguous indexes 0..79 (line k of the packed
``labelmap.txt`` names output class k), ordered by COCO category id. The reference
model uses 90 slots, slot k = COCO category id k + 1; COCO JSON uses the ids themselves.
"""
from __future__ import annotations

import numpy as np

# (COCO category id, name) of the 80 classes COCO annotates, in id order.
COCO_CATEGORIES: tuple[tuple[int, str], ...] = (
    (1, "person"), (2, "bicycle"), (3, "car"), (4, "motorcycle"), (5, "airplane"), (6, "bus"),
    (7, "train"), (8, "truck"), (9, "boat"), (10, "traffic light"), (11, "fire hydrant"),
    (13, "stop sign"), (14, "parking meter"), (15, "bench"), (16, "bird"), (17, "cat"), (18, "dog"),
    (19, "horse"), (20, "sheep"), (21, "cow"), (22, "elephant"), (23, "bear"), (24, "zebra"),
    (25, "giraffe"), (27, "backpack"), (28, "umbrella"), (31, "handbag"), (32, "tie"),
    (33, "suitcase"), (34, "frisbee"), (35, "skis"), (36, "snowboard"), (37, "sports ball"),
    (38, "kite"), (39, "baseball bat"), (40, "baseball glove"), (41, "skateboard"),
    (42, "surfboard"), (43, "tennis racket"), (44, "bottle"), (46, "wine glass"), (47, "cup"),
    (48, "fork"), (49, "knife"), (50, "spoon"), (51, "bowl"), (52, "banana"), (53, "apple"),
    (54, "sandwich"), (55, "orange"), (56, "broccoli"), (57, "carrot"), (58, "hot dog"),
    (59, "pizza"), (60, "donut"), (61, "cake"), (62, "chair"), (63, "couch"), (64, "potted plant"),
    (65, "bed"), (67, "dining table"), (70, "toilet"), (72, "tv"), (73, "laptop"), (74, "mouse"),
    (75, "remote"), (76, "keyboard"), (77, "cell phone"), (78, "microwave"), (79, "oven"),
    (80, "toaster"), (81, "sink"), (82, "refrigerator"), (84, "book"), (85, "clock"), (86, "vase"),
    (87, "scissors"), (88, "teddy bear"), (89, "hair drier"), (90, "toothbrush"),
)

COCO80_NAMES: tuple[str, ...] = tuple(name for _, name in COCO_CATEGORIES)
COCO80_IDS: np.ndarray = np.array([cid for cid, _ in COCO_CATEGORIES], dtype=np.int64)


def reference_slots_for_coco80() -> np.ndarray:
    """Index into the reference model's 90 class slots for each of the 80 classes."""
    return COCO80_IDS - 1


def coco_id_to_index() -> dict[int, int]:
    """COCO category id -> contiguous index 0..79."""
    return {int(cid): i for i, cid in enumerate(COCO80_IDS)}
