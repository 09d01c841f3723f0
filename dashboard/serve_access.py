"""Safe defaults for `cxr serve`: who may reach the dashboard decides whether it may start.

- On a non-loopback address it refuses to start while no active admin exists.
- `--no-auth` (sign-in off, for a local demo) refuses any non-loopback address.
"""

from __future__ import annotations

import ipaddress
import os

from db.users import admin_exists
from engine.errors import UserError

LOOPBACK_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost")


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve to anything


def check_serve_access(host: str, no_auth: bool, https: bool = False) -> str:
    """Refuse an unsafe start (UserError); otherwise the line to print about sign-in."""
    if https:
        os.environ["CXR_HTTPS"] = "1"  # the workers set Secure on the session cookie
    if no_auth:
        if not is_loopback(host):
            raise UserError(f"--no-auth serves every image and result without sign-in, so it "
                            f"only binds a loopback address (127.0.0.1), not {host}; drop "
                            "--no-auth and create users with `cxr users add NAME --role ROLE`")
        return (f"SIGN-IN IS OFF (--no-auth): bound to {host}, so anyone on this machine who "
                "opens the dashboard sees every image and result. For a local demo only.")
    if not admin_exists():
        if not is_loopback(host):
            raise UserError(f"no admin user exists, and {host} can be reached from the "
                            "network: create one first with `cxr users add NAME --role admin` "
                            "(it prompts for the password), then serve again")
        return ("Sign-in is on, but there is no admin yet: create one with "
                "`cxr users add NAME --role admin`.")
    return "Sign-in is on: users sign in at /login (manage them with `cxr users`)."
