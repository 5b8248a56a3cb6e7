"""Fixtures for end-to-end tests that run inside a private network namespace."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from e2e.netns import CHROMIUM_ARGS, CHROMIUM_PATH, PrivateNetwork, private_network


@pytest.fixture
def netns() -> Iterator[PrivateNetwork]:
    """A fresh private network namespace (server address 10.77.0.1), deleted afterwards.

    Skips the test when namespaces cannot be created (not root, no ``ip``).
    """
    with private_network() as net:
        yield net


@pytest.fixture
def netns_browser(netns: PrivateNetwork):
    """A headless Playwright Chromium running *inside* `netns` (sync API).

    The test process drives it from outside over Playwright's pipes; the
    browser's own traffic stays in the namespace. Skips when Debian's
    Chromium or Playwright is missing.
    """
    if not os.access(CHROMIUM_PATH, os.X_OK):
        pytest.skip(f"{CHROMIUM_PATH} is absent (apt-get install -y chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=netns.wrap_executable(CHROMIUM_PATH),
            headless=True,
            args=list(CHROMIUM_ARGS),
        )
        try:
            yield browser
        finally:
            browser.close()
