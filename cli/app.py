"""The `entropykit` command: a thin typer layer over functions that tests call directly.

Each tool registers its own commands (`cli/analyze.py`, `cli/passk.py`, `cli/train.py`);
this module owns the shared `score` and `demo` commands and the error contract: a
`UserError` becomes one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import os
import sys

import typer

from entropykit.errors import UserError

app = typer.Typer(
    name="entropykit",
    help="Token-entropy toolkit for reasoning LMs: analyze outputs, measure pass@k, train with the entropy-based advantage.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register_tools() -> None:
    from entropykit.cli import analyze, demo, passk, score, train

    score.register(app)
    analyze.register(app)
    passk.register(app)
    train.register(app)
    demo.register(app)


_register_tools()


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # ours are rich bars; the loader's per-tensor bars are noise
        hf_logging.set_verbosity_error()
    except ImportError:  # pragma: no cover
        pass
    try:
        app(args=argv, standalone_mode=True)
    except UserError as e:
        print(f"entropykit: error: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("entropykit: interrupted", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
