"""Cortex-A72 cost model: exact instructions per invoke under qemu, calibrated to Pi 4 ms.

Counts the guest instructions of one ``invoke()`` of every model at 1 thread under
``qemu-aarch64 -cpu cortex-a72`` with a TCG plugin (research/qemu_insn_plugin) that counts
only between two marker syscalls, in the arm64 root of research/arm64_check.sh. Then
turns instructions into predicted Raspberry Pi 4 milliseconds with an effective IPC
fitted on published Pi 4 figures, and writes docs/a72_cost_model.md (method, tables,
how to reproduce). Everything in the tables comes from the counts of this run and the
published figures in PUBLISHED below.

Usage (as root; the emulation needs mount namespaces and chroot):
    .venv/bin/python -m research.a72_cost_model                 # reference + every models/*.tflite
    .venv/bin/python -m research.a72_cost_model --model PATH    # (repeatable) instead of the default set
    .venv/bin/python -m research.a72_cost_model --from-json F   # recompute the doc from a saved run
"""
from __future__ import annotations

import argparse
import fcntl
import json
import math
import os
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ROOT = Path(os.environ.get("PI_VISION_ARM64_ROOT", "/var/cache/pi-vision/arm64-bookworm"))
LOCK = Path(os.environ.get("PI_VISION_ARM64_OUT", "/var/cache/pi-vision/arm64-out")) / ".lock"
OUT = Path(os.environ.get("PI_VISION_A72_OUT", "/var/cache/pi-vision/a72-cost"))
DATA = Path(os.environ.get("PI_VISION_DATA", REPO.parent / "shared" / "data"))
MODELS = Path(os.environ.get("PI_VISION_MODELS", REPO / "models"))
VENV = "/opt/pi-vision-venv"
CPU = "cortex-a72"  # the Pi 4's core; XNNPACK picks other kernels on other cores
DOC = REPO / "docs" / "a72_cost_model.md"
# Predicted Pi 4 times per model, read by pi-vision-benchmark for docs/benchmarks.md.
PREDICTIONS = REPO / "docs" / "a72_predictions.json"
REFERENCE_NAME = "coco_ssd_mobilenet_v1_1.0_quant"


class UsageError(Exception):
    """Bad input: reported on one line, exit code 2."""


# ---------------------------------------------------------------- published figures
@dataclass(frozen=True)
class Published:
    value: float
    source: str


PUBLISHED = {
    # The reference model itself (detect.tflite of the TFLite example = coco_ssd_mobilenet_v1_1.0_quant),
    # TFLite C++, 4 threads, Pi 4 overclocked, 64-bit OS.
    "ref_fps_4t": Published(24.0, "Qengineering/TensorFlow_Lite_SSD_RPi_64-bits README: 24 FPS, 4 threads"),
    "ref_clock_mhz": Published(1925.0, "same source: Pi 4 overclocked to 1925 MHz"),
    # Not fitted, shown beside the prediction: a network of the same family and width.
    "aallan_ms": Published(82.7, "aallan/benchmarking-ml-on-the-edge: SSD MobileNet v1 0.75 depth 300, "
                                 "Pi 4, 82.7 ms (threads not stated)"),
    # NobuoTsukamoto/benchmarks, TFLite 2.5, Pi 4 64-bit, SSDLite MobileNet v2 300.
    "int8_1t_ms": Published(168.0, "NobuoTsukamoto/benchmarks: SSDLite MobileNet v2 INT8, 1 thread, 168 ms"),
    "int8_4t_ms": Published(57.0, "same: INT8, 4 threads, 57 ms"),
    "fp32_1t_ms": Published(210.0, "same: FP32, 1 thread, 210 ms"),
    "fp32_4t_ms": Published(110.0, "same: FP32, 4 threads, 110 ms"),
    "stock_clock_mhz": Published(1500.0, "Raspberry Pi 4 Model B: Cortex-A72 at 1.5 GHz"),
}


# ---------------------------------------------------------------- calibration (pure)
@dataclass(frozen=True)
class Calibration:
    clock_hz: float
    ref_ms_1t: float          # the reference at 1 thread, stock clock, derived from the published figure
    ipc_quant: float          # effective instructions per cycle of the quantized kernels
    ipc_float: float | None   # of the float kernels (None: no float/int8 pair was counted)
    float_pairs: tuple[str, ...]
    scaling_quant: float      # 1 -> 4 thread speed-up
    scaling_float: float


def calibrate(ref_instructions: int, pairs: list[tuple[str, int, int]], published=PUBLISHED) -> Calibration:
    """Fit the effective IPCs.

    ``pairs``: (name, int8 instructions, float instructions) of the same network in both
    precisions. The reference's 4-thread FPS at its overclock becomes stock-clock time
    (time ~ 1/f: compute-bound), then 1-thread time with the published int8 1->4 thread
    speed-up; the quantized IPC makes the counted instructions take that long. The float
    IPC makes each pair's float model take (published FP32/INT8 time ratio at 1 thread)
    times its int8 twin's predicted time; several pairs are averaged geometrically.
    """
    p = {k: v.value for k, v in published.items()}
    clock = p["stock_clock_mhz"] * 1e6
    scaling_quant = p["int8_1t_ms"] / p["int8_4t_ms"]
    scaling_float = p["fp32_1t_ms"] / p["fp32_4t_ms"]
    ref_ms_4t = 1000.0 / p["ref_fps_4t"] * p["ref_clock_mhz"] / p["stock_clock_mhz"]
    ref_ms_1t = ref_ms_4t * scaling_quant
    ipc_quant = ref_instructions / (ref_ms_1t / 1000.0 * clock)
    float_over_int8 = p["fp32_1t_ms"] / p["int8_1t_ms"]
    ipcs = []
    for _, n_int8, n_float in pairs:
        int8_s = n_int8 / (ipc_quant * clock)
        ipcs.append(n_float / (float_over_int8 * int8_s * clock))
    ipc_float = math.exp(sum(map(math.log, ipcs)) / len(ipcs)) if ipcs else None
    return Calibration(clock, ref_ms_1t, ipc_quant, ipc_float, tuple(name for name, _, _ in pairs),
                       scaling_quant, scaling_float)


def predict_ms(instructions: int, is_float: bool, cal: Calibration) -> tuple[float, float]:
    """Predicted Pi 4 ms per invoke at (1 thread, 4 threads)."""
    ipc = cal.ipc_float if is_float and cal.ipc_float is not None else cal.ipc_quant
    ms_1t = instructions / (ipc * cal.clock_hz) * 1000.0
    return ms_1t, ms_1t / (cal.scaling_float if is_float else cal.scaling_quant)


def float_pairs(models: list[dict]) -> list[tuple[str, int, int]]:
    """Same-network pairs: ``X`` (quantized) and ``X_float`` both counted."""
    by_name = {m["model"]: m for m in models}
    pairs = []
    for name, m in sorted(by_name.items()):
        twin = by_name.get(f"{name}_float")
        if twin and m["precision"] != "float32" and twin["precision"] == "float32":
            pairs.append((name, instruction_count(m), instruction_count(twin)))
    return pairs


# Consecutive invokes differ by up to a few hundred instructions in a few hundred
# million: glibc's malloc and CPython's allocator take paths that depend on the heap's
# state (found with the plugin's profile=). More than this is not that, and refused.
MAX_SPREAD = 1e-4


def instruction_count(model: dict) -> int:
    """The model's instructions per invoke: the median of its counted invokes."""
    counts = sorted(model["invoke_counts"])
    half = len(counts) // 2
    median = counts[half] if len(counts) % 2 else (counts[half - 1] + counts[half]) // 2
    if (counts[-1] - counts[0]) > MAX_SPREAD * median:
        raise ValueError(f"{model['model']}: invokes counted {model['invoke_counts']}, more than "
                         f"{MAX_SPREAD:g} apart; something in the invoke is not deterministic")
    return median


def spread(model: dict) -> int:
    return max(model["invoke_counts"]) - min(model["invoke_counts"])


# ---------------------------------------------------------------- the document (pure)
def _fmt_int(n: int) -> str:
    return f"{n:,}".replace(",", " ")


def table_rows(runs: list[dict], cal: Calibration) -> list[list[str]]:
    """One row per counted model; the rows of later runs (repeats) are marked."""
    rows = []
    for run_index, run in enumerate(runs):
        for m in run["models"]:
            n = instruction_count(m)
            is_float = m["precision"] == "float32"
            ms1, ms4 = predict_ms(n, is_float, cal)
            name = m["model"] + (f" (run {run_index + 1}, fresh process)" if run_index else "")
            published = ""
            if m["model"] == REFERENCE_NAME:
                fps, mhz = PUBLISHED["ref_fps_4t"].value, PUBLISHED["ref_clock_mhz"].value
                stock = PUBLISHED["stock_clock_mhz"].value
                published = (f"{fps:g} FPS at 4 thr at {mhz:g} MHz = {fps * stock / mhz:.1f} at {stock:g} "
                             f"(the fit); {PUBLISHED['aallan_ms'].value:g} ms (aallan, 0.75 depth, thr?)")
            rows.append([
                # Without XNNPACK the model ran on TFLite's reference kernels: not what the Pi runs.
                name, m["precision"] + ("" if m.get("xnnpack_partitions", 1) else " (no XNNPACK!)"), m["input"], f"{m['mult_adds'] / 1e6:.0f}", _fmt_int(n),
                f"{n / m['mult_adds']:.3f}", f"{spread(m)} ({len(m['invoke_counts'])} invokes)",
                f"{ms1:.1f}", f"{1000 / ms1:.1f}", f"{ms4:.1f}", f"{1000 / ms4:.1f}", published,
            ])
    return rows


HEADER = ["model", "precision", "input", "M mult-adds", "instructions / invoke (median)", "instr. / MAC",
          "max - min", "Pi 4 ms, 1 thr", "FPS, 1 thr", "Pi 4 ms, 4 thr", "FPS, 4 thr", "published"]


def predictions(runs: list[dict], cal: Calibration) -> dict:
    """Per model of the first run: instructions and predicted Pi 4 ms at 1 and 4 threads."""
    out = {}
    for m in runs[0]["models"]:
        n = instruction_count(m)
        ms1, ms4 = predict_ms(n, m["precision"] == "float32", cal)
        out[m["model"]] = {"instructions": n, "pi4_ms_1_thread": round(ms1, 2), "pi4_ms_4_threads": round(ms4, 2)}
    return {"method": "guest instructions per invoke under qemu -cpu cortex-a72, calibrated to Pi 4 ms with "
                      "published figures; see docs/a72_cost_model.md", "date": runs[0].get("date"), "models": out}


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def render_doc(runs: list[dict], cal: Calibration, command: str) -> str:
    first = runs[0]
    models = first["models"]
    p = {k: v.value for k, v in PUBLISHED.items()}
    ref = next((m for m in models if m["model"] == REFERENCE_NAME), None)
    ref_ms1 = predict_ms(instruction_count(ref), False, cal)[0] if ref else None
    walls = markdown_table(
        ["model", "file", "process s (start to exit)", "load s", "s per counted invoke", "other-thread instructions"],
        [[m["model"] + (" (repeat)" if i else ""), "`" + m["path"].replace("/pi-vision/repo/", "").replace(
            "/pi-vision/data/", "$PI_VISION_DATA/").replace("/pi-vision/models/", "models/") + "`",
          f"{m.get('process_wall_s', float('nan')):.0f}", f"{m['load_s']:.1f}",
          " / ".join(f"{w:.2f}" for w in m["invoke_wall_s"]), str(max(m["other_thread_counts"]))]
         for i, run in enumerate(runs) for m in run["models"]])
    repeat_note = ""
    if len(runs) > 1:
        again = runs[1]["models"][0]
        before = next(m for m in models if m["model"] == again["model"])
        same = before["raw_counts"] == again["raw_counts"] and before["marker_overhead"] == again["marker_overhead"]
        worst = max(abs(a - b) for a, b in zip(before["raw_counts"], again["raw_counts"]))
        repeat_note = (f"The repeat of `{again['model']}` in a fresh process counted "
                       f"{', '.join(_fmt_int(c) for c in again['invoke_counts'])} against "
                       f"{', '.join(_fmt_int(c) for c in before['invoke_counts'])} in the first: "
                       + ("**identical, invoke by invoke, to the instruction**." if same else
                          f"**not identical** (largest difference "
                          f"{worst} instructions)."))
    float_note = (f"fitted on {', '.join(cal.float_pairs)} (int8 and float twins of the same network)"
                  if cal.ipc_float is not None else
                  "no int8/float pair of the same network was counted, so float rows use the quantized "
                  "IPC and are not float-calibrated")
    goal = [m for m in models if m["model"].startswith("ssd_mbv1_0.5_160")]
    goal_lines = []
    for m in goal:
        ms1, ms4 = predict_ms(instruction_count(m), m["precision"] == "float32", cal)
        goal_lines.append(f"- `{m['model']}` ({m['precision']}): {1000 / ms4:.0f} FPS at 4 threads "
                          f"({ms4:.1f} ms), {1000 / ms1:.0f} FPS at 1 thread; goal >= 60 FPS at 4 threads: "
                          f"{'met' if 1000 / ms4 >= 60 else 'not met'} by this prediction.")
    if ref:
        ms1, ms4 = predict_ms(instruction_count(ref), False, cal)
        goal_lines.append(f"- reference `{REFERENCE_NAME}`: {1000 / ms4:.0f} FPS at 4 threads ({ms4:.1f} ms; "
                          f"the calibration point), {1000 / ms1:.1f} FPS at 1 thread.")
    if not goal:
        goal_lines.insert(0, "- `ssd_mbv1_0.5_160` was not in `models/` when this was counted.")
    alt = ""
    if ref_ms1:
        # The other published figure, if it were a 1-thread time at stock clock: how much faster
        # every prediction would be.
        alt = (f"If aallan's {p['aallan_ms']:g} ms (same family, 0.75 width, 300x300; threads not stated) "
               f"were the reference's 1-thread time, every prediction would be {ref_ms1 / p['aallan_ms']:.2f}x "
               f"faster than in the table; read the table as the conservative end.")
    return f"""# Cortex-A72 cost model: instructions per invoke, predicted Pi 4 latency

Generated by `research/a72_cost_model.py` from a run on {first.get('date', '?')}; do not edit by hand.

## What is measured

Every model's `invoke()` at **1 thread**, under `qemu-aarch64 -cpu {CPU}` (QEMU
{first.get('qemu', '?')}, Debian's dynamic `qemu-user`) in the arm64 Debian 12 root of
`research/arm64_check.sh` (ai-edge-litert with XNNPACK, the Pi 4 `/proc/cpuinfo`; guest
HWCAP {first['hwcap']}: no dot product, as on the Pi; qemu's A72 also offers the crypto
extension, which the Pi's BCM2711 lacks and no TFLite kernel uses; CPU part {first['cpu_part']}). The TCG plugin in
`research/qemu_insn_plugin/` counts the guest instructions the calling thread executes
between two marker syscalls around the interpreter's `Invoke` (the native binding
that `Interpreter.invoke()` calls after a Python-level reference check of a few thousand
instructions, left out because CPython's specializer made its count drift); the guest program
`research/count_invoke.py` sets a real input (frame {first['frame']} of `vtest.avi`
through the app's `detect_image`), warms up outside the markers, subtracts the fixed
cost of an empty marker pair, and counts {len(models[0]['invoke_counts']) if models else 0}
invokes per model, each model in a fresh emulated process started the same way (no
ASLR, a fixed Python hash seed). The plugin counts exactly; what varies is the program:
consecutive invokes in one process may differ by a few instructions (here at most
{max(spread(m) for run in runs for m in run["models"])}; the "max - min" column), because glibc's malloc and CPython's
allocator take paths that depend on the heap's state (located with the plugin's
`profile=` option; decoding and resizing the input frame single-threaded removed most of
it). The table gives the median. A process started the same way repeats every count:
the first model was counted again (the "(run 2, fresh process)" row).
{repeat_note}
Separate invocations of the script, minutes apart, have given the reference counts a few
hundred instructions apart (about 1 ppm); the last digits are not a property of the model.
Mult-adds come from `pi_vision.detection.model_cost.graph_cost`.

The CPU model is pinned because XNNPACK chooses its micro-kernels from the CPU it
detects: on a core with dot-product instructions (A76, `max`) it would run other code.

## Instructions per invoke and predicted Raspberry Pi 4 latency

{markdown_table(HEADER, table_rows(runs, cal))}

Predicted Pi 4 FPS is 1000 / predicted invoke ms (the network alone, no capture or
post-processing in Python).

{chr(10).join(goal_lines)}

## Calibration (instructions -> Pi 4 ms)

ms = instructions / (IPC x f), f = {p['stock_clock_mhz']:g} MHz (stock Pi 4), with an
effective IPC fitted on published Pi 4 figures:

1. **Quantized IPC** from the reference model itself: {p['ref_fps_4t']:g} FPS at 4
   threads at {p['ref_clock_mhz']:g} MHz ({PUBLISHED['ref_fps_4t'].source}) is
   {1000 / p['ref_fps_4t']:.1f} ms; at {p['stock_clock_mhz']:g} MHz, assuming time ~ 1/f
   (compute-bound), {1000 / p['ref_fps_4t'] * p['ref_clock_mhz'] / p['stock_clock_mhz']:.1f} ms; at 1 thread,
   with the published INT8 1 -> 4 thread speed-up {p['int8_1t_ms']:g}/{p['int8_4t_ms']:g} =
   {cal.scaling_quant:.2f}x ({PUBLISHED['int8_1t_ms'].source}), **{cal.ref_ms_1t:.1f} ms**.
   IPC = reference instructions / ({cal.ref_ms_1t:.1f} ms x f) = **{cal.ipc_quant:.3f}**.
   The reference's 4-thread row reproduces the published figure by construction; it is
   the calibration point, not a test. uint8 (the reference) and int8 (ours) share it.
2. **Float IPC**: on the Pi, the same network (SSDLite MobileNet v2) takes
   {p['fp32_1t_ms']:g} ms in FP32 and {p['int8_1t_ms']:g} ms in INT8 at 1 thread
   ({p['fp32_1t_ms'] / p['int8_1t_ms']:.2f}x). The float IPC is the one that makes each float model take
   that ratio times its int8 twin's predicted time: {float_note}:
   **{f"{cal.ipc_float:.3f}" if cal.ipc_float is not None else "n/a"}**.
3. **4 threads** = 1-thread time / the published speed-up of the same precision:
   {cal.scaling_quant:.2f}x for quantized, {p['fp32_1t_ms']:g}/{p['fp32_4t_ms']:g} =
   {cal.scaling_float:.2f}x for float (TFLite 2.5, SSDLite MobileNet v2 300).

**Uncertainty.** The instruction counts are measured (to the "max - min" column); the
milliseconds are a model.
- The IPC is assumed the same for every model of a precision. Small models (160x160,
  0.5 width) keep their working set in the A72's 1 MB L2 and may run at a higher IPC
  than the 300x300 reference, so their predictions lean pessimistic; they also spend a
  larger share in per-op overhead, which the instruction count does capture.
- The anchor is another runtime (Qengineering's TFLite C++ build, not ai-edge-litert's
  XNNPACK), and its clock conversion assumes compute-bound time; if the overclock had
  bought nothing (memory-bound), every time here is {p['ref_clock_mhz'] / p['stock_clock_mhz']:.2f}x too long.
- The 1 -> 4 thread speed-up is one network's; small networks split into fewer, shorter
  jobs per op and usually scale worse than {cal.scaling_quant:.1f}x, so the 4-thread FPS of
  the small models leans optimistic (the two errors above partly cancel).
- {alt}
Taken together, the table is a central estimate good to a few tens of percent at best (the
published figures for this model family alone disagree by up to
{f"{ref_ms1 / p['aallan_ms']:.1f}x" if ref_ms1 else "?"}); the ranking of the models and their ratios are firmer
than the absolute FPS. Measure on a Pi before relying on them.

## Wall time of the counting (2-core x86 host, niced, shared with a training run)

{walls}

"Other-thread instructions": what the rest of the process executed inside the marked
windows (largest of the invokes and empty pairs); 0 means the invoke ran on the calling
thread alone, as it should at 1 thread.

## Reproduce

As root on the Debian 12 x86 host, after `research/arm64_check.sh` has built the arm64
root once, with Debian's dynamic `qemu-user`, `gcc`, `libglib2.0-dev`, `dpkg-dev` and
deb-src lines for bookworm (for `apt-get source qemu`: only `qemu-plugin.h` of the
installed QEMU version is used):

```sh
{command}
```

It builds the plugin (`research/qemu_insn_plugin/build.sh`, into `/var/cache/pi-vision/`),
counts the reference and every `models/*.tflite` (`--model PATH`, repeatable, for
others), counts the first model again in a fresh process, and rewrites this file; the
raw counts are kept in `/var/cache/pi-vision/a72-cost/counts.json` (`--from-json` redoes
the tables from it without emulating).
"""


# ---------------------------------------------------------------- the emulation
# Runs in a private mount namespace (unshare), so every mount dies with it. The guest
# mounts follow research/arm64_check.sh; qemu itself is Debian's dynamic x86 binary (the
# static one refuses -plugin), copied with its libraries into the guest's private /tmp
# and started through its own loader, so the arm64 root needs no x86 files.
EMULATE = r'''
set -euo pipefail
mount -t proc proc "$ROOT/proc"
mount -t sysfs -o ro sysfs "$ROOT/sys"
mount --bind /dev "$ROOT/dev"
mount -t tmpfs -o size=1g tmpfs "$ROOT/tmp"
mount --bind "$OUT/cpuinfo" "$ROOT/proc/cpuinfo"
for pair in "$REPO:repo" "$DATA:data" "$MODELS:models"; do
    mkdir -p "$ROOT/pi-vision/${pair##*:}"
    mount --bind "${pair%:*}" "$ROOT/pi-vision/${pair##*:}"
    mount -o remount,bind,ro "$ROOT/pi-vision/${pair##*:}"
done
mkdir -p "$ROOT/pi-vision/out"
mount --bind "$OUT" "$ROOT/pi-vision/out"
host=$ROOT/tmp/qemu-host
mkdir -p "$host"
cp "$QEMU" "$PLUGIN" "$host/"
libs=$(ldd "$QEMU" "$PLUGIN" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\/.*ld-linux/ { print $1 }')
for lib in $(sort -u <<< "$libs"); do
    cp -L "$lib" "$host/"
done
loader=$(basename "$(ldd "$QEMU" | awk '$1 ~ /ld-linux/ { print $1 }')")
chroot=$(command -v chroot)   # env -i below clears PATH
# Same addresses and the same string hashes in every run (no ASLR, fixed hash seed): the
# heap then evolves identically and a fresh process repeats every count exactly.
exec nice -n 19 setarch "$(uname -m)" -R env -i HOME=/root LANG=C.UTF-8 PATH=/opt/pi-vision-venv/bin:/usr/bin:/bin \
    PYTHONHASHSEED=0 PYTHONPATH=/pi-vision/repo PYTHONDONTWRITEBYTECODE=1 PI_VISION_DATA=/pi-vision/data \
    PI_VISION_MODELS=/pi-vision/models \
    "$chroot" "$ROOT" "/tmp/qemu-host/$loader" --library-path /tmp/qemu-host "/tmp/qemu-host/$(basename "$QEMU")" \
    -cpu "$CPU" -plugin "/tmp/qemu-host/$(basename "$PLUGIN"),out=/pi-vision/out/$COUNTS$PROFILE" \
    "$VENV/bin/python" /pi-vision/repo/research/count_invoke.py "$@"
'''


def pi4_cpuinfo() -> str:
    """A Raspberry Pi 4's /proc/cpuinfo (as arm64_check.sh writes it): ai-edge-litert
    segfaults under qemu when the guest sees the host's x86 one."""
    cores = "".join(
        f"processor\t: {i}\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\n"
        f"CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\nCPU revision\t: 3\n\n"
        for i in range(os.cpu_count() or 1))
    return cores + "Revision\t: d03114\nSerial\t\t: 100000000000cafe\nModel\t\t: Raspberry Pi 4 Model B Rev 1.4\n"


def guest_path(path: Path) -> str:
    """Where a host model file appears in the guest."""
    path = path.resolve()
    for host, guest in ((MODELS.resolve(), "/pi-vision/models"), (DATA.resolve(), "/pi-vision/data"),
                        (REPO, "/pi-vision/repo")):
        if path.is_relative_to(host):
            return f"{guest}/{path.relative_to(host)}"
    raise UsageError(f"{path} is not under the repo, {DATA} or {MODELS}; the guest cannot see it")


def emulate(plugin: Path, models: list[Path], invokes: int, tag: str, profile: bool = False) -> dict:
    """Count ``models`` in one emulated Python process; returns its results."""
    counts_file, result_file = "counts.txt", OUT / "result.json"   # one process at a time
    for f in (OUT / counts_file, result_file):
        f.unlink(missing_ok=True)
    env = dict(os.environ, ROOT=str(ROOT), OUT=str(OUT), REPO=str(REPO), DATA=str(DATA.resolve()),
               MODELS=str(MODELS.resolve()), QEMU=shutil.which("qemu-aarch64"), PLUGIN=str(plugin),
               CPU=CPU, VENV=VENV, COUNTS=counts_file,
               PROFILE=f",profile=/pi-vision/out/profile-{tag}.txt" if profile else "")
    args = ["--out", f"/pi-vision/out/{result_file.name}", "--counts", f"/pi-vision/out/{counts_file}",
            "--invokes", str(invokes)]
    if profile:
        args += ["--maps", f"/pi-vision/out/maps-{tag}.txt"]
    for m in models:
        args += ["--model", guest_path(m)]
    t0 = time.monotonic()
    proc = subprocess.run(["unshare", "--mount", "--propagation", "private", "--", "bash", "-c", EMULATE,
                           "emulate", *args], env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"the emulated count failed (exit {proc.returncode}); see the lines above")
    result = json.loads(result_file.read_text())
    result["wall_s"] = round(time.monotonic() - t0, 1)
    return result


def default_models() -> list[Path]:
    return [DATA / "reference" / f"{REFERENCE_NAME}.tflite", *sorted(MODELS.glob("*.tflite"))]


def run(args) -> list[dict]:
    if os.geteuid() != 0:
        raise UsageError("must run as root (the emulation uses mount namespaces and chroot)")
    if not (ROOT / ".pi-vision-root-ok").is_file() or not (ROOT / VENV.lstrip("/") / "bin" / "python").exists():
        raise UsageError(f"no arm64 root with a venv at {ROOT}; run research/arm64_check.sh once first")
    models = [Path(m) for m in args.model] if args.model else default_models()
    for m in models:
        if not m.is_file():
            raise UsageError(f"model {m} does not exist")
    if REFERENCE_NAME not in (m.stem for m in models):
        raise UsageError(f"the reference {REFERENCE_NAME}.tflite must be among the models: it is the "
                         f"calibration point")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "cpuinfo").write_text(pi4_cpuinfo())
    build = subprocess.run([str(REPO / "scripts" / "qemu_insn_plugin" / "build.sh")], capture_output=True, text=True)
    if build.returncode != 0:
        raise UsageError(build.stderr.strip().splitlines()[-1] if build.stderr.strip() else "plugin build failed")
    plugin = Path(build.stdout.strip().splitlines()[-1])
    qemu_version = subprocess.run(["qemu-aarch64", "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    # One emulation at a time on this machine, shared with arm64_check.sh (same lock).
    LOCK.parent.mkdir(parents=True, exist_ok=True)
    with LOCK.open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RuntimeError(f"an emulation (arm64_check.sh or this script) holds {LOCK}; try again later")
        # One fresh emulated process per model, started the same way every time: with
        # ASLR off and a fixed hash seed such a process repeats its counts exactly (a
        # process that also loads other models first would not: its heap differs). The
        # first model is counted a second time the same way, as the repeatability check.
        runs = [{"models": []}, {"models": []}]
        jobs = [(0, m) for m in models] + ([] if args.profile else [(1, models[0])])
        for k, (run_index, model) in enumerate(jobs):
            print(f"a72_cost_model: [{k + 1}/{len(jobs)}] counting {model.name} under qemu -cpu {CPU}"
                  f"{' again (repeatability)' if run_index else ''} ...", flush=True)
            result = emulate(plugin, [model], args.invokes, f"{k + 1}", args.profile)
            entry = result.pop("models")[0]
            entry["process_wall_s"] = result.pop("wall_s")
            runs[run_index].update(result, date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                                   qemu=qemu_version.replace("qemu-aarch64 version ", ""))
            runs[run_index]["models"].append(entry)
            print(f"a72_cost_model: {entry['model']}: emulated process took {entry['process_wall_s']:.0f} s",
                  flush=True)
        runs = [r for r in runs if r["models"]]
        runs[0]["command"] = args.command
    saved = OUT / "counts.json"
    saved.write_text(json.dumps(runs, indent=1) + "\n")
    return runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", help="a .tflite file (repeatable); default: the "
                        "reference and every models/*.tflite")
    parser.add_argument("--invokes", type=int, default=3, help="counted invokes per model (default 3)")
    parser.add_argument("--profile", action="store_true", help="diagnosis: also write per-block execution "
                        f"counts of every region and the guest's memory map to {OUT}; one run only")
    parser.add_argument("--from-json", type=Path, help="recompute the doc from a saved counts.json")
    parser.add_argument("--doc", type=Path, default=DOC, help=f"output (default {DOC.relative_to(REPO)})")
    parser.add_argument("--predictions", type=Path, default=PREDICTIONS,
                        help=f"predicted Pi 4 times as JSON (default {PREDICTIONS.relative_to(REPO)})")
    args = parser.parse_args(argv)
    # How this run was started, for the doc's "Reproduce" section (paths as typed).
    args.command = " ".join([".venv/bin/python -m research.a72_cost_model",
                             *(shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))])
    try:
        if args.invokes < 1:
            raise UsageError("--invokes must be >= 1")
        if args.from_json:
            if not args.from_json.is_file():
                raise UsageError(f"{args.from_json} does not exist")
            runs = json.loads(args.from_json.read_text())
        else:
            runs = run(args)
        ref = next((m for m in runs[0]["models"] if m["model"] == REFERENCE_NAME), None)
        if ref is None:
            raise UsageError(f"the reference {REFERENCE_NAME} was not counted; it is the calibration point")
        cal = calibrate(instruction_count(ref), float_pairs(runs[0]["models"]))
        args.doc.write_text(render_doc(runs, cal, runs[0].get("command", ".venv/bin/python -m research.a72_cost_model")))
        args.predictions.write_text(json.dumps(predictions(runs, cal), indent=1) + "\n")
        print(markdown_table(HEADER, table_rows(runs, cal)))
        print(f"a72_cost_model: wrote {args.doc} and {args.predictions}")
    except UsageError as e:
        print(f"a72_cost_model: {e}", file=sys.stderr)
        return 2
    except (RuntimeError, ValueError) as e:
        print(f"a72_cost_model: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
