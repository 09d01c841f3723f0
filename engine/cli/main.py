"""`cxr`: the parser, built from each command group's COMMANDS, and the dispatch.

Every module of engine/cli/ parses, calls the engine and prints; none computes, and importing
them loads no torch (`cxr --help` stays instant)."""

from __future__ import annotations

import argparse
import os
import sys

from engine.cli import (
    adapt,
    calibrate,
    crossval,
    data,
    demo,
    evaluate,
    explain,
    features,
    imports,
    registry,
    report,
    runs,
    score,
    serve,
    slices,
    train,
    users,
)
from engine.errors import UserError

EXIT_USER_ERROR = 2
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a closed pipe

# In the order `cxr --help` lists them: the command and the group that owns it.
COMMANDS = (("ingest", data), ("train", train), ("evaluate", evaluate), ("score", score),
            ("road", explain), ("attention", explain), ("check-masks", explain),
            ("ensemble", evaluate),
            ("adapt", adapt), ("calibrate", calibrate), ("import-predictions", imports),
            ("runs", runs), ("slices", slices), ("map", features), ("lookalikes", features),
            ("promote", registry), ("demote", registry), ("aliases", registry),
            ("compare", train), ("demo", demo), ("serve", serve), ("users", users),
            ("audit", users), ("report", report),
            ("crossval", crossval), ("label-issues", crossval))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cxr", description="CXR Lens: train, evaluate and explain chest X-ray classifiers.")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, group in COMMANDS:
        entry = group.COMMANDS[name]
        command = commands.add_parser(name, help=entry.help)
        entry.arguments(command)
        if entry.handler is not None:
            command.set_defaults(func=entry.handler)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        status = _run(args)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit
        return status
    except BrokenPipeError:
        # The reader closed stdout early (`cxr runs | head -1`): end quietly, like other tools.
        # stdout goes to devnull so the interpreter's final flush raises nothing either.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE


def _run(args: argparse.Namespace) -> int:
    try:
        from db.migrate import init_db
        from db.session import StorageError

        try:
            init_db()
        except StorageError as exc:
            raise UserError(str(exc)) from exc
        return args.func(args)
    except UserError as exc:
        print(f"cxr: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("cxr: interrupted", file=sys.stderr)
        return 130
