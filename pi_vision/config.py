"""Typed configuration: defaults, YAML file, CLI overrides.

Every section is a frozen dataclass whose fields carry their help, range check and flag
(``settings.setting``). Loading walks the dataclasses, so an unknown key, a value of the
wrong type or out of range is rejected with its full key path (``detector.threads``);
the CLI's flags are made from the same fields.
"""
from __future__ import annotations

import dataclasses
import os
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from pi_vision.errors import UserError
from pi_vision.settings import SettingError, setting, validate
from pi_vision.tracking.tracker import TrackerConfig


STREAM_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://")


def is_stream(spec: str) -> bool:
    """A network camera or stream URL (read through FFmpeg)."""
    return spec.strip().lower().startswith(STREAM_SCHEMES)


@dataclass(frozen=True)
class SourceConfig:
    spec: str = setting("auto", "auto | demo | picamera2 | camera index | video file | stream URL", flag="--source")
    width: int = setting(640, "camera width", check=lambda v: v > 0, must="> 0", flag="--width")
    height: int = setting(480, "camera height", check=lambda v: v > 0, must="> 0", flag="--height")
    fps: float = setting(30.0, "camera frame rate", check=lambda v: v > 0, must="> 0", flag="--fps")
    # Like a live camera, dropping what the detector cannot keep up with, instead of every frame.
    realtime: bool = setting(False, "pace a video file at its frame rate, dropping late frames", flag="--realtime")
    loop: bool = setting(False, "repeat a video file", flag="--loop")
    # A read that never returns (a stuck driver, a silent stream) cannot be interrupted: past
    # this the source is abandoned and opened afresh. 0 turns stall detection off.
    stall_timeout: float = setting(10.0, "seconds without a frame before a live camera counts as failed (0: never)",
                                   check=lambda v: v >= 0, must=">= 0", flag="--stall-timeout")
    # Bounded so that systemd's restart (and its history) sees a camera that never came back.
    max_outage: float = setting(300.0, "seconds a live camera may stay away (also at start) before the app exits "
                                "with code 75 for a restart (0: wait forever)", check=lambda v: v >= 0, must=">= 0",
                                flag="--max-outage")

    def __post_init__(self) -> None:
        validate(self)


@dataclass(frozen=True)
class DetectorConfig:
    model: str = setting("ssd_mbv1_1.0_224", "model name in models/ (ssd_mbv1_1.0_224) or a .tflite path",
                         flag="--model")
    backend: Literal["tflite"] = setting("tflite", "inference backend")
    threads: int = setting(0, "interpreter threads (0 = all cores)", check=lambda v: v >= 0,
                           must=">= 0 (0 = all cores)", flag="--threads")
    score_threshold: float = setting(0.5, "minimum detection score (0..1, on the reference's scale)",
                                     check=lambda v: 0.0 <= v <= 1.0, must="in 0..1", flag="--score-threshold")
    resize: Literal["stretch", "letterbox"] = setting("stretch", "how frames are fitted to the model input",
                                                      flag="--resize")
    labels: str = setting("", "labels file (default: packed in the model or <model>.labels.txt)", flag="--labels")
    every: int = setting(1, "run the network on every Kth frame; the tracker predicts in between",
                         check=lambda v: v >= 1, must=">= 1", flag="--detect-every", metavar="K")
    # The first is shown and tracked (v switches in the window).
    compare: tuple[str, ...] = setting((), "run these models side by side on every frame and log a comparison table",
                                       check=lambda v: len(v) != 1, must="two or more models", flag="--compare",
                                       metavar="M1,M2,...")

    def __post_init__(self) -> None:
        validate(self)


@dataclass(frozen=True)
class MonitorConfig:
    log_interval: float = setting(5.0, "seconds between stats lines", check=lambda v: v > 0, must="> 0",
                                  flag="--log-interval")
    log_format: Literal["text", "json"] = setting("text", "text lines or one JSON object per line",
                                                  flag="--log-format")
    hang_warning: float = setting(10.0, "seconds a model invoke may take before it is logged as hung",
                                  check=lambda v: v > 0, must="> 0")

    def __post_init__(self) -> None:
        validate(self)


@dataclass(frozen=True)
class OutputConfig:
    display: bool = setting(False, "show the annotated video in a window (needs a desktop and pygame)",
                            flag="--display")
    record: str = setting("", "write the annotated video (.mp4/.avi/.mkv)", flag="--record", metavar="FILE")
    events: str = setting("", "append one JSON line per processed frame", flag="--events", metavar="FILE")
    # The defaults bound the outputs to about 2.1 GB of a 16 GB card.
    events_max_mb: float = setting(10.0, "rotate the events file at this size (MB)", check=lambda v: v > 0,
                                   must="> 0")
    events_keep: int = setting(5, "rotated events files kept besides the current one", check=lambda v: v >= 1,
                               must=">= 1")
    record_segment_s: float = setting(300.0, "seconds per recording segment", check=lambda v: v > 0, must="> 0")
    record_max_mb: float = setting(2000.0, "total size of finished recording segments kept (MB); oldest deleted first",
                                   check=lambda v: v > 0, must="> 0")
    record_max_age_h: float = setting(0.0, "delete recording segments older than this (hours; 0: no age limit)",
                                      check=lambda v: v >= 0, must=">= 0")

    def __post_init__(self) -> None:
        validate(self)


@dataclass(frozen=True)
class RunConfig:
    max_frames: int = setting(0, "stop after N processed frames (0 = no limit)", check=lambda v: v >= 0,
                              must=">= 0", flag="--max-frames")
    duration: float = setting(0.0, "stop after S seconds (0 = no limit)", check=lambda v: v >= 0, must=">= 0",
                              flag="--duration")

    def __post_init__(self) -> None:
        validate(self)


@dataclass(frozen=True)
class HttpConfig:
    bind: str = setting("", "serve the web view, /metrics and /healthz on HOST:PORT (off when empty)", flag="--http",
                        metavar="HOST:PORT")
    # Required for any address but loopback: the app refuses to expose the camera without one.
    token: str = setting("", "a token clients must send (Authorization: Bearer TOKEN, or ?token=)")
    max_clients: int = setting(10, "concurrent stream clients; more get 503", check=lambda v: v >= 1, must=">= 1")
    jpeg_width: int = setting(640, "width of the streamed frames (0: as captured)", check=lambda v: v >= 0,
                              must=">= 0")
    jpeg_quality: int = setting(70, "JPEG quality of the stream", check=lambda v: 1 <= v <= 100, must="in 1..100")

    def __post_init__(self) -> None:
        validate(self)


@dataclass(frozen=True)
class MqttConfig:
    host: str = setting("", "publish events, counts and stats to this MQTT broker (HOST or HOST:PORT; off when empty)",
                        flag="--mqtt", metavar="HOST[:PORT]")
    port: int = setting(1883, "the broker's port", check=lambda v: 0 < v < 65536, must="a port number")
    username: str = setting("", "user name at the broker")
    password: str = setting("", "password at the broker")
    tls: bool = setting(False, "connect with TLS (the system's CA certificates)")
    topic_prefix: str = setting("", "topic prefix (default pi-vision/<hostname>)")
    client_id: str = setting("", "MQTT client id (default pi-vision-<hostname>)")
    discovery: bool = setting(False, "announce a Home Assistant sensor per class (MQTT discovery)")

    def __post_init__(self) -> None:
        validate(self)


@dataclass(frozen=True)
class Config:
    source: SourceConfig = field(default_factory=SourceConfig)
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    http: HttpConfig = field(default_factory=HttpConfig)
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    monitor: MonitorConfig = field(default_factory=MonitorConfig)
    run: RunConfig = field(default_factory=RunConfig)


def settings(cls: type = Config, prefix: str = "") -> list[tuple[str, dataclasses.Field, Any]]:
    """(key path, field, type) of every leaf setting, in declaration order."""
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        kind = hints[f.name]
        if dataclasses.is_dataclass(kind):
            out += settings(kind, f"{prefix}{f.name}.")
        else:
            out.append((f"{prefix}{f.name}", f, kind))
    return out


def _check_type(path: str, value: Any, kind: Any) -> Any:
    """``value`` as the annotation ``kind`` wants it; ints are accepted where floats are."""
    origin = typing.get_origin(kind)
    if origin is tuple:  # tuple[str, ...]: a YAML list, or one comma-separated string from the CLI
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise UserError(f"config error: {path}: expected a list, got {value!r}")
        item = typing.get_args(kind)[0]
        return tuple(_check_type(f"{path}[{i}]", v, item) for i, v in enumerate(value))
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
            values[key] = _check_type(f"{prefix}{key}", value, kind)
    try:
        return cls(**values)
    except SettingError as e:  # a field's own range check
        raise UserError(f"config error: {prefix}{e.key}: {e}") from None
    except ValueError as e:  # a section's cross-field checks
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
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        _reject_duplicate_keys(node, path)
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise UserError(f"config error: {path} is not valid YAML{where}; fix the syntax")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError(f"config error: {path}: the top level must be a mapping of sections (source:, detector:, "
                        f"...), not a {type(data).__name__}; see systemd/config.yaml")
    return data


def _reject_duplicate_keys(node: yaml.Node | None, path: str | os.PathLike, prefix: str = "") -> None:
    """YAML keeps the last of two equal keys without a word; a config that says a thing twice
    is a mistake to name, not to guess."""
    if isinstance(node, yaml.MappingNode):
        seen: set = set()
        for key_node, value_node in node.value:
            key = key_node.value
            if key in seen:
                raise UserError(f"config error: {path}: {prefix}{key} is given twice (line "
                                f"{key_node.start_mark.line + 1}); keep one")
            seen.add(key)
            _reject_duplicate_keys(value_node, path, f"{prefix}{key}.")
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _reject_duplicate_keys(item, path, f"{prefix.rstrip('.')}[{i}].")


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


def address_families(config: Config) -> list[str]:
    """The socket families beyond AF_UNIX the config needs (for the service's sandbox)."""
    return ["AF_INET", "AF_INET6"] if is_stream(config.source.spec) or config.http.bind or config.mqtt.host else []
