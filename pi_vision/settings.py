"""Each setting described once: its default, help, range check and command-line flag live
on its dataclass field, and the config loader, the validation and the CLI are made from it.

    threads: int = setting(0, "interpreter threads (0 = all cores)", check=lambda v: v >= 0,
                           must=">= 0 (0 = all cores)", flag="--threads")
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable


class SettingError(ValueError):
    """A value outside its setting's range; ``key`` is the field's name."""

    def __init__(self, key: str, message: str):
        super().__init__(message)
        self.key = key


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
            raise SettingError(f.name, f"must be {f.metadata['must']}, got {value!r}")
