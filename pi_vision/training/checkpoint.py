"""Resumable training state: model weights, optimizer slots and the step, written atomically."""
from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

WEIGHTS = "model.weights.h5"
OPTIMIZER = "optimizer.npz"
STATE = "state.json"
# Beside checkpoints/ in a run folder: each training session's step and config.
RUN_RECORD = "run.json"


def _optimizer_variables(optimizers) -> list:
    """Variables of one optimizer or of several (one per parameter group), in a fixed order."""
    import keras  # not at import time: latest() serves cheap checks before TensorFlow loads

    if isinstance(optimizers, keras.optimizers.Optimizer):
        optimizers = [optimizers]
    return [v for optimizer in optimizers for v in optimizer.variables]


def save(directory: Path, model, optimizer, step: int,
         extra: dict | None = None, keep: int = 3) -> Path:
    """Write ``directory/step_<n>`` (via a temporary folder and a rename, so a kill mid-write
    never leaves a broken checkpoint) and prune all but the newest ``keep``."""
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / f"step_{step:07d}"
    tmp = directory / f".tmp_step_{step:07d}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    model.save_weights(tmp / WEIGHTS)
    np.savez(tmp / OPTIMIZER, *[v.numpy() for v in _optimizer_variables(optimizer)])
    (tmp / STATE).write_text(json.dumps({"step": step} | (extra or {}), indent=2))
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    for old in list_checkpoints(directory)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    log.info("checkpoint %s", final)
    return final


def list_checkpoints(directory: Path) -> list[Path]:
    return sorted(p for p in Path(directory).glob("step_*") if (p / STATE).exists())


def latest(directory: Path) -> Path | None:
    found = list_checkpoints(directory)
    return found[-1] if found else None


def restore(path: Path, model, optimizer=None) -> dict:
    """Load a checkpoint into ``model`` (and ``optimizer`` - one or a list - whose variables must already be built)."""
    model.load_weights(path / WEIGHTS)
    if optimizer is not None:
        with np.load(path / OPTIMIZER) as saved:
            values = [saved[f"arr_{i}"] for i in range(len(saved.files))]
        variables = _optimizer_variables(optimizer)
        if len(values) != len(variables):
            raise ValueError(f"{path}: {len(values)} optimizer variables, optimizer has {len(variables)}")
        for variable, value in zip(variables, values):
            variable.assign(value)
    state = json.loads((path / STATE).read_text())
    log.info("restored %s (step %d)", path, state["step"])
    return state
