"""The pages run under the gateway's Content Security Policy without a single violation."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.conftest import csp_violation

pytestmark = pytest.mark.browser

REDOC_LOGO = {"https://cdn.redoc.ly/redoc/logo-mini.svg"}


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


@pytest.mark.parametrize(
    ("path", "shows"),
    [("/docs", "#swagger-ui .opblock-summary-path"), ("/redoc", "redoc [data-section-id]")],
)
def test_api_docs_load_nothing_from_outside_and_keep_the_policy(
    chromium: Browser, gateway, path: str, shows: str
) -> None:
    """Swagger UI and ReDoc render from the gateway's own files: no request leaves it (the test
    machine has no internet, nor would a locked-down deployment), and no CSP violation."""
    context = chromium.new_context(base_url=gateway.url)
    try:
        page = context.new_page()
        outside: list[str] = []
        violations: list[str] = []
        page.on(
            "request",
            lambda request: (
                None
                if request.url.startswith((gateway.url, "data:", "blob:"))
                else outside.append(request.url)
            ),
        )
        page.on("console", lambda message: csp_violation(message.text, violations))
        response = page.goto(path)
        assert response is not None and response.ok
        assert "script-src 'self'" in response.headers["content-security-policy"]
        expect(page.locator(shows).first).to_be_visible(timeout=20_000)
        # The one outside reference is ReDoc's footer logo (an <img> it always renders); the
        # policy blocks it and ReDoc hides it. Nothing else may go out.
        assert set(outside) <= REDOC_LOGO, outside
        assert all(any(url in v for url in REDOC_LOGO) for v in violations), violations
    finally:
        context.close()
