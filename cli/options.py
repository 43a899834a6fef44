"""Typer options read from the config dataclasses, so that a default is written once: in the
dataclass (`TrainConfig`, `PasskConfig`, `AnalyzeConfig`, `ScoreConfig`, `VerlLaunch`, ...).

`config_option(Config, "field", "--flag", help=...)` is the option of one field: its default is
the field's (or, with `unset=True`, None unless given, so the dataclass default applies and the
command can tell what the user gave), and --help shows that default with where it comes from
when the dataclass says (`DEFAULT_SOURCE`: paper, veRL, machine). Light: dataclasses only.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import typer


def config_default(cls: type, name: str) -> Any:
    """The default of field `name` of dataclass `cls`."""
    f = next((f for f in dataclasses.fields(cls) if f.name == name), None)
    if f is None:
        raise KeyError(f"{cls.__name__} has no field {name!r}")
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return f.default_factory()  # type: ignore[misc]
    return None


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return "none" if value is None else str(value)


def config_option(cls: type, name: str, *decls: str, help: str, unset: bool = False, shown: str | None = None,
                  **kw: Any) -> Any:
    """The typer option of field `name` of `cls` (see the module docstring). `shown`: the text
    of a default that is not one value (e.g. "0.4 GRPO, 0.1 PPO")."""
    default = config_default(cls, name)
    source = getattr(cls, "DEFAULT_SOURCE", {}).get(name)
    if shown is None and source is None and not unset:
        return typer.Option(default, *decls, help=help, **kw)  # typer shows the value itself
    text = shown if shown is not None else _shown(default)
    return typer.Option(None if unset else default, *decls, help=help, show_default=f"{text}; {source}" if source else text, **kw)


def given_options(params: dict, rename: dict[str, str] | None = None) -> dict:
    """The options the user gave (not None), under their config field names."""
    rename = rename or {}
    return {rename.get(k, k): v for k, v in params.items() if v is not None}
