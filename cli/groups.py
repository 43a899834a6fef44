"""A command group whose first command is the default: `entropykit analyze OUTPUTS ...` and
`entropykit reproduce --out DIR ...` run the tool, while `analyze compare ...` and `reproduce
power ...` are subcommands. Light: typer only."""

from __future__ import annotations

from typer.core import TyperCommand, TyperGroup

_Context = TyperCommand.context_class


class _DefaultCommandContext(_Context):
    """The default command's context: it runs under the name "" (so that usage reads "entropykit
    analyze [OPTIONS] ..."), whose command path would otherwise hold a double space."""

    @property
    def command_path(self) -> str:
        return " ".join(super().command_path.split())


class DefaultCommandGroup(TyperGroup):
    """Arguments that do not start with a subcommand's name go to the hidden default command
    (`DEFAULT`, registered as "run"); `--help` shows the default command's help followed by the
    listed commands, and the usage line reads as the tool's own ("entropykit analyze [OPTIONS] ...")."""

    DEFAULT = "run"

    def parse_args(self, ctx, args):
        if not args or (args[0] not in self.commands and args[0] not in ("--help", "-h")):
            args = [self.DEFAULT, *args]
        return super().parse_args(ctx, args)

    def resolve_command(self, ctx, args):
        name, cmd, rest = super().resolve_command(ctx, args)
        if name == self.DEFAULT and cmd is not None:
            cmd.context_class = _DefaultCommandContext
        return ("" if name == self.DEFAULT else name), cmd, rest

    def format_help(self, ctx, formatter) -> None:
        run = self.commands[self.DEFAULT]
        run.format_help(run.make_context(ctx.info_name, [], parent=ctx.parent, resilient_parsing=True), formatter)
        rows = [(name, cmd.get_short_help_str(limit=10_000)) for name, cmd in self.commands.items() if not cmd.hidden]
        with formatter.section("Commands"):
            formatter.write_dl(rows)
