"""Headless Chromium (Debian's ``chromium`` package) driven by Playwright, for the
dashboard's tests: a skip with the reason when it is missing, a failure under CI=true."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Error, Page, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
TIMEOUT_MS = 10_000


def chromium_path() -> str:
    """The Chromium binary; skips the test without it (fails when CI=true)."""
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing (Debian package chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI=true requires it")
        pytest.skip(reason)
    return str(CHROMIUM)


@contextmanager
def chromium() -> Iterator[Browser]:
    """A headless Chromium, closed (with Playwright's driver) on exit."""
    executable = chromium_path()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, args=["--no-sandbox"], headless=True
        )
        try:
            yield browser
        finally:
            browser.close()


class PageErrors:
    """Console errors and uncaught exceptions of a page, as text."""

    def __init__(self, page: Page) -> None:
        self.messages: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", self._error)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.messages.append(f"console: {message.text} ({message.location})")

    def _error(self, error: Error) -> None:
        self.messages.append(f"pageerror: {error}")
