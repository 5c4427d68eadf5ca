"""Typed configuration: defaults, YAML file, CLI overrides.

Every section is a frozen dataclass. Loading walks the dataclasses, so an unknown key or
a value of the wrong type is rejected with its full key path (``detector.threads``).
"""
from __future__ import annotations

import dataclasses
import os
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from .errors import UserError
from .tracker import TrackerConfig


@dataclass(frozen=True)
class SourceConfig:
    # auto | demo | picamera2 | <camera index> | <video path or URL>
    spec: str = "auto"
    width: int = 640
    height: int = 480
    fps: float = 30.0
    # Video files: pace at the file's frame rate (like a live camera, dropping what the
    # detector cannot keep up with) instead of handing over every frame.
    realtime: bool = False
    loop: bool = False


@dataclass(frozen=True)
class DetectorConfig:
    # A name in models/ (ssd_mbv1_0.5_160) or a path to a .tflite file.
    model: str = "ssd_mbv1_0.5_160"
    backend: Literal["tflite"] = "tflite"
    # 0 = every core.
    threads: int = 0
    score_threshold: float = 0.5
    resize: Literal["stretch", "letterbox"] = "stretch"
    # A labels file (one label per line); empty = packed in the model or beside it.
    labels: str = ""
    # Run the network on every Nth processed frame; the tracker predicts in between.
    every: int = 1
    # Compare mode: these models (names or paths) all run on every frame; the first is
    # shown and tracked (v switches in the window). Empty: just ``model``.
    compare: tuple[str, ...] = ()


@dataclass(frozen=True)
class MonitorConfig:
    log_interval: float = 5.0
    log_format: Literal["text", "json"] = "text"


@dataclass(frozen=True)
class OutputConfig:
    display: bool = False  # a window (needs a desktop session and pygame)
    record: str = ""  # annotated video file (.mp4, .avi, .mkv)
    events: str = ""  # JSON lines file, appended to


@dataclass(frozen=True)
class RunConfig:
    # 0 = no limit.
    max_frames: int = 0
    duration: float = 0.0


@dataclass(frozen=True)
class Config:
    source: SourceConfig = field(default_factory=SourceConfig)
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    monitor: MonitorConfig = field(default_factory=MonitorConfig)
    run: RunConfig = field(default_factory=RunConfig)


# Range rules for values whose type alone does not say enough: (check, what it must be).
_RULES = {
    "source.width": (lambda v: v > 0, "> 0"),
    "source.height": (lambda v: v > 0, "> 0"),
    "source.fps": (lambda v: v > 0, "> 0"),
    "detector.threads": (lambda v: v >= 0, ">= 0 (0 = all cores)"),
    "detector.score_threshold": (lambda v: 0.0 <= v <= 1.0, "in 0..1"),
    "detector.every": (lambda v: v >= 1, ">= 1"),
    "detector.compare": (lambda v: len(v) != 1, "two or more models"),
    "monitor.log_interval": (lambda v: v > 0, "> 0"),
    "run.max_frames": (lambda v: v >= 0, ">= 0"),
    "run.duration": (lambda v: v >= 0, ">= 0"),
}


def _coerce(path: str, value: Any, kind: Any) -> Any:
    """Check ``value`` against the annotation ``kind`` and the key's range rule."""
    value = _check_type(path, value, kind)
    if path in _RULES and not _RULES[path][0](value):
        raise UserError(f"config error: {path}: must be {_RULES[path][1]}, got {value!r}")
    return value


def _check_type(path: str, value: Any, kind: Any) -> Any:
    """``value`` as the annotation ``kind`` wants it; ints are accepted where floats are."""
    origin = typing.get_origin(kind)
    if origin is tuple:  # tuple[str, ...]: a YAML list, or one comma-separated string from the CLI
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise UserError(f"config error: {path}: expected a list, got {value!r}")
        item = typing.get_args(kind)[0]
        return tuple(_coerce(f"{path}[{i}]", v, item) for i, v in enumerate(value))
    if origin is Literal:
        if value not in typing.get_args(kind):
            choices = ", ".join(map(str, typing.get_args(kind)))
            raise UserError(f"config error: {path}: {value!r} is not one of {choices}")
        return value
    if kind is bool:
        if not isinstance(value, bool):
            raise UserError(f"config error: {path}: expected true or false, got {value!r}")
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise UserError(f"config error: {path}: expected an integer, got {value!r}")
    elif kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UserError(f"config error: {path}: expected a number, got {value!r}")
        value = float(value)
    elif kind is str:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)  # a camera index written as a bare number in YAML
        if not isinstance(value, str):
            raise UserError(f"config error: {path}: expected a string, got {value!r}")
    return value


def _build(cls: type, data: Any, prefix: str) -> Any:
    if not isinstance(data, dict):
        where = prefix.rstrip(".") or "the top level"
        raise UserError(f"config error: {where}: expected a mapping of keys, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for key in data:
        if key not in names:
            known = ", ".join(sorted(names))
            raise UserError(f"config error: unknown key {prefix}{key} (known keys here: {known})")
    values = {}
    for key, value in data.items():
        kind = hints[key]
        if dataclasses.is_dataclass(kind):
            values[key] = _build(kind, value, f"{prefix}{key}.")
        else:
            values[key] = _coerce(f"{prefix}{key}", value, kind)
    try:
        return cls(**values)
    except ValueError as e:  # a section's own cross-field checks
        raise UserError(f"config error: {prefix.rstrip('.') or 'config'}: {e}") from None


def from_dict(data: dict) -> Config:
    return _build(Config, data, "")


def load_yaml(path: str | os.PathLike) -> dict:
    """Read a YAML config file into a plain dict (empty file = defaults)."""
    try:
        text = Path(path).read_text()
    except OSError as e:
        raise UserError(f"config error: cannot read {path}: {e.strerror}; pass an existing YAML file to --config")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise UserError(f"config error: {path} is not valid YAML{where}; fix the syntax")
    return data if data is not None else {}


def merge(base: dict, overrides: dict) -> dict:
    """Deep-merge ``overrides`` (from the CLI) over ``base`` (from the file)."""
    out = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def set_path(data: dict, path: str, value: Any) -> None:
    """``set_path(d, "detector.threads", 2)`` sets ``d["detector"]["threads"] = 2``."""
    *parents, last = path.split(".")
    for key in parents:
        data = data.setdefault(key, {})
    data[last] = value


def to_dict(config: Config) -> dict:
    return dataclasses.asdict(config)
