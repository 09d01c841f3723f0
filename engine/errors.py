"""Errors a user can cause. The CLI prints their message without a traceback."""


class UserError(Exception):
    """Bad input or state the user can fix; the message names the file or value and the fix."""
