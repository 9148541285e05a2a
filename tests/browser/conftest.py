"""Playwright (Python) driving Debian's Chromium against pytest-django's live server."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import require

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
# A phone (the size of an iPhone 12-15) as a phone's browser lays pages out: it honours the
# viewport meta tag, so a page without one would be laid out 980 px wide.
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "is_mobile": True,
    "has_touch": True,
    "device_scale_factor": 2,
}


@pytest.fixture(scope="session")
def browser():
    require(CHROMIUM.exists(), f"needs Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=15000)
    # Playwright's sync API runs an event loop in this thread; the ORM calls the test itself
    # makes (fixtures, assertions) are still synchronous and safe.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield browser
        browser.close()
    del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]


@pytest.fixture
def new_page(browser, live_server):
    """Return a factory of pages in fresh browser contexts (like separate devices)."""
    contexts = []
    violations: list[str] = []

    def make(viewport: dict | None = None, **options):
        """``options``: more of Playwright's context options (e.g. is_mobile=True)."""
        context = browser.new_context(
            base_url=live_server.url,
            viewport=viewport or {"width": 1280, "height": 900},
            **options,
        )
        context.set_default_timeout(15000)
        contexts.append(context)
        page = context.new_page()
        # The Content-Security-Policy must not break anything the pages do.
        page.on(
            "console",
            lambda message: violations.append(message.text)
            if "Content Security Policy" in message.text
            else None,
        )
        page.on("pageerror", lambda error: violations.append(f"page error: {error}"))
        return page

    yield make
    for context in contexts:
        context.close()
    assert violations == [], violations


@pytest.fixture
def screenshot():
    SCREENSHOTS.mkdir(exist_ok=True)

    def take(page, name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 10_000
        return path

    return take


def log_in(page, username: str, password: str = "pass-word-123") -> None:  # noqa: S107
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/")
