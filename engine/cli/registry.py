"""`cxr promote`, `cxr demote` and `cxr aliases`: which run answers uploads, after MLflow's
model aliases.

Like `cxr users`, these act on the database directly: whoever can read CXR_HOME (or
CXR_DATABASE_URL) holds the data and acts as its admin, recorded as "cli:<login>"; `--as NAME`
records a dashboard admin instead (refused unless NAME is an active admin)."""

from __future__ import annotations

import argparse

from engine.cli.options import Command

PRODUCTION = "production"  # db.models.PRODUCTION_ALIAS, without importing the ORM for --help


def _actor(name: str | None):  # noqa: ANN202 - db.audit.Actor, imported late (light --help)
    from db.audit import cli_actor
    from db.registry import named_admin

    return named_admin(name) if name else cli_actor()


def cmd_promote(args: argparse.Namespace) -> int:
    from db.registry import promote

    assignment = promote(args.run, args.alias, _actor(args.as_user), force=args.force)
    print(f"run {assignment.run_id} ({assignment.run_name}) is now {assignment.alias}, "
          f"set by {assignment.set_by} at {assignment.set_at:%Y-%m-%d %H:%M:%S} UTC")
    if assignment.forced_past:
        print(f"  ! forced past: {assignment.forced_past}")
    return 0


def cmd_demote(args: argparse.Namespace) -> int:
    from db.registry import remove_alias

    assignment = remove_alias(args.alias, _actor(args.as_user))
    print(f"alias {assignment.alias} removed from run {assignment.run_id}; no run holds it now"
          + ("; `cxr score` scores with every completed run again"
             if assignment.alias == PRODUCTION else ""))
    return 0


def cmd_aliases(args: argparse.Namespace) -> int:
    from db.registry import alias_history, current_aliases

    rows = alias_history(args.alias) if args.history else current_aliases()
    if not rows:
        print("no aliases yet: `cxr promote RUN --alias production` sets one")
    for row in rows:
        held = ("now" if row.current
                else f"until {row.replaced_at:%Y-%m-%d %H:%M:%S} (by {row.replaced_by})")
        print(f"{row.alias:<16} run {row.run_id:<4} {row.run_name[:28]:<28} "
              f"from {row.set_at:%Y-%m-%d %H:%M:%S} {held}  set by {row.set_by}"
              + (f"  (forced past: {row.forced_past})" if row.forced_past else ""))
    return 0


def _as_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--as", dest="as_user", metavar="NAME",
                        help="record this dashboard admin as who did it (default: cli:<login>)")


def promote_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", type=int, metavar="RUN", help="the run id (`cxr runs`)")
    parser.add_argument("--alias", default=PRODUCTION,
                        help="the alias to point at RUN (default production: what `cxr score` "
                             "and the Score page answer with)")
    parser.add_argument("--force", action="store_true",
                        help="promote a run that is not completed, is unhealthy or was never "
                             "evaluated on test (the reasons are kept with the alias); a run "
                             "with no checkpoint (imported, crossval) is never promoted")
    _as_argument(parser)


def demote_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--alias", default=PRODUCTION, help="the alias to remove "
                                                            "(default production)")
    _as_argument(parser)


def aliases_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--history", action="store_true",
                        help="every assignment: which run held each alias when")
    parser.add_argument("--alias", help="with --history: only this alias")


COMMANDS = {
    "promote": Command("point an alias (default production) at a run: admins only, audited",
                       promote_arguments, cmd_promote),
    "demote": Command("remove an alias (default production) from its run", demote_arguments,
                      cmd_demote),
    "aliases": Command("which run holds each alias, and (--history) which held it when",
                       aliases_arguments, cmd_aliases),
}
