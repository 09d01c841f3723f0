"""`cxr demo`: synthetic data (or a real folder) -> ingest -> two small models -> dashboard."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

from db.session import cxr_home, dispose_engines
from engine import settings
from engine.cli.options import Command
from engine.cli.serve import server_argv
from engine.errors import UserError

DEMO_MODELS = (("small_cnn", 64), ("resnet18", 64))
DEMO_IMAGES_PER_CLASS = 200
# Training batches are 32 images and the train split is about 70% of the images.
DEMO_MIN_IMAGES_PER_CLASS = 24
DEMO_WORKERS = 2


def serve_argv(host: str, port: int, workers: int = DEMO_WORKERS) -> list[str]:
    """The `cxr serve` command the demo hands over to: sign-in off, so loopback only."""
    return [sys.executable, "-m", "engine.cli", "serve", "--host", host, "--port", str(port),
            "--workers", str(workers), "--no-auth"]


def hand_over_to_server(host: str, port: int) -> None:
    """Replace this process with a fresh `cxr serve` (never returns).

    Training used torch's thread pools here, and gunicorn forks its workers from the process
    that runs it: a worker forked from this one deadlocks on its first torch operation. A fresh
    interpreter under the same PID keeps the terminal's Ctrl-C and the exit code.
    """
    dispose_engines()  # no pooled database connection crosses the exec
    sys.stdout.flush()
    sys.stderr.flush()
    argv = serve_argv(host, port)
    os.execv(argv[0], argv)


def run_demo(data: str | None, epochs: int = 6, serve: bool = True, host: str = "127.0.0.1",
             port: int = 8050, images_per_class: int = DEMO_IMAGES_PER_CLASS) -> int:
    from engine.cli.runs import print_run_summary
    from engine.data.discover import ingest
    from engine.data.synthetic import generate
    from engine.training.train import TrainConfig, main

    if epochs < 1 or images_per_class < 2:
        raise UserError(f"--epochs {epochs} / --images-per-class {images_per_class}: use at "
                        "least 1 epoch and 2 images per class")
    if serve:
        _check_dashboard(host, port)  # refuse a bad address before minutes of training
    if data is None:
        root = cxr_home() / "demo-data"
        if not (root / "NORMAL").is_dir():
            print(f"generating synthetic demo data in {root} (not medical images)", flush=True)
            generate(root, n_per_class=images_per_class, size=128)
        data = str(root)
    report = ingest(data)
    print(f"ingested {report.total} files ({sum(report.skipped.values())} skipped)", flush=True)
    run_ids = []
    for arch, size in DEMO_MODELS:
        print(f"training {arch} at {size}px for {epochs} epochs", flush=True)
        run_ids.append(main(TrainConfig(arch=arch, data=data, epochs=epochs, image_size=size,
                                        batch_size=32, seed=0, name=f"demo-{arch}")))
    print_run_summary(run_ids)
    print(f"results: database {cxr_home() / 'cxr.db'} (or $CXR_DATABASE_URL), "
          f"artifacts {cxr_home() / 'artifacts'}")
    if not serve:
        return 0
    shown = f"[{host.strip('[]')}]" if ":" in host else host  # an IPv6 address needs brackets
    print(f"dashboard: http://{shown}:{port}/ (sign-in off: a local demo on this machine only; "
          "serve a team with `cxr users add NAME --role admin` and `cxr serve`)", flush=True)
    hand_over_to_server(host, port)
    return 0  # not reached: the process is now `cxr serve`


def _check_dashboard(host: str, port: int) -> None:
    """The server's own start-up check, in a process of its own (the engine never imports the
    dashboard): a refused address fails here, before minutes of training."""
    checked = subprocess.run(server_argv(host, port, 1, no_auth=True, check_only=True),
                             capture_output=True, text=True, check=False)
    if checked.returncode != 0:
        message = checked.stderr.strip().splitlines()[-1] if checked.stderr.strip() else ""
        if "--no-auth" in message:  # the server's words name the flag the demo passes itself
            message = (f"cxr demo serves its dashboard with sign-in off, so only on a loopback "
                       f"address such as 127.0.0.1 (the default), not {host}; to serve a team, "
                       "create users with `cxr users add NAME --role admin` and run `cxr serve "
                       f"--host {host}`, or run the demo with --no-serve")
        raise UserError(message.removeprefix("cxr: error: ") or "the dashboard cannot start; "
                        "run the demo with --no-serve")


def demo_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", help="use this dataset instead of synthetic data")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--images-per-class", type=int, default=200,
                        help="synthetic images drawn per class (default 200)")
    parser.add_argument("--no-serve", action="store_true", help="do not start the dashboard")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8050)


def cmd_demo(args: argparse.Namespace) -> int:
    if args.images_per_class < DEMO_MIN_IMAGES_PER_CLASS:
        raise UserError(f"--images-per-class {args.images_per_class} is too few for a train "
                        f"split of one batch; use {DEMO_MIN_IMAGES_PER_CLASS} or more")
    return run_demo(data=args.data or settings.CXR_DATA.get(), epochs=args.epochs,
                    serve=not args.no_serve, host=args.host, port=args.port,
                    images_per_class=args.images_per_class)


COMMANDS = {
    "demo": Command("synthetic data -> two models -> dashboard", demo_arguments, cmd_demo),
}
