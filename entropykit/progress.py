"""One progress-bar style for every tool (rich, on stderr so stdout stays for results)."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

console = Console(stderr=True)


def make_progress(*extra_columns) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description:<12}"), BarColumn(), MofNCompleteColumn(),
        *extra_columns, TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=False,
    )
