"""CPU load, CPU temperature and Raspberry Pi throttling, where the OS exposes them."""
from __future__ import annotations

import logging
import os
import shutil
import subprocess
import time
from pathlib import Path

log = logging.getLogger(__name__)

THERMAL_DIR = Path("/sys/class/thermal")
PROC_STAT = Path("/proc/stat")

# Bits of `vcgencmd get_throttled`: now (0-3) and since boot (16-19).
THROTTLE_BITS = {
    0: "under-voltage", 1: "arm-freq-capped", 2: "throttled", 3: "soft-temp-limit",
    16: "under-voltage-occurred", 17: "arm-freq-capped-occurred", 18: "throttled-occurred",
    19: "soft-temp-limit-occurred",
}


def decode_throttled(value: int) -> list[str]:
    return [name for bit, name in THROTTLE_BITS.items() if value & (1 << bit)]


def _cpu_thermal_zone() -> Path | None:
    zones = sorted(THERMAL_DIR.glob("thermal_zone*"))
    for zone in zones:  # prefer the CPU's own sensor (Pi: cpu-thermal; x86: x86_pkg_temp)
        try:
            if any(k in (zone / "type").read_text() for k in ("cpu", "x86_pkg", "soc")):
                return zone / "temp"
        except OSError:
            continue
    return zones[0] / "temp" if zones else None


def _read_proc_stat() -> tuple[int, int] | None:
    """(busy, total) jiffies of all CPUs since boot."""
    try:
        fields = [int(v) for v in PROC_STAT.read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields) - idle, sum(fields)


class SystemStats:
    """Call ``sample()`` once per log interval; each figure is omitted where unavailable."""

    def __init__(self):
        self._thermal = _cpu_thermal_zone()
        self._vcgencmd = shutil.which("vcgencmd")
        self._start_stat = self._last_stat = _read_proc_stat()
        self._start_times = self._last_times = (time.monotonic(), sum(os.times()[:2]))

    def sample(self, whole_run: bool = False) -> dict:
        """Figures since the previous sample, or since start with ``whole_run``."""
        out: dict = {}
        stat = _read_proc_stat()
        before = self._start_stat if whole_run else self._last_stat
        if stat and before and stat[1] > before[1]:
            out["cpu_percent"] = round(100.0 * (stat[0] - before[0]) / (stat[1] - before[1]), 1)
        self._last_stat = stat
        now, cpu = time.monotonic(), sum(os.times()[:2])
        then, cpu_then = self._start_times if whole_run else self._last_times
        if now > then:
            # Percent of one core, as top shows it: 200 = two cores busy.
            out["process_cpu_percent"] = round(100.0 * (cpu - cpu_then) / (now - then), 1)
        self._last_times = (now, cpu)
        if self._thermal is not None:
            try:
                out["cpu_temp_c"] = round(int(self._thermal.read_text()) / 1000.0, 1)
            except (OSError, ValueError):
                pass
        if self._vcgencmd:
            try:
                text = subprocess.run([self._vcgencmd, "get_throttled"], capture_output=True, text=True,
                                      timeout=2).stdout
                value = int(text.strip().split("=")[1], 16)
                out["throttled"] = decode_throttled(value)
            except (OSError, IndexError, ValueError, subprocess.TimeoutExpired):
                pass
        return out
