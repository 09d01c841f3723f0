"""Signing in for tests: a test admin in the current store, and signed-in clients of each kind.

The dashboard enforces sign-in by default, so fixtures sign in through the real /login route
(Flask-Login session cookie) rather than turning authentication off.
"""

from __future__ import annotations

import re
from functools import lru_cache

import requests

TEST_ADMIN = "test-admin"
TEST_PASSWORD = "test-admin-password"  # noqa: S105 - a test account in a temporary store


def ensure_user(name: str = TEST_ADMIN, role: str = "admin",
                password: str = TEST_PASSWORD) -> None:
    """Create the user in the store the environment points at, unless it exists."""
    from db.audit import Actor
    from db.users import add_user, list_users

    if name not in {user.name for user in list_users()}:
        add_user(name, role, password, Actor("tests"))


def form_token(html: str) -> str:
    """The sign-in form's token (it travels with the session cookie the form's page set)."""
    found = re.search(r'name="csrf_token" value="([^"]*)"', html)
    assert found, html[:300]
    return found.group(1)


def post_login(client, name: str, password: str, **extra):  # noqa: ANN001, ANN003, ANN201
    """Open the sign-in page and post its form as a browser would, on a Flask test client."""
    token = form_token(client.get("/login").get_data(as_text=True))
    return client.post("/login", data={"name": name, "password": password,
                                       "csrf_token": token, **extra})


def sign_in_client(client, name: str = TEST_ADMIN, password: str = TEST_PASSWORD):  # noqa: ANN001, ANN201
    """Sign a Flask test client in; returns it."""
    if name == TEST_ADMIN:
        ensure_user()
    response = post_login(client, name, password)
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    return client


def signed_in_session(base_url: str, name: str = TEST_ADMIN,
                      password: str = TEST_PASSWORD) -> requests.Session:
    """A fresh requests.Session signed in to the server at `base_url`."""
    if name == TEST_ADMIN:
        ensure_user()
    session = requests.Session()
    token = form_token(session.get(f"{base_url}/login", timeout=60).text)
    response = session.post(f"{base_url}/login", data={"name": name, "password": password,
                                                       "csrf_token": token},
                            allow_redirects=False, timeout=60)
    assert response.status_code == 302, response.text[:300]
    return session


@lru_cache(maxsize=16)
def admin_session(base_url: str) -> requests.Session:
    """One signed-in admin session per server, shared by a module's requests."""
    return signed_in_session(base_url)


def sign_in_browser(driver, base_url: str, name: str = TEST_ADMIN,  # noqa: ANN001
                    password: str = TEST_PASSWORD) -> None:
    """Sign a Selenium browser in through the sign-in page."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as conditions
    from selenium.webdriver.support.ui import WebDriverWait

    if name == TEST_ADMIN:
        ensure_user()
    driver.get(f"{base_url}/login")
    driver.find_element(By.ID, "login-name").send_keys(name)
    driver.find_element(By.ID, "login-password").send_keys(password)
    driver.find_element(By.ID, "login-submit").click()
    WebDriverWait(driver, 30).until(conditions.url_matches(rf"^{base_url}/(\?.*)?$"))
