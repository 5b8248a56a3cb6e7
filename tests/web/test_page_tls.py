"""The page over https:// with a token: `reactor run --tls self-signed --token`, real Chromium.

Chromium runs in the private network with `--ignore-certificate-errors` (it cannot know
the self-signed certificate) and *without* any insecure origin treated as secure: the
camera works only because the page is served over TLS.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e.netns import CHROMIUM_ARGS, CHROMIUM_PATH, PrivateNetwork, private_network
from web.test_page_echo import mean_rgb, shows_bars
from web.viewer import ROOT, Server, Viewer, serve

PORT = 8443
TOKEN = "page+tls/Token_0123456789=="
"""Has the characters a careless fragment parser mangles (`+` read as a space, `=`)."""
FETCH = """async (path) => {
  const response = await fetch(path, { cache: "no-store" });
  return { status: response.status, challenge: response.headers.get("WWW-Authenticate") };
}"""


def serve_tls(net: PrivateNetwork, cache: Path) -> Server:
    """`reactor run examples/echo --tls self-signed --token …` on 10.77.0.1:8443."""
    env = {**os.environ, "XDG_CACHE_HOME": str(cache), "PYTHONUNBUFFERED": "1"}
    return serve(
        net,
        str(ROOT / "examples" / "echo"),
        PORT,
        args=("--tls", "self-signed", "--token", TOKEN),
        env=env,
        scheme="https",
        ready="reactor: open",
    )


@pytest.fixture(scope="module")
def stage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, object]]:
    sync_api = pytest.importorskip("playwright.sync_api")
    if not os.access(CHROMIUM_PATH, os.X_OK):
        pytest.skip(f"{CHROMIUM_PATH} is absent (apt-get install -y chromium)")
    with private_network() as net:
        server = serve_tls(net, tmp_path_factory.mktemp("cache"))
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=net.wrap_executable(CHROMIUM_PATH),
                headless=True,
                args=[
                    *CHROMIUM_ARGS,
                    "--ignore-certificate-errors",
                    "--use-fake-device-for-media-stream=fps=30",
                    "--use-fake-ui-for-media-stream",
                    "--autoplay-policy=no-user-gesture-required",
                ],
            )
            try:
                yield server, browser
            finally:
                browser.close()


@pytest.fixture
def viewer(stage) -> Iterator[Viewer]:
    server, browser = stage
    tab = Viewer(browser, server)
    try:
        yield tab
    finally:
        tab.close()


def test_the_printed_url_carries_the_token_in_its_fragment_over_https(stage) -> None:
    server, _ = stage
    printed = "".join(server.output)
    assert f"reactor: open https://10.77.0.1:{PORT}/#token={TOKEN}" in printed
    assert "SHA-256 " in printed and "warning" not in printed


def test_the_page_over_https_plays_video_and_sends_the_fake_webcam(viewer) -> None:
    viewer.page.goto(f"{viewer.server.origin}/#token={TOKEN}")
    viewer.wait_state("connected")
    assert viewer.page.evaluate("window.isSecureContext") is True
    viewer.wait_frame(shows_bars, what="with the placeholder bars")
    viewer.page.get_by_role("button", name="webcam").click()
    viewer.wait_js("document.querySelector('[data-input=webcam]').ariaPressed === 'true'")
    # Chromium's fake camera is green: the echo model now returns it instead of its bars.
    viewer.wait_frame(
        lambda p: not shows_bars(p) and mean_rgb(p)[1] > 2 * mean_rgb(p)[[0, 2]].max(),
        what="from the fake webcam (green)",
    )
    assert viewer.errors == []


def test_without_the_token_the_page_asks_for_one_and_the_server_answers_401(viewer) -> None:
    viewer.page.goto(f"{viewer.server.origin}/")
    viewer.wait_state("unauthorized")
    banner = viewer.page.locator("#banner").inner_text()
    assert "needs an access token" in banner and "#token=" in banner
    assert viewer.page.evaluate(FETCH, "/session") == {"status": 401, "challenge": "Bearer"}
    assert viewer.page.evaluate(FETCH, "/health")["status"] == 200
