"""Create a TFLite interpreter from whichever runtime is installed.

``ai-edge-litert`` is the maintained runtime (numpy 2, new Pythons); ``tflite-runtime``
is the old wheel many Pi guides install (numpy < 2); full TensorFlow works too.
"""
from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pi_vision.errors import UserError

log = logging.getLogger(__name__)

_RUNTIMES = (
    ("ai_edge_litert", "ai_edge_litert.interpreter"),
    ("tflite_runtime", "tflite_runtime.interpreter"),
    ("tensorflow.lite", "tensorflow.lite"),
)


@dataclass
class LoadedInterpreter:
    interpreter: object
    runtime: str
    threads: int
    # Number of graph partitions XNNPACK took over; 0 = every op runs on the reference kernels.
    xnnpack_partitions: int


def _interpreter_class():
    import importlib

    for name, module in _RUNTIMES:
        try:
            return name, importlib.import_module(module).Interpreter
        except ImportError:
            continue
    raise UserError("no TFLite runtime is installed; run: pip install ai-edge-litert")


def default_threads() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def load_interpreter(path: Path, threads: int = 0) -> LoadedInterpreter:
    """Load and allocate ``path``; ``threads`` 0 means every core this process may use."""
    name, interpreter_class = _interpreter_class()
    threads = threads or default_threads()
    try:
        with _native_stderr_to_log():
            interpreter = interpreter_class(model_path=str(path), num_threads=threads)
            interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as e:
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"model error: {path} is not a loadable TFLite model ({reason}); "
                        f"re-download or re-export it")
    partitions = _count_delegate_partitions(interpreter)
    log.info("runtime %s, %d threads, XNNPACK %s", name, threads,
             f"applied ({partitions} partition{'s' * (partitions != 1)})" if partitions else "not applied")
    if not partitions:
        # Old runtimes (tflite-runtime 2.14) leave quantized models on the slow reference kernels.
        log.warning("XNNPACK is not applied with %s: inference runs on the slower reference kernels; "
                    "pip install ai-edge-litert", name)
    return LoadedInterpreter(interpreter, name, threads, partitions)


@contextlib.contextmanager
def _native_stderr_to_log():
    """Route what the C++ runtime prints to stderr while loading ("INFO: Created TensorFlow
    Lite XNNPACK delegate...") into the debug log, so error output stays one line."""
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, ValueError, OSError):  # stderr replaced (e.g. captured): leave it alone
        yield
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), fd)
        try:
            yield
        finally:
            os.dup2(saved, fd)
            os.close(saved)
            sink.seek(0)
            for line in sink.read().decode(errors="replace").splitlines():
                log.debug("runtime: %s", line)


def _count_delegate_partitions(interpreter) -> int:
    # The Python API has no public "is XNNPACK on" call; delegated subgraphs show up as
    # DELEGATE nodes in the op list, which every runtime above exposes.
    try:
        return sum(op["op_name"] == "DELEGATE" for op in interpreter._get_ops_details())
    except AttributeError:
        return 0
