"""Fixtures for the browser page tests: one namespace, runtime and Chromium per module.

Starting them per module (not per test) keeps the whole suite well under 90 s; each
test still gets its own browser context (a fresh tab, fresh permissions).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from e2e.netns import private_network
from web.viewer import ROOT, SPARE_PORT, Server, Viewer, launch, serve


class Stage:
    """A runtime and a browser in one private network."""

    def __init__(self, net, server: Server, browser) -> None:
        self.net = net
        self.server = server
        self.browser = browser

    def viewer(self, server: Server | None = None) -> Viewer:
        """A new tab on `server` (default: the module's runtime)."""
        return Viewer(self.browser, server or self.server)


def _stage(model_dir: str | None) -> Iterator[Stage]:
    sync_api = pytest.importorskip("playwright.sync_api")
    with private_network() as net:
        server = serve(net, model_dir)
        origins = [server.origin, f"http://{net.address}:{SPARE_PORT}"]
        with sync_api.sync_playwright() as pw:
            browser = launch(pw, net, origins)
            try:
                yield Stage(net, server, browser)
            finally:
                browser.close()


@pytest.fixture(scope="module")
def demo_stage() -> Iterator[Stage]:
    """`reactor run` (the built-in demo) and Chromium, inside a private network."""
    yield from _stage(None)


@pytest.fixture(scope="module")
def echo_stage() -> Iterator[Stage]:
    """`reactor run examples/echo` and Chromium, inside a private network."""
    yield from _stage(str(ROOT / "examples" / "echo"))


@pytest.fixture
def demo(demo_stage: Stage) -> Iterator[Viewer]:
    """A tab on the demo runtime (not yet opened); closed after the test."""
    viewer = demo_stage.viewer()
    try:
        yield viewer
    finally:
        viewer.close()


@pytest.fixture
def echo(echo_stage: Stage) -> Iterator[Viewer]:
    """A tab on the echo runtime (not yet opened); closed after the test."""
    viewer = echo_stage.viewer()
    try:
        yield viewer
    finally:
        viewer.close()
