"""Sign in through the browser as a reviewer, review an image: the stored reviewer is the user."""

from __future__ import annotations

import shutil
import time

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from dashboard import ids
from tests.auth_helpers import ensure_user, sign_in_browser
from tests.dashboard.conftest import chromium_driver

pytestmark = pytest.mark.browser
WAIT_S = 60


def test_signed_in_reviewer_is_the_stored_reviewer(live_server: str, trained_home: dict) -> None:
    from db.models import Review
    from db.session import session_scope
    from db.users import list_users

    ensure_user("rita-reviewer", "reviewer", "rita-password")
    driver = chromium_driver()  # a browser of its own: no test admin session in it
    try:
        driver.get(f"{live_server}/errors")
        WebDriverWait(driver, WAIT_S).until(lambda d: "/login" in d.current_url)
        sign_in_browser(driver, live_server, "rita-reviewer", "rita-password")
        assert driver.get_cookie("cxr_session")["httpOnly"]
        run_id = trained_home["run_ids"][0]
        driver.get(f"{live_server}/errors?run={run_id}&split=test&t=0&cell=tp")
        tile = WebDriverWait(driver, WAIT_S).until(expected_conditions.element_to_be_clickable(
            (By.CSS_SELECTOR, f"#{ids.ERR_GALLERY} .cxr-tile")))
        tile.click()
        WebDriverWait(driver, WAIT_S).until(lambda d: "image=" in d.current_url)
        image_id = int(driver.current_url.split("image=")[1].split("&")[0])
        save = WebDriverWait(driver, WAIT_S).until(
            expected_conditions.element_to_be_clickable((By.ID, ids.REVIEW_SAVE)))
        assert driver.find_element(By.ID, ids.REVIEW_REVIEWER).text == "rita-reviewer"
        verdict = driver.find_element(By.CSS_SELECTOR,
                                      f"#{ids.REVIEW_VERDICT} input[value='label error']")
        driver.execute_script("arguments[0].click();", verdict)
        note = f"signed-in review {time.time():.0f}"
        driver.find_element(By.ID, ids.REVIEW_NOTE).send_keys(note)
        driver.execute_script("arguments[0].click();", save)
        WebDriverWait(driver, WAIT_S).until(
            lambda d: note in d.find_element(By.ID, ids.REVIEW_LIST).text)
    finally:
        driver.quit()
        shutil.rmtree(driver.profile_dir, ignore_errors=True)
    rita = next(user for user in list_users() if user.name == "rita-reviewer")
    with session_scope() as session:
        review = session.query(Review).filter(Review.note == note).one()
        assert (review.reviewer, review.user_id, review.image_id) == (rita.name, rita.id,
                                                                      image_id)
    from db.audit import recent

    mine = {(entry.action, entry.target) for entry in recent(50, actor="rita-reviewer")}
    assert ("reviewed", f"image {image_id}") in mine
    assert ("viewed image", f"image {image_id}") in mine and ("signed in", "127.0.0.1") in mine
