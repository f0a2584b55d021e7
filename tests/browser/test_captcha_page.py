"""The CAPTCHA page in a real browser: new sample, upload, model picker, errors.

Runs Debian's Chromium against the session `gateway` fixture, which fronts the captcha service
with the shipped models (browser fixtures: tests/browser/conftest.py).
"""

from __future__ import annotations

import io
import random
import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from captcha_service.synth import render

pytestmark = pytest.mark.browser

RECOGNIZE_URL = re.compile(r"/api/v1/captcha/recognize$")


@pytest.fixture
def captcha_page(open_page: Callable[[str], Page]) -> Page:
    return open_page("/captcha.html")


def test_new_sample_is_shown_and_read(captcha_page: Page) -> None:
    page = captcha_page
    expect(page.locator("#model option")).to_have_count(2)
    with page.expect_response(RECOGNIZE_URL) as response:
        page.locator("#sample").click()
    assert response.value.status == 200
    expect(page.locator("#preview-image")).to_be_visible()
    expected = page.locator("#preview-caption").inner_text()
    text = page.locator("#result-text")
    expect(text).not_to_be_empty()
    expect(page.locator("#result-confidence")).to_contain_text("%")
    cards = page.locator("[data-testid='char-card']")
    assert cards.count() == len(text.inner_text())
    expect(cards.first.locator(".digit-confidence")).to_contain_text("%")
    assert '"' in expected  # the caption names the sample's true text
    expect(page.locator("#result-expected")).not_to_have_text("\u2013")
    expect(page.locator("#error")).to_be_hidden()


def test_upload_with_the_other_model(captcha_page: Page) -> None:
    page = captcha_page
    page.locator("#model").select_option("alnum-4to6")
    buffer = io.BytesIO()
    render("K3P9QZ", 160, 60, random.Random(4)).save(buffer, "PNG")
    with page.expect_response(RECOGNIZE_URL) as response:
        page.locator("#upload").set_input_files(
            files=[{"name": "K3P9QZ.png", "mimeType": "image/png", "buffer": buffer.getvalue()}]
        )
    assert response.value.status == 200
    expect(page.locator("#result-model")).to_contain_text("alnum-4to6")
    expect(page.locator("#result-text")).not_to_be_empty()


def test_bad_upload_shows_the_error(captcha_page: Page) -> None:
    page = captcha_page
    with page.expect_response(RECOGNIZE_URL) as response:
        page.locator("#upload").set_input_files(
            files=[{"name": "notes.png", "mimeType": "image/png", "buffer": b"not an image at all"}]
        )
    assert response.value.status == 415
    expect(page.locator("#error")).to_be_visible()
    expect(page.locator("#error")).to_contain_text("unsupported_media_type")
