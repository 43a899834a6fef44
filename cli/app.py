"""The `entropykit` command: a thin typer layer over functions that tests call directly.

Each tool registers its own commands (`cli/analyze.py`, `cli/passk.py`, `cli/train.py`);
this module owns the shared `score` and `demo` commands, the look of `--help` and the error
contract: a `UserError` (or an output that cannot be written) becomes one line on stderr and
exit code 2, never a traceback.

Start-up matters (`--help` and argument errors must answer in well under a second), so this
module and everything it imports stay light: torch, transformers, plotly and friends are
imported inside the commands that use them (`tests/test_core_cli.py` checks it,
`bench/startup.py` times it), and each command checks its outputs before that
(`tests/test_cli_outputs.py`).
"""

from __future__ import annotations

import errno
import os
import sys

import typer
from typer.core import TyperCommand, TyperGroup

from entropykit.errors import UserError

# --help look. Typer's rich panels cut long option names at 80 columns, keep the hard line
# breaks of multi-paragraph help and label every option with a Python type (`<bool>`,
# `<str>`); click's plain formatter re-wraps paragraphs and puts a long option on its own
# line. Value options get click's usual metavars (INTEGER, TEXT, PATH...), flags none.
_CLICK_METAVARS = {"int": "INTEGER", "float": "FLOAT", "str": "TEXT", "bool": "BOOLEAN", "path": "PATH"}
_HELP_WIDTH = 100  # at most; narrower terminals wrap at their width


def _value_metavar(param) -> str | None:
    """Click-style metavar for a typer option, from typer's type label ('<int>' -> INTEGER)."""
    display_type = getattr(param, "display_type", None)  # typer >= 0.29; older typers use click's metavars
    if display_type is None:
        return None
    label = display_type(None).strip("<>")
    if label.startswith("list[") and label.endswith("]"):  # a repeatable option: the label of one value
        label = label[5:-1]
    if "|" in label:  # choices
        return f"[{label}]"
    return _CLICK_METAVARS.get(label, label.upper())


def _set_metavars(params) -> None:
    for p in params:
        if p.metavar is not None:
            continue
        if p.param_type_name == "argument":
            p.metavar = p.name.upper()
        elif not getattr(p, "is_flag", False) and not getattr(p, "count", False):
            p.metavar = _value_metavar(p)


def _usage_pieces(cmd, ctx: typer.Context) -> list[str]:
    """Usage line in click's notation: ARG when required, [ARG] when optional (typer writes {ARG})."""
    pieces = [cmd.options_metavar] if cmd.options_metavar else []
    for p in cmd.get_params(ctx):
        if p.param_type_name != "argument":
            pieces.extend(p.get_usage_pieces(ctx))
            continue
        name = p.metavar or p.name.upper()
        pieces.append((name if p.required else f"[{name}]") + ("..." if p.nargs != 1 else ""))
    return pieces


def _format_params(cmd, ctx: typer.Context, formatter) -> None:
    """Arguments and options sections; an argument is named by its metavar alone (typer would
    append its type label)."""
    args, opts = [], []
    for p in cmd.get_params(ctx):
        record = p.get_help_record(ctx)
        if record is None:
            continue
        if p.param_type_name == "argument":
            name = (p.metavar or p.name.upper()) + ("..." if p.nargs != 1 else "")
            args.append((name, record[1]))
        else:
            opts.append(record)
    if args:
        with formatter.section("Arguments"):
            formatter.write_dl(args)
    if opts:
        with formatter.section("Options"):
            formatter.write_dl(opts)


class PlainHelpCommand(TyperCommand):
    """A command with plain click help (see the comment on _CLICK_METAVARS)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        _set_metavars(self.params)

    def collect_usage_pieces(self, ctx) -> list[str]:
        return _usage_pieces(self, ctx)

    def format_options(self, ctx, formatter) -> None:
        _format_params(self, ctx, formatter)


class PlainHelpGroup(TyperGroup):
    """A command group with plain click help; its command list shows each command's first
    sentence whole (wrapped) instead of cutting it with '...'."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        _set_metavars(self.params)

    def format_options(self, ctx, formatter) -> None:
        _format_params(self, ctx, formatter)
        self.format_commands(ctx, formatter)

    def format_commands(self, ctx, formatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            cmd = self.get_command(ctx, name)
            if cmd is not None and not cmd.hidden:
                rows.append((name, cmd.get_short_help_str(limit=10_000)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


app = typer.Typer(
    name="entropykit",
    help="Token-entropy toolkit for reasoning LMs: analyze outputs, measure pass@k, train with the entropy-based advantage.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # governs every subcommand's help and error output
    cls=PlainHelpGroup,
    context_settings={"max_content_width": _HELP_WIDTH},
)


def _use_plain_help(t: typer.Typer) -> None:
    """Give every command and group registered on `t` (recursively) the plain-help classes,
    unless its author chose a class."""
    from typer.models import DefaultPlaceholder

    def unset(value, typer_default: type) -> bool:
        return value is None or value is typer_default or isinstance(value, DefaultPlaceholder)

    for info in t.registered_commands:
        if unset(info.cls, TyperCommand):
            info.cls = PlainHelpCommand
    for group in t.registered_groups:
        if unset(group.cls, TyperGroup) and unset(group.typer_instance.info.cls, TyperGroup):
            group.cls = PlainHelpGroup
        _use_plain_help(group.typer_instance)


def _register_tools() -> None:
    from entropykit.cli import analyze, demo, passk, reproduce, score, train

    score.register(app)
    analyze.register(app)
    passk.register(app)
    train.register(app)
    reproduce.register(app)
    demo.register(app)
    _use_plain_help(app)


_register_tools()

# Errors of writing an output that a user can fix; any other OSError is a bug and keeps its traceback.
_OUTPUT_ERRNOS = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.ENOENT, errno.ENOTDIR,
                  errno.EISDIR, errno.EEXIST}


def os_error_line(e: OSError) -> str | None:
    """One line for an OSError a user can fix (permissions, read-only or full disk, missing
    folder); None for any other."""
    if e.errno not in _OUTPUT_ERRNOS:
        return None
    where = e.filename if e.filename is not None else "output"
    hint = " (disk full?)" if e.errno in (errno.ENOSPC, errno.EDQUOT) else ""
    return f"{where}: {e.strerror or os.strerror(e.errno)}{hint}"


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # transformers reads these when (and only if) a command imports it; importing it here to call
    # its logging functions would cost ~1 s on every --help.
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # ours are rich bars; the loader's are noise
    try:
        app(args=argv, standalone_mode=True)
    except UserError as e:
        print(f"entropykit: error: {e}", file=sys.stderr)
        sys.exit(2)
    except OSError as e:
        # Last-resort net: outputs are checked before the work starts, but a disk can fill up
        # or a folder vanish while a command runs.
        line = os_error_line(e)
        if line is None:
            raise
        print(f"entropykit: error: {line}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("entropykit: interrupted", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
