"""`cxr serve --host`: the loopback decision is made on the address the server binds.

Every spelling is parsed once (dashboard/serve_access.py `parse_host`) and gunicorn is handed the
canonical form. The property test binds a real socket the way gunicorn does with that form and
checks that whatever was called loopback is loopback on the socket; unparseable input may always
be refused, in one line.
"""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path

import pytest
from gunicorn.util import is_ipv6, parse_address
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dashboard.serve_access import BindAddress, check_serve_access, parse_host
from db.audit import Actor
from db.errors import UserError
from db.users import add_user


def _ipv6_loopback_works() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


IPV6 = _ipv6_loopback_works()
LOOPBACK = ["::1", "0:0:0:0:0:0:0:1", "0000::1", "[::1]", "127.1", "127.0.0.2", "localhost",
            "localhost.", "::ffff:127.0.0.1", "2130706433", "0177.0.0.1", "0x7f.1", "LOCALHOST"]
OPEN = ["0.0.0.0", "::", "0", "[::]", "0.0", "::ffff:0.0.0.0"]
REFUSED = ["", "[]", "example.invalid", "127.0.0.1:8050", "::1:8050:x", "fe80::1%lo",
           "http://127.0.0.1", "127.0.0.1 0.0.0.0", "a" * 300]


def _bound_by_gunicorn(address: BindAddress) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """Bind port 0 as gunicorn binds our `bind` string (gunicorn/sock.py: the family from
    is_ipv6 on the parsed host, then bind((host, port))); the address the socket holds."""
    host, port = parse_address(address.bind(0))
    family = socket.AF_INET6 if is_ipv6(host) else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, port))
        bound = ipaddress.ip_address(sock.getsockname()[0])
    return getattr(bound, "ipv4_mapped", None) or bound


@pytest.mark.parametrize("host", LOOPBACK)
def test_loopback_spellings_bind_loopback(host: str) -> None:
    address = parse_host(host)
    assert address.loopback
    assert parse_address(address.bind(8050)) == (str(address.address), 8050)
    if address.address.version == 6:
        assert address.bind(8050) == "[::1]:8050"
        if not IPV6:
            pytest.skip("no IPv6 on this machine: the decision is checked, not the socket")
    assert _bound_by_gunicorn(address).is_loopback


@pytest.mark.parametrize("host", OPEN)
def test_every_interface_spellings_are_not_loopback(host: str) -> None:
    address = parse_host(host)
    assert not address.loopback and address.address.is_unspecified
    assert parse_address(address.bind(8050))[0] == str(address.address)


@pytest.mark.parametrize("host", REFUSED)
def test_unparseable_hosts_are_refused_in_one_line(host: str) -> None:
    with pytest.raises(UserError) as refused:
        parse_host(host)
    message = str(refused.value)
    assert "--host" in message and "\n" not in message


def test_a_host_name_is_decided_on_every_address_it_resolves_to() -> None:
    name = socket.gethostname()
    try:
        found = {ipaddress.ip_address(info[4][0].split("%")[0])
                 for info in socket.getaddrinfo(name, None, type=socket.SOCK_STREAM)}
    except OSError:
        pytest.skip(f"this machine's own name {name} does not resolve")
    found = {getattr(ip, "ipv4_mapped", None) or ip for ip in found}
    address = parse_host(name)
    assert set(address.resolved) == found and address.address in found
    assert address.loopback == all(ip.is_loopback for ip in found)


def test_refusals_follow_the_bound_address(cxr_home: Path) -> None:
    every_interface = parse_host("0")
    with pytest.raises(UserError, match="only binds a loopback address"):
        check_serve_access(every_interface, no_auth=True)
    with pytest.raises(UserError, match="no admin user exists"):
        check_serve_access(every_interface, no_auth=False)
    with pytest.raises(UserError, match="Werkzeug debugger"):
        check_serve_access(parse_host("::"), no_auth=False, debug=True)
    assert "SIGN-IN IS OFF" in check_serve_access(parse_host("0:0:0:0:0:0:0:1"), no_auth=True)
    assert "no admin yet" in check_serve_access(parse_host("[::1]"), no_auth=False, debug=True)
    add_user("root", "admin", "a-long-enough-password", Actor("tests"))
    assert "Sign-in is on" in check_serve_access(every_interface, no_auth=False)


# --- what nobody listed -------------------------------------------------------------------

def _ipv4_part(value: int, draw_base: int) -> str:
    return (str(value), f"0{value:o}", f"0x{value:x}", f"0X{value:X}")[draw_base]


@st.composite
def ipv4_spellings(draw: st.DrawFn) -> str:
    first = draw(st.sampled_from([127, 127, 0, 10, 255]) | st.integers(0, 255))
    octets = [first, *draw(st.lists(st.integers(0, 255), min_size=3, max_size=3))]
    value = int.from_bytes(bytes(octets), "big")
    parts = draw(st.integers(1, 4))  # a.b.c.d, a.b.c (c is 16 bits), a.b (24 bits), a (32)
    fields = octets[:parts - 1] + [value & ((1 << (8 * (5 - parts))) - 1)]
    text = ".".join(_ipv4_part(field, draw(st.integers(0, 3))) for field in fields)
    return text + draw(st.sampled_from(["", "", "."]))


@st.composite
def ipv6_spellings(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["loopback", "unspecified", "mapped", "random"]))
    if kind == "mapped":
        tail = ".".join(str(draw(st.integers(0, 255))) for _ in range(3))
        head = draw(st.sampled_from(["::ffff:", "0:0:0:0:0:ffff:", "::FFFF:"]))
        text = f"{head}{draw(st.sampled_from(['127', '0', '10']))}.{tail}"
    else:
        groups = {"loopback": [0] * 7 + [1], "unspecified": [0] * 8}.get(kind) or draw(
            st.lists(st.integers(0, 0xFFFF) | st.just(0), min_size=8, max_size=8))
        widths = draw(st.lists(st.integers(1, 4), min_size=8, max_size=8))
        spelled = [f"{group:0{width}x}" for group, width in zip(groups, widths, strict=True)]
        start, length = draw(st.integers(0, 8)), draw(st.integers(0, 8))
        end = min(start + length, 8)
        if length and all(group == 0 for group in groups[start:end]):  # zero compression
            text = ":".join(spelled[:start]) + "::" + ":".join(spelled[end:])
        else:
            text = ":".join(spelled)
        text = text.upper() if draw(st.booleans()) else text
    text += draw(st.sampled_from(["", "", "%lo", "%1", "%eth0"]))
    return f"[{text}]" if draw(st.booleans()) else text


def _names_from_hosts_file() -> list[str]:
    try:
        lines = Path("/etc/hosts").read_text().splitlines()
    except OSError:
        return []
    return [name for line in lines if line.strip() and not line.startswith("#")
            for name in line.split()[1:]][:20]


host_names = (
    st.sampled_from(["localhost", "LocalHost", "localhost.", socket.gethostname(),
                     *_names_from_hosts_file()])
    | st.from_regex(r"\A[a-z][a-z0-9-]{0,12}\.invalid\.?\Z")
)
garbage = st.text(st.sampled_from("0123456789abcdefx.:[]% -/"), max_size=24)
spellings = ipv4_spellings() | ipv6_spellings() | host_names | garbage


@settings(max_examples=250, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(spellings)
def test_any_spelling_is_loopback_only_if_the_bound_socket_is(spelling: str) -> None:
    try:
        address = parse_host(spelling)
    except UserError as refused:  # refusing is always allowed, in one clear line
        assert "--host" in str(refused) and "\n" not in str(refused)
        return
    # gunicorn reads the bind string back as exactly the address that was decided on
    assert parse_address(address.bind(8050)) == (str(address.address), 8050)
    assert address.address in address.resolved
    if address.address.version == 6 and not IPV6:
        return  # no IPv6 here: only the decision could be checked
    try:
        bound = _bound_by_gunicorn(address)
    except OSError:
        assert not address.loopback, f"{spelling!r} was called loopback but cannot be bound"
        return
    assert bound == address.address or bound.is_unspecified == address.address.is_unspecified
    if address.loopback:
        assert bound.is_loopback, f"{spelling!r} was called loopback but binds {bound}"
    else:
        assert not bound.is_loopback, f"{spelling!r} binds loopback {bound}: call it so"
