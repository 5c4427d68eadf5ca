#!/usr/bin/env python3
"""How often a model finds each photo of the demo scene (through the app: detector + tracker).

    python scripts/demo_hits.py                      # the shipped default model
    python scripts/demo_hits.py --model ../shared/data/reference/coco_ssd_mobilenet_v1_1.0_quant.tflite
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pi_vision.config import Config, from_dict  # noqa: E402
from pi_vision.demo_check import demo_hit_rates  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=Config().detector.model)
    parser.add_argument("--duration", type=float, default=12.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    rates = demo_hit_rates(from_dict({"detector": {"model": args.model}}), args.duration)
    print(f"{args.model}: " + ", ".join(f"{cls} {share:.0%}" for cls, share in rates.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
