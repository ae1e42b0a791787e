"""User-facing errors: one line that names the bad value and says how to fix it.

The CLI prints a `UserError` as `error: <message>` and exits with code 2 (no traceback); the app shows it
as a friendly message. Anything else is a bug and keeps its traceback.
"""


class UserError(Exception):
    """A mistake the user can fix (bad name, path, layout, config, file)."""


class FormatError(UserError):
    """A file segcompare reads is malformed or too large (see `segcompare.formats`): one line naming the
    file, the field and the bad value."""
