"""Safe defaults for `cxr serve`: who may reach the dashboard decides whether it may start.

The --host is parsed once into the address the server binds (`BindAddress`); every decision is
made on that address, and the server is handed its canonical form, so what is checked is what
listens.
- On a non-loopback address it refuses to start while no active admin exists.
- `--no-auth` (sign-in off, for a local demo) and `--debug` (the Werkzeug debugger runs code for
  whoever reaches it) refuse any non-loopback address.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass

from dashboard.auth import secret_key
from db.session import cxr_home
from db.users import admin_exists
from engine.errors import UserError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class BindAddress:
    """The --host as typed, the address the server binds, and every address the host names."""

    host: str
    address: IPAddress
    resolved: tuple[IPAddress, ...]

    @property
    def loopback(self) -> bool:
        # A name counts only if every address it resolves to is loopback.
        return all(address.is_loopback for address in self.resolved)

    @property
    def url_host(self) -> str:
        """The address as a URL (and gunicorn's bind) spells it: IPv6 in brackets."""
        return f"[{self.address}]" if self.address.version == 6 else str(self.address)

    def bind(self, port: int) -> str:
        return f"{self.url_host}:{port}"


def _plain(address: IPAddress) -> IPAddress:
    """An IPv4-mapped IPv6 address (::ffff:127.0.0.1) is the IPv4 address it carries."""
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped or address


def parse_host(host: str) -> BindAddress:
    """The address `host` stands for (an IP address in any spelling getaddrinfo accepts, or a
    name it resolves); a UserError with a one-line reason if it stands for none."""
    spelled = host.strip()
    if spelled.startswith("[") and spelled.endswith("]"):
        spelled = spelled[1:-1]  # [::1], as in a URL
    if spelled.endswith(".") and not spelled.endswith(".."):
        spelled = spelled[:-1]  # a fully qualified name: localhost. is localhost
    if not spelled:
        raise UserError("--host is empty: give an address such as 127.0.0.1 (this machine "
                        "only) or 0.0.0.0 (every interface)")
    try:
        found = socket.getaddrinfo(spelled, None, socket.AF_UNSPEC, socket.SOCK_STREAM)
    except (OSError, UnicodeError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise UserError(f"--host {host!r} is neither an IP address nor a name that resolves "
                        f"({reason}): give an address such as 127.0.0.1 or ::1") from None
    if any(len(sockaddr) == 4 and sockaddr[3] for *_, sockaddr in found):
        raise UserError(f"--host {host!r} names a scoped (link-local) IPv6 address, which the "
                        "server cannot bind: give a global or loopback address instead")
    resolved = tuple(dict.fromkeys(
        _plain(ipaddress.ip_address(sockaddr[0].split("%")[0])) for *_, sockaddr in found))
    return BindAddress(host, resolved[0], resolved)


def check_serve_access(address: BindAddress, no_auth: bool, https: bool = False,
                       debug: bool = False) -> str:
    """Refuse an unsafe start (UserError); otherwise the line to print about sign-in."""
    where = address.host if address.host == str(address.address) else (
        f"{address.host} ({', '.join(map(str, address.resolved))})")
    if debug and not address.loopback:
        raise UserError(f"--debug runs the Werkzeug debugger, which runs any code for whoever "
                        f"reaches it, so it only binds a loopback address (127.0.0.1 or ::1), "
                        f"not {where}; drop --debug to serve the network")
    if no_auth:
        if not address.loopback:
            raise UserError(f"--no-auth serves every image and result without sign-in, so it "
                            f"only binds a loopback address (127.0.0.1), not {where}; drop "
                            "--no-auth and create users with `cxr users add NAME --role ROLE`")
        return (f"SIGN-IN IS OFF (--no-auth): bound to {address.url_host}, so anyone on this "
                "machine who opens the dashboard sees every image and result. For a local demo "
                "only.")
    secret_key(cxr_home())  # a bad CXR_SECRET_KEY stops the start here, in one line
    if not admin_exists():
        if not address.loopback:
            raise UserError(f"no admin user exists, and {where} can be reached from the "
                            "network: create one first with `cxr users add NAME --role admin` "
                            "(it prompts for the password), then serve again")
        return ("Sign-in is on, but there is no admin yet: create one with "
                "`cxr users add NAME --role admin`.")
    return "Sign-in is on: users sign in at /login (manage them with `cxr users`)."
