"""The Download report button: the route needs a signed-in viewer, answers private no-store,
records the download in the audit, refuses bad input in one line, and the buttons on the Runs
and Compare pages point at it for what the page shows."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from dashboard import ids, report_files
from dashboard.files import MAX_ID
from tests.auth_helpers import sign_in_client
from tests.engine.report.store import PASSWORD, report_store  # noqa: F401 - a fixture

WAIT_S = 20


def _downloads(actor: str) -> list:
    from db.audit import recent

    return recent(50, action="downloaded report", actor=actor)


def test_a_viewer_downloads_the_report_and_the_audit_keeps_it(dash_app,
                                                              report_store: dict) -> None:  # noqa: F811
    first, second = report_store["run_ids"]
    client = sign_in_client(dash_app.server.test_client(), "report-viewer", PASSWORD)
    before = len(_downloads("report-viewer"))
    response = client.get(f"/report/download?runs={first},{second}&split=test")
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert response.headers["Cache-Control"] == "private, no-store"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="cxr-report-runs-{first}-{second}-test.html"')
    page = response.get_data(as_text=True)
    assert page.startswith("<!-- PATIENT DATA:") and "Flip matrix" in page
    events = _downloads("report-viewer")
    assert len(events) == before + 1
    assert (events[0].target, events[0].detail) == (f"runs {first}, {second}",
                                                    "test split, via dashboard")


def test_no_one_below_viewer_gets_a_report(dash_app, report_store: dict) -> None:  # noqa: F811
    from db.audit import Actor
    from db.users import set_active

    run_id = report_store["run_ids"][0]
    url = f"/report/download?runs={run_id}"
    anonymous = dash_app.server.test_client().get(url)
    assert anonymous.status_code == 401 and "Flip" not in anonymous.get_data(as_text=True)
    client = sign_in_client(dash_app.server.test_client(), "report-viewer", PASSWORD)
    set_active("report-viewer", False, Actor("tests"))
    try:
        assert client.get(url).status_code == 401  # disabled: the session ends
    finally:
        set_active("report-viewer", True, Actor("tests"))


BAD_REQUESTS = (("runs=abc", 400, "runs must be 1 to 10 run ids"),
                ("runs=", 400, "runs must be 1 to 10 run ids"),
                ("runs=1,2,3,4,5,6,7,8,9,10,11", 400, "runs must be 1 to 10 run ids"),
                ("runs=99999999999", 400, "runs must be 1 to 10 run ids"),
                ("runs=1,-2", 400, "runs must be 1 to 10 run ids"),
                ("runs=999", 404, "run 999 does not exist"),
                ("runs=1&split=train", 400, "split must be test or val"),
                ("runs=%C2%B2", 400, "runs must be 1 to 10 run ids"),
                ("runs=" + "9" * 5000, 400, "runs must be 1 to 10 run ids"))


def test_bad_requests_are_one_line(dash_app, report_store: dict) -> None:  # noqa: F811
    client = sign_in_client(dash_app.server.test_client(), "report-viewer", PASSWORD)
    before = len(_downloads("report-viewer"))
    for query, status, words in BAD_REQUESTS:
        response = client.get(f"/report/download?{query}")
        text = response.get_data(as_text=True)
        assert response.status_code == status and words in text, (query, text)
        assert len(text.strip().splitlines()) == 1 and response.mimetype == "text/plain"
        assert response.headers["Cache-Control"] == "private, no-store"
    assert len(_downloads("report-viewer")) == before  # nothing was downloaded


ID_PARTS = st.one_of(st.integers(-5, 2**40).map(str), st.text(max_size=6),
                     st.sampled_from(["", " ", "1e3", "0x1", "²", "１", "+1", "9" * 30]))


@given(st.lists(ID_PARTS, max_size=14), st.sampled_from([",", ", ", ",,", " ,", ";"]))
def test_run_ids_are_short_lists_of_database_ids_or_nothing(parts: list[str],
                                                            separator: str) -> None:
    text = separator.join(parts)
    parsed = report_files._run_ids(text)
    if parsed is None:
        return
    given_parts = [part.strip() for part in text.split(",") if part.strip()]
    assert parsed == [int(part) for part in given_parts]
    assert 1 <= len(parsed) <= report_files.MAX_RUNS and all(0 < v <= MAX_ID for v in parsed)
    assert all(part.isascii() and part.isdigit() for part in given_parts)


@pytest.mark.browser
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_the_buttons_follow_the_pages_selection(browser, live_server: str,
                                                report_store: dict) -> None:  # noqa: F811
    first, second = sorted(report_store["run_ids"])

    def href(element_id: str) -> str:
        WebDriverWait(browser, WAIT_S).until(
            lambda b: (b.find_elements(By.ID, element_id) or [None])[0] is not None
            and "runs=" in (b.find_element(By.ID, element_id).get_attribute("href") or ""))
        return browser.find_element(By.ID, element_id).get_attribute("href")

    browser.get(f"{live_server}/?runs={first},{second}&split=val")
    assert href(ids.RUNS_REPORT).endswith(f"/report/download?runs={first}%2C{second}&split=val")
    browser.get(f"{live_server}/compare?a={first}&b={second}&split=test")
    assert href(ids.CMP_REPORT).endswith(f"/report/download?runs={first}%2C{second}&split=test")
