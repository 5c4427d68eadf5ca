"""Percentiles of latencies: exact over a short window, bounded memory over a whole run."""
from __future__ import annotations

import math
from collections import deque

import numpy as np

PERCENTILES = (50, 95, 99)
# A window keeps its newest samples up to this many (a very long --log-interval must not
# grow memory without bound); 30 s at 30 fps is 900.
WINDOW_MAX_SAMPLES = 20_000


def summarize_ms(samples_s) -> dict[str, float]:
    """p50/p95/p99/max in milliseconds of a list of seconds (empty -> {})."""
    if len(samples_s) == 0:
        return {}
    values = np.asarray(samples_s, dtype=np.float64) * 1000.0
    p = np.percentile(values, PERCENTILES)
    return {**{f"p{q}": round(float(v), 2) for q, v in zip(PERCENTILES, p)}, "max": round(float(values.max()), 2)}


class LogHistogram:
    """Counts in geometric bins 1% wide from 1 us to 1000 s: a months-long run keeps a few
    KB per stage and its percentiles stay within 1%."""

    LOW_S = 1e-6
    GROWTH = 1.01
    BINS = int(math.log(1e9) / math.log(GROWTH)) + 2

    def __init__(self):
        self.counts = np.zeros(self.BINS, dtype=np.int64)
        self.total = 0
        self.max_s = 0.0

    def add(self, seconds: float) -> None:
        index = 0 if seconds <= self.LOW_S else int(math.log(seconds / self.LOW_S) / math.log(self.GROWTH)) + 1
        self.counts[min(index, self.BINS - 1)] += 1
        self.total += 1
        self.max_s = max(self.max_s, seconds)

    def percentile_s(self, q: float) -> float:
        rank = math.ceil(q / 100.0 * self.total)
        index = int(np.searchsorted(np.cumsum(self.counts), max(rank, 1)))
        # Report the bin's geometric middle, never above the true maximum.
        middle = self.LOW_S * self.GROWTH ** (index - 0.5) if index else self.LOW_S
        return min(middle, self.max_s)

    def summary_ms(self) -> dict[str, float]:
        if self.total == 0:
            return {}
        out = {f"p{q}": round(self.percentile_s(q) * 1000.0, 2) for q in PERCENTILES}
        out["max"] = round(self.max_s * 1000.0, 2)
        return out


class StageStats:
    """Seconds per named stage: exact over the current window, histograms over the run."""

    def __init__(self):
        self._window: dict[str, deque[float]] = {}
        self._run: dict[str, LogHistogram] = {}

    def add(self, stage: str, seconds: float) -> None:
        self._window.setdefault(stage, deque(maxlen=WINDOW_MAX_SAMPLES)).append(seconds)
        self._run.setdefault(stage, LogHistogram()).add(seconds)

    def window_ms(self) -> dict[str, dict[str, float]]:
        """p50/p95/p99/max per stage since the previous call, which starts a new window."""
        out = {stage: summarize_ms(v) for stage, v in self._window.items() if v}
        self._window = {stage: deque(maxlen=WINDOW_MAX_SAMPLES) for stage in self._window}
        return out

    def run_ms(self) -> dict[str, dict[str, float]]:
        return {stage: h.summary_ms() for stage, h in self._run.items()}
