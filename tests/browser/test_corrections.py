""" "Wrong? Correct it" on every page, in a real browser: a correction typed under an answer is
sent with the image, counted, and stored with its label; one that cannot be right is refused in
words (browser fixtures: tests/browser/conftest.py; the session gateway keeps its corrections in
a folder of the test run's)."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_digit_page import digit_png
from tests.browser.test_meter_page import jpeg, photo

pytestmark = pytest.mark.browser

THANKS = re.compile(r"^(Thanks|Already had this one, thanks): \d+ corrections? collected for this model\.$")


def correct(page: Page, task: str, text: str) -> int:
    """Open the form, type `text`, send it; the feedback request's HTTP status."""
    form = page.locator("[data-testid='correction']")
    expect(form).to_be_visible()
    if form.get_attribute("open") is None:
        form.locator("summary").click()
    page.locator("[data-testid='correction-text']").fill(text)
    with page.expect_response(re.compile(rf"/api/v1/{task}/feedback$")) as response:
        page.locator("[data-testid='correction-send']").click()
    return response.value.status


def stored_labels(gateway, task: str) -> list[str]:
    summary = httpx.get(f"{gateway.url}/api/v1/{task}/feedback", params={"limit": 200}).json()
    return [entry["text"] for entry in summary["newest"]]


def test_a_digit_answer_is_corrected(open_page: Callable[[str], Page], gateway) -> None:
    page = open_page("/digit.html")
    expect(page.locator("[data-testid='correction']")).to_be_hidden()  # no answer, nothing to correct
    page.locator("#upload").set_input_files(
        {"name": "seven.png", "mimeType": "image/png", "buffer": digit_png("7")}
    )
    expect(page.locator("#result-text")).to_have_text("7")
    expect(page.locator("[data-testid='correction-text']")).to_have_value("7")  # starts as what was read
    assert correct(page, "digit", "1") == 201
    expect(page.locator("[data-testid='correction-status']")).to_have_text(THANKS)
    assert "1" in stored_labels(gateway, "digit")
    assert correct(page, "digit", "seven") == 422
    expect(page.locator("[data-testid='correction-status']")).to_contain_text("digits 0-9")


def test_a_captcha_answer_is_corrected(open_page: Callable[[str], Page], gateway) -> None:
    page = open_page("/captcha.html")
    page.locator("#sample").click()
    expect(page.locator("#result-text")).not_to_be_empty()
    assert correct(page, "captcha", "zz99") == 201
    expect(page.locator("[data-testid='correction-status']")).to_have_text(THANKS)
    assert "zz99" in stored_labels(gateway, "captcha")
    assert correct(page, "captcha", "ZZ99!") == 422
    expect(page.locator("[data-testid='correction-status']")).to_contain_text("does not read")


def test_a_meter_reading_is_corrected(open_page: Callable[[str], Page], gateway) -> None:
    page = open_page("/meter.html")
    sample = photo()  # the meter page test's photo: its window is found
    page.locator("#upload").set_input_files(
        {"name": "meter.jpg", "mimeType": "image/jpeg", "buffer": jpeg(sample)}
    )
    expect(page.locator("#result-text")).not_to_be_empty()
    assert correct(page, "meter", "01234") == 201
    expect(page.locator("[data-testid='correction-status']")).to_have_text(THANKS)
    assert "01234" in stored_labels(gateway, "meter")
    assert correct(page, "meter", "12") == 422
    expect(page.locator("[data-testid='correction-status']")).to_contain_text("4 to 8 digits")
