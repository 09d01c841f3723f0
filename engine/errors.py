"""Errors a user can cause. The CLI prints their message without a traceback."""

from db.errors import UserError

__all__ = ["UserError", "failure_reason"]


def failure_reason(exc: BaseException) -> str:
    """What a failed run records: Ctrl-C in words, anything else as `Type: message`."""
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted by the user"
    return f"{type(exc).__name__}: {exc}"
