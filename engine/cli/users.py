"""`cxr users ...` and `cxr audit`: work on the database directly, with no sign-in.

Whoever can read CXR_HOME (or CXR_DATABASE_URL) already holds the data, so these commands act
as "cli:<login>" in the audit. Passwords are prompted for (twice) on a terminal, or read as the
first line of stdin, and never taken as an argument (it would land in the shell history).
"""

from __future__ import annotations

import argparse
import getpass
import sys

from engine.cli.options import Command
from engine.errors import UserError

ROLES_HELP = "viewer | reviewer | uploader | admin (each can do what the ones before can)"


def _actor():  # noqa: ANN202 - db.audit.Actor, imported late to keep `cxr --help` light
    from db.audit import cli_actor

    return cli_actor()


def read_password(prompt: str = "Password") -> str:
    if not sys.stdin.isatty():
        line = sys.stdin.readline()
        if not line.strip():
            raise UserError("no password on stdin: pipe one line, e.g. "
                            "`printf '%s\\n' \"$PASSWORD\" | cxr users add NAME --role viewer`")
        return line.rstrip("\r\n")
    first = getpass.getpass(f"{prompt}: ")
    if getpass.getpass(f"{prompt} again: ") != first:
        raise UserError("the two passwords differ; nothing was changed")
    return first


def _admin_call(function, *args):  # noqa: ANN001, ANN202
    from db.users import UserAdminError

    try:
        return function(*args, _actor())
    except UserAdminError as exc:
        raise UserError(str(exc)) from exc


def cmd_users_add(args: argparse.Namespace) -> int:
    from db.users import add_user

    user = _admin_call(add_user, args.name, args.role, read_password())
    print(f"user {user.name} added with role {user.role}")
    return 0


def cmd_users_list(_args: argparse.Namespace) -> int:
    from db.users import list_users

    users = list_users()
    if not users:
        print("no users yet: add one with `cxr users add NAME --role admin`")
    for user in users:
        print(f"{user.name:<24} {user.role:<9} {'active' if user.active else 'disabled':<9} "
              f"created {user.created_at:%Y-%m-%d %H:%M} UTC")
    return 0


def cmd_users_set_role(args: argparse.Namespace) -> int:
    from db.users import set_role

    user = _admin_call(set_role, args.name, args.role)
    print(f"user {user.name} now has role {user.role}; their existing sessions are signed out")
    return 0


def cmd_users_disable(args: argparse.Namespace) -> int:
    from db.users import set_active

    user = _admin_call(set_active, args.name, args.enable)
    print(f"user {user.name} is {'enabled' if user.active else 'disabled'}; "
          + ("they sign in again (sessions from before stay ended)" if user.active
             else "their sessions end at their next request"))
    return 0


def cmd_users_reset_password(args: argparse.Namespace) -> int:
    from db.users import reset_password

    user = _admin_call(reset_password, args.name, read_password("New password"))
    print(f"password of {user.name} reset; their existing sessions are signed out")
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    from db.audit import recent

    entries = recent(args.limit, action=args.action, actor=args.user)
    for entry in reversed(entries):
        print(f"{entry.created_at:%Y-%m-%d %H:%M:%S}  {entry.actor:<20} {entry.action:<16} "
              f"{entry.target}" + (f"  ({entry.detail})" if entry.detail else ""))
    if not entries:
        print("no audit events" + (" match" if args.action or args.user else " yet"))
    return 0


def users_arguments(users: argparse.ArgumentParser) -> None:
    """`cxr users` and its subcommands, each with its own handler."""
    actions = users.add_subparsers(dest="users_command", required=True)
    add = actions.add_parser("add", help="add a user (password prompted, or read from stdin)")
    add.add_argument("name")
    add.add_argument("--role", required=True, help=ROLES_HELP)
    add.set_defaults(func=cmd_users_add)
    actions.add_parser("list", help="list users").set_defaults(func=cmd_users_list)
    set_role = actions.add_parser("set-role", help="change a user's role")
    set_role.add_argument("name")
    set_role.add_argument("role", help=ROLES_HELP)
    set_role.set_defaults(func=cmd_users_set_role)
    disable = actions.add_parser("disable", help="disable a user (kept for the audit)")
    disable.add_argument("name")
    disable.set_defaults(func=cmd_users_disable, enable=False)
    enable = actions.add_parser("enable", help="enable a disabled user again")
    enable.add_argument("name")
    enable.set_defaults(func=cmd_users_disable, enable=True)
    reset = actions.add_parser("reset-password",
                               help="set a new password (prompted, or read from stdin)")
    reset.add_argument("name")
    reset.set_defaults(func=cmd_users_reset_password)


def audit_arguments(audit: argparse.ArgumentParser) -> None:
    audit.add_argument("--limit", type=int, default=50, help="newest N events (default 50)")
    audit.add_argument("--action", help="only this action, e.g. reviewed, uploaded, "
                                        "'viewed image', 'role changed'")
    audit.add_argument("--user", help="only this actor (a user name or cli:<login>)")


COMMANDS = {
    "users": Command("dashboard users and roles (no sign-in needed)", users_arguments, None),
    "audit": Command("who viewed, uploaded, reviewed, changed users", audit_arguments,
                     cmd_audit),
}
