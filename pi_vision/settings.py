"""Each setting described once: its default, help, range check and command-line flag live
on its dataclass field, and the config loader, the validation and the CLI are made from it.

    threads: int = setting(0, "interpreter threads (0 = all cores)", check=lambda v: v >= 0,
                           must=">= 0 (0 = all cores)", flag="--threads")
"""
from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Callable


class SettingError(ValueError):
    """A value outside its setting's range; ``key`` is the field's name. A range check also
    gives the ``value`` and what it ``must`` be, so each command line can word it its way."""

    def __init__(self, key: str, message: str, value: Any = None, must: str = ""):
        super().__init__(message)
        self.key, self.value, self.must = key, value, must


def setting(default: Any = dataclasses.MISSING, help: str = "", *, check: Callable[[Any], bool] | None = None,
            must: str = "", flag: str | None = None, flag_value: Any = None, metavar: str | None = None,
            default_factory: Any = dataclasses.MISSING) -> Any:
    """A dataclass field with its help, check (``must`` says what it must be) and CLI flag.

    A bool flag sets ``flag_value`` (default True) when given: ``--no-track`` sets
    ``tracker.enabled`` to False."""
    metadata = {"help": help, "check": check, "must": must, "flag": flag, "flag_value": flag_value,
                "metavar": metavar}
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def validate(instance: Any) -> None:
    """Run every field's check; call from ``__post_init__``."""
    for f in dataclasses.fields(instance):
        check = f.metadata.get("check")
        value = getattr(instance, f.name)
        if check is not None and not check(value):
            raise SettingError(f.name, f"must be {f.metadata['must']}, got {value!r}", value, f.metadata["must"])


class OneLineParser(argparse.ArgumentParser):
    """Bad flags end with one line naming the problem (and exit code 2), not the whole usage."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _optional(kind: Any) -> Any:
    """``X | None`` -> X; anything else unchanged."""
    args = typing.get_args(kind)
    if typing.get_origin(kind) in (typing.Union, types.UnionType) and type(None) in args:
        return next(a for a in args if a is not type(None))
    return kind


def default_flag(prefix: str, name: str) -> str:
    """``--tracker-high-score`` for ``tracker.high_score``: the flag of a setting that names none."""
    return "--" + (prefix + name).replace(".", "-").replace("_", "-")


def add_flags(parser: argparse.ArgumentParser, cls: type, prefix: str = "", title: str | None = None,
              every_field: bool = False) -> None:
    """A flag for every field of ``cls`` that names one (with ``every_field``, for all of them:
    ``default_flag``); the value lands in ``args.<prefix><field>``.

    Flags default to absent (``argparse.SUPPRESS``), so the dataclass keeps its own default."""
    group = parser.add_argument_group(title) if title else parser
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        meta = f.metadata
        flag = meta.get("flag") or (default_flag(prefix, f.name) if every_field else None)
        if not flag:
            continue
        kind = _optional(hints[f.name])
        options: dict = {"dest": prefix + f.name, "help": meta["help"], "default": argparse.SUPPRESS}
        if kind is bool:
            value = True if meta["flag_value"] is None else meta["flag_value"]
            group.add_argument(flag, action="store_const", const=value, **options)
            continue
        if f.default not in ("", (), None, dataclasses.MISSING):
            options["help"] += f" (default: {f.default})"
        origin = typing.get_origin(kind)
        if origin is typing.Literal:
            options["choices"] = list(typing.get_args(kind))
        else:
            options["metavar"] = meta["metavar"] or f.name.upper()
            if origin is list:  # several values after one flag
                options["nargs"] = "+"
                kind = typing.get_args(kind)[0]
            if kind in (int, float, Path):
                options["type"] = kind
        group.add_argument(flag, **options)


def flag_of(key: str, *classes: type) -> str:
    """The command-line flag of field ``key`` in the first of ``classes`` that has it, else the key."""
    for cls in classes:
        for f in dataclasses.fields(cls):
            if f.name == key and f.metadata.get("flag"):
                return f.metadata["flag"]
    return key


def given_flags(cls: type, args: argparse.Namespace, prefix: str = "") -> dict[str, Any]:
    """Field name -> value of every flag of ``cls`` given on the command line (see ``add_flags``)."""
    return {f.name: getattr(args, prefix + f.name) for f in dataclasses.fields(cls)
            if f.metadata.get("flag") and prefix + f.name in args}
