"""Resumable training state: model weights, optimizer slots and the step, written atomically."""
from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import keras
import numpy as np

log = logging.getLogger(__name__)

WEIGHTS = "model.weights.h5"
OPTIMIZER = "optimizer.npz"
STATE = "state.json"


def save(directory: Path, model: keras.Model, optimizer: keras.optimizers.Optimizer, step: int,
         extra: dict | None = None, keep: int = 3) -> Path:
    """Write ``directory/step_<n>`` (via a temporary folder and a rename, so a kill mid-write
    never leaves a broken checkpoint) and prune all but the newest ``keep``."""
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / f"step_{step:07d}"
    tmp = directory / f".tmp_step_{step:07d}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    model.save_weights(tmp / WEIGHTS)
    np.savez(tmp / OPTIMIZER, *[v.numpy() for v in optimizer.variables])
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


def restore(path: Path, model: keras.Model, optimizer: keras.optimizers.Optimizer | None = None) -> dict:
    """Load a checkpoint into ``model`` (and ``optimizer``, whose variables must already be built)."""
    model.load_weights(path / WEIGHTS)
    if optimizer is not None:
        with np.load(path / OPTIMIZER) as saved:
            values = [saved[f"arr_{i}"] for i in range(len(saved.files))]
        if len(values) != len(optimizer.variables):
            raise ValueError(f"{path}: {len(values)} optimizer variables, optimizer has {len(optimizer.variables)}")
        for variable, value in zip(optimizer.variables, values):
            variable.assign(value)
    state = json.loads((path / STATE).read_text())
    log.info("restored %s (step %d)", path, state["step"])
    return state
