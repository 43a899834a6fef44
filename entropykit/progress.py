"""One progress-bar style for every tool (rich, on stderr so stdout stays for results).

`console` is created on first use and rich.progress imported only when a bar is made: the
CLI imports this module on every start, `--help` included.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress


@lru_cache(maxsize=None)
def get_console() -> "Console":
    """The shared stderr console (one instance, so bars and messages do not garble each other)."""
    from rich.console import Console

    return Console(stderr=True)


def __getattr__(name: str):  # `from entropykit.progress import console` still works (PEP 562)
    if name == "console":
        return get_console()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def make_progress(*extra_columns) -> "Progress":
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    return Progress(
        TextColumn("[bold]{task.description:<12}"), BarColumn(), MofNCompleteColumn(),
        *extra_columns, TimeElapsedColumn(), TimeRemainingColumn(), console=get_console(), transient=False,
    )
