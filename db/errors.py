"""The one error type a user can fix, shared by every layer (engine/errors.py re-exports it)."""


class UserError(Exception):
    """Bad input or state the user can fix; the message names the file or value and the fix."""
