"""Compare mode's latencies against each variant run alone, side by side in one run.

Each round runs the app once in compare mode (every variant on every frame) and once per
variant alone, on the same video, threads and frame count; the rounds interleave so that
machine noise hits both alike. For each variant it prints the invoke p50 in compare mode,
alone, and their ratio (median over rounds), then the compare table of the last round as
the app logs it. The point: compare mode must not distort what it measures.

    pi-vision-bench-compare --models ssd_mbv1_0.25_128 ssd_mbv1_0.5_160 REFERENCE \
        --source ../shared/data/videos/vtest.avi
"""
from __future__ import annotations

import argparse
import logging
import statistics
import sys


from pi_vision import app
from pi_vision.detection.compare import format_table
from pi_vision.config import Config, DetectorConfig, MonitorConfig, RunConfig, SourceConfig
from pi_vision.errors import UserError
from pi_vision.paths import reference_model


def main() -> int:
    p = argparse.ArgumentParser(prog="pi-vision-bench-compare", description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", required=True,
                   help="model names or paths; REFERENCE stands for the reference COCO model")
    p.add_argument("--source", required=True, help="a video file")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--frames", type=int, default=150, help="frames per run")
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    models = tuple(str(reference_model()) if m == "REFERENCE" else m for m in args.models)
    if len(models) < 2:
        print("bench_compare: give at least two --models", file=sys.stderr)
        return 2

    def config(**detector) -> Config:
        return Config(source=SourceConfig(spec=args.source, loop=True),
                      detector=DetectorConfig(threads=args.threads, **detector),
                      monitor=MonitorConfig(log_interval=1e9), run=RunConfig(max_frames=args.frames))

    compared: dict[str, list[float]] = {}
    alone: dict[str, list[float]] = {}
    try:
        for round_ in range(args.rounds):
            summary = app.run(config(model=models[0], compare=models))
            table = summary["variants"]
            for row in table:
                compared.setdefault(row["model"], []).append(row["invoke_ms"]["p50"])
            for model in models:
                single = app.run(config(model=model))
                alone.setdefault(single["model"], []).append(single["ms"]["invoke"]["p50"])
            print(f"round {round_ + 1}: " + ", ".join(
                f"{name} {compared[name][-1]:.2f}/{alone[name][-1]:.2f} ms" for name in compared), flush=True)
    except UserError as e:
        print(f"bench_compare: {e}", file=sys.stderr)
        return 2

    print(f"\n{args.frames} frames x {args.rounds} rounds, {args.threads} threads, {args.source}")
    print(f"{'model':<34} {'compare p50':>11} {'alone p50':>9} {'ratio':>6}")
    worst = 0.0
    for name in compared:
        ratios = [c / a for c, a in zip(compared[name], alone[name])]
        worst = max(worst, abs(statistics.median(ratios) - 1))
        print(f"{name:<34} {statistics.median(compared[name]):>11.2f} {statistics.median(alone[name]):>9.2f} "
              f"{statistics.median(ratios):>6.3f}")
    print("\ncompare table of the last round (whole run):")
    print("\n".join(format_table(table)))
    print(f"\nlargest |ratio - 1| {worst:.3f} (goal <= 0.10)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
