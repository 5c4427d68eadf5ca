"""The result type of the complexity counters (kept free of TensorFlow)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Complexity:
    params: int
    mult_adds: int

    def describe(self) -> str:
        return f"{self.params / 1e6:.2f} M params, {self.mult_adds / 1e6:.1f} M mult-adds"
