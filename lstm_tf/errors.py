"""The one exception type for user mistakes.

The library raises `UserError` for anything the user can fix (a bad file, column,
option or model); the CLI turns it into a one-line `Error: ...` and a non-zero exit.
Anything else is a bug and keeps its traceback.
"""


class UserError(ValueError):
    """A problem with the user's input, with a message that says how to fix it."""


class DiskFull(UserError):
    """A write failed for lack of space (ENOSPC, or EDQUOT: over the disk quota)."""


def check_choice(what: str, value, choices, choose: str = "choose") -> None:
    """`UserError` "unknown <what> 'value'; choose a, b, c" unless `value` is a choice."""
    if value not in choices:
        raise UserError(f"unknown {what} {value!r}; {choose} {', '.join(choices)}")
