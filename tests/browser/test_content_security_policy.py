"""The pages run under the gateway's Content Security Policy without a single violation."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.conftest import csp_violation

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("path", ["/digit.html", "/captcha.html", "/meter.html", "/"])
def test_page_loads_under_the_policy_without_violations(chromium: Browser, gateway, path: str) -> None:
    context = chromium.new_context(base_url=gateway.url)
    try:
        page = context.new_page()
        violations: list[str] = []
        page.on("console", lambda message: csp_violation(message.text, violations))
        response = page.goto(path)
        assert response is not None and response.ok
        policy = response.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
        if path != "/":
            expect(page.locator("#model[data-state='ready']")).to_be_attached()
        page.wait_for_load_state("networkidle")
        assert not violations, violations
    finally:
        context.close()


def test_a_violation_would_be_seen(chromium: Browser, gateway) -> None:
    """The check above is not blind: an inline script on the page is reported on the console."""
    context = chromium.new_context(base_url=gateway.url)
    try:
        page = context.new_page()
        violations: list[str] = []
        page.on("console", lambda message: csp_violation(message.text, violations))
        page.goto("/digit.html")
        page.evaluate(
            "() => { const s = document.createElement('script'); s.textContent = '1';"
            " document.body.append(s); }"
        )
        page.wait_for_timeout(200)
        assert violations
    finally:
        context.close()
