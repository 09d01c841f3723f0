"""No `next` sends a browser off this server after sign-in (Hypothesis: what nobody listed).

Each example signs in through the real Flask test client with next=<string> and reads the
Location header as a browser would: resolved with urljoin against this host, also after
dropping tabs and newlines and reading backslashes as slashes. The sign-in form the string
produces must post to this server too.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dashboard.login_views import safe_next
from db.audit import Actor
from db.users import add_user, list_users

HOST = "this-host"
NAME, PASSWORD = "next-tester", "a-long-enough-password"
DANGEROUS = st.sampled_from([
    "/", "//", "\\", "\t", "\n", "\r", " ", "\x00", "\x7f", "%09", "%0a", "%0d", "%2F", "%5C",
    "%25", "@", ":", ".", "?", "#", "evil.example", "https:", "javascript:", "\u3000", "\u2028",
    "\uff0f", "\uff3c", "é",
])
# Mostly strings built from the dangerous alphabet, most starting with "/" as real targets do.
_PIECES = st.lists(DANGEROUS, max_size=8).map("".join)
NEXT_VALUES = st.one_of(_PIECES.map(lambda rest: "/" + rest), _PIECES.map(lambda rest: "/" + rest),
                        _PIECES, st.text(max_size=30))
SETTINGS = settings(max_examples=100, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


def _browser_readings(location: str) -> list[str]:
    """The ways a browser may read a URL: as given, without tabs and newlines (and the outer
    spaces and controls it strips), and with backslashes read as slashes."""
    stripped = re.sub(r"[\t\n\r]", "", location).strip("".join(map(chr, range(0x21))))
    return [location, stripped, stripped.replace("\\", "/")]


def assert_on_this_host(location: str, path: str | None = None) -> None:
    for reading in _browser_readings(location):
        resolved = urlsplit(urljoin(f"http://{HOST}/", reading))
        assert (resolved.scheme, resolved.netloc) == ("http", HOST), (location, reading)
        assert path is None or resolved.path == path, (location, reading)


class _Form(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {key: value or "" for key, value in attrs}
        if tag == "form":
            self.action = values.get("action", "")
        elif tag == "input" and "name" in values:
            self.fields[values["name"]] = values.get("value", "")


@pytest.fixture(scope="module")
def login_client(empty_app):  # noqa: ANN001, ANN201
    if NAME not in {user.name for user in list_users()}:
        add_user(NAME, "viewer", PASSWORD, Actor("tests"))
    return empty_app.server.test_client()


@SETTINGS
@given(target=NEXT_VALUES)
def test_sign_in_never_redirects_off_this_server(login_client, target: str) -> None:  # noqa: ANN001
    page = login_client.get("/login", query_string={"next": target})
    form = _Form()
    form.feed(page.get_data(as_text=True))
    assert form.action is not None
    assert_on_this_host(form.action, path="/login")
    assert_on_this_host(form.fields["next"])
    # As a browser posts the form, and as a hand-made post to /login?next=... would.
    answer = login_client.post("/login", query_string={"next": target}, data={
        "name": NAME, "password": PASSWORD, "csrf_token": form.fields["csrf_token"],
        "next": form.fields["next"] if len(target) % 2 else target})
    assert answer.status_code == 302, answer.get_data(as_text=True)[:300]
    assert_on_this_host(answer.headers["Location"])


@settings(max_examples=3000, deadline=None, derandomize=True)
@given(target=NEXT_VALUES)
def test_safe_next_is_always_a_path_here(target: str) -> None:
    assert_on_this_host(safe_next(target))


@pytest.mark.parametrize("target", ["/%09/evil.example", "/\t/evil.example", "//evil.example",
                                    "/\\evil.example", "https://evil.example", "/\n/evil"])
def test_known_open_redirects_are_closed(login_client, target: str) -> None:  # noqa: ANN001
    page = login_client.get("/login", query_string={"next": target}).get_data(as_text=True)
    form = _Form()
    form.feed(page)
    answer = login_client.post(form.action, data={
        "name": NAME, "password": PASSWORD, "csrf_token": form.fields["csrf_token"],
        "next": form.fields["next"]})
    assert_on_this_host(answer.headers["Location"])


def test_real_targets_survive(login_client) -> None:  # noqa: ANN001
    for target in ("/errors?run=3&split=val", "/compare", "/runs/é"):
        assert safe_next(target).startswith(target[:5])
    assert safe_next("/errors?run=3&split=val") == "/errors?run=3&split=val"
