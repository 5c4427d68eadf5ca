"""Summarise an events file: frames, distinct track IDs, track lengths, objects per class.

    pi-vision-events-summary events.jsonl [more.jsonl ...]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import Counter, defaultdict


def summarise(path: str) -> dict:
    frames = 0
    seen: dict[int, list[int]] = defaultdict(list)  # track id -> seqs it was reported in
    labels: dict[int, str] = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            event = json.loads(line)
            frames += 1
            for obj in event["objects"]:
                if obj["id"] >= 0:
                    seen[obj["id"]].append(event["seq"])
                    labels[obj["id"]] = obj["label"]
    # A track's length: frames from its first to its last report.
    lengths = [max(seqs) - min(seqs) + 1 for seqs in seen.values()]
    return {
        "file": path,
        "frames": frames,
        "distinct_ids": len(seen),
        "median_track_length": statistics.median(lengths) if lengths else 0,
        "tracks_longer_than_50": sum(n > 50 for n in lengths),
        "ids_per_class": dict(Counter(labels.values()).most_common()),
    }


def main() -> int:
    p = argparse.ArgumentParser(prog="pi-vision-events-summary", description=__doc__.split("\n\n")[0])
    p.add_argument("events", nargs="+")
    for path in p.parse_args().events:
        print(json.dumps(summarise(path)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
