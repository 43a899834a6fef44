"""User-facing errors.

Anything a user can fix (bad input file, bad option, unknown model) raises `UserError`; the
CLI prints its message on one line of stderr and exits with code 2, never a traceback.
"""


class UserError(Exception):
    """A problem with the user's input or configuration (CLI: one stderr line, exit 2)."""
