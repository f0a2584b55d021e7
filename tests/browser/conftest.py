"""Headless Chromium for the page tests, and a page fixture that fails on JavaScript errors.

Playwright cannot download its own browsers here, so Debian's Chromium is driven instead
(`make test` installs it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")  # torn down with the module: Playwright's loop must not outlive it
def chromium() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail("Debian's Chromium is missing: `make test` installs it (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def open_page(chromium: Browser, gateway) -> Iterator[Callable[[str], Page]]:
    """Open one of the gateway's pages in a fresh context, its model list loaded; on teardown,
    fail if the page threw a JavaScript error or broke the Content Security Policy."""
    contexts = []
    errors: list[str] = []
    violations: list[str] = []

    def open_(path: str) -> Page:
        context = chromium.new_context(viewport={"width": 1280, "height": 800}, base_url=gateway.url)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("console", lambda message: csp_violation(message.text, violations))
        page.goto(path)
        expect(page.locator("#model[data-state='ready']")).to_be_attached()
        return page

    yield open_
    for context in contexts:
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"
    assert not violations, f"Content Security Policy violations: {violations}"


def csp_violation(text: str, found: list[str]) -> None:
    """Chromium reports a blocked script, style or image on the console, naming the policy."""
    if "Content Security Policy" in text:
        found.append(text)
