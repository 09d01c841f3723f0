"""Errors a user can cause. The CLI prints their message without a traceback."""

from db.errors import UserError

__all__ = ["UserError"]
