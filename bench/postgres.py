"""A private PostgreSQL server for the benches, from Debian's packages.

    python bench/postgres.py          # start it (installing postgresql if missing); print its URL

CXR_BENCH_POSTGRES_URL names a server to use instead (an admin URL on which the benches may
create databases). Otherwise the cluster lives in $TMPDIR/cxr-bench-pg, so databases a bench
filled survive to the next run; it listens on 127.0.0.1 only, with trust auth, fsync off: a
throwaway bench server, never a store for results anyone keeps. It is left running (a second
bench reuses it); `python bench/postgres.py --stop` stops it.
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from engine import settings

PORT = settings.CXR_BENCH_PG_PORT.get()
DATA = Path(tempfile.gettempdir()) / "cxr-bench-pg"


def _bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parent.parent.name))
    return Path(found[-1]).parent if found else None


def _as_postgres(command: list[str]) -> list[str]:
    """initdb and postgres refuse to run as root: run them as the postgres user there."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def install() -> Path:
    """The server binaries' folder; apt-get installs postgresql when it is missing (as root)."""
    found = _bin()
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise SystemExit("PostgreSQL is not installed and this user cannot apt-get it: install "
                         "Debian's postgresql package, or set CXR_BENCH_POSTGRES_URL")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "postgresql"], check=True, env=env)
    found = _bin()
    if not found:
        raise SystemExit("apt-get installed postgresql, but no /usr/lib/postgresql/*/bin/initdb")
    return found


def admin_url() -> str:
    """An admin URL of a running server: CXR_BENCH_POSTGRES_URL, or the private cluster."""
    if settings.CXR_BENCH_POSTGRES_URL.get():
        return settings.CXR_BENCH_POSTGRES_URL.get()
    binaries = install()
    if not (DATA / "PG_VERSION").exists():
        shutil.rmtree(DATA, ignore_errors=True)  # what a failed initdb left behind
        DATA.mkdir(parents=True)
        if os.geteuid() == 0:
            shutil.chown(DATA, "postgres")
        subprocess.run(_as_postgres([str(binaries / "initdb"), "-D", str(DATA), "-A", "trust",
                                     "-U", "postgres"]), check=True, stdout=subprocess.DEVNULL)
    running = subprocess.run(_as_postgres([str(binaries / "pg_ctl"), "-D", str(DATA), "status"]),
                             stdout=subprocess.DEVNULL, check=False).returncode == 0
    if not running:
        options = (f"-p {PORT} -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c synchronous_commit=off -c max_connections=200 -c shared_buffers=1GB")
        subprocess.run(_as_postgres([str(binaries / "pg_ctl"), "-D", str(DATA), "-l",
                                     str(DATA / "server.log"), "-w", "-o", options, "start"]),
                       check=True, stdout=subprocess.DEVNULL)
    return f"postgresql+psycopg2://postgres@127.0.0.1:{PORT}/postgres"


def database(name: str) -> str:
    """URL of database `name` on the bench server, created if absent (its rows are kept)."""
    from sqlalchemy import create_engine, text

    admin = admin_url()
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        if not connection.execute(text("SELECT 1 FROM pg_database WHERE datname = :name"),
                                  {"name": name}).scalar():
            connection.execute(text(f'CREATE DATABASE "{name}"'))  # names are ours, not input
    engine.dispose()
    return f"{admin.rsplit('/', 1)[0]}/{name}"


def stop() -> None:
    binaries = _bin()
    if binaries and (DATA / "PG_VERSION").exists():
        subprocess.run(_as_postgres([str(binaries / "pg_ctl"), "-D", str(DATA), "-m", "fast",
                                     "stop"]), check=False, stdout=subprocess.DEVNULL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stop", action="store_true")
    args = parser.parse_args()
    if args.stop:
        stop()
    else:
        print(admin_url())


if __name__ == "__main__":
    sys.exit(main())
