"""Drive the runtime's browser page in Chromium, with `reactor run` inside a private network.

`serve()` starts `reactor run` on 10.77.0.1 inside a `PrivateNetwork` and waits until
it prints its URL; `launch()` starts Debian's Chromium inside the same namespace with
fake camera/mic devices, autoplay allowed and the runtime's origin treated as secure
(`getUserMedia` needs a secure context; see FACTS.md). `Viewer` wraps one page.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from e2e.netns import CHROMIUM_ARGS, CHROMIUM_PATH, PrivateNetwork

ROOT = Path(__file__).resolve().parents[2]
SPARE_PORT = 8081
"""A second runtime in the same namespace, for tests that stop theirs."""
START_TIMEOUT = 20.0
VIEWPORT = {"width": 1360, "height": 940}

HEALTH = (
    "import json, sys, urllib.request; "
    "print(urllib.request.urlopen(sys.argv[1] + '/health', timeout=3).read().decode())"
)

# The picture of a <video>, a quarter of its size per side (small enough for one evaluate).
GRAB = """(selector) => {
  const video = document.querySelector(selector);
  if (!video || !video.videoWidth) return null;
  const w = video.videoWidth >> 2, h = video.videoHeight >> 2;
  const canvas = Object.assign(document.createElement("canvas"), { width: w, height: h });
  const g = canvas.getContext("2d", { willReadFrequently: true });
  g.drawImage(video, 0, 0, w, h);
  return { w, h, data: Array.from(g.getImageData(0, 0, w, h).data) };
}"""


@dataclass
class Server:
    """A `reactor run` process inside `net`, serving at `origin`."""

    net: PrivateNetwork
    origin: str
    process: subprocess.Popen
    output: list[str] = field(default_factory=list)

    def health(self) -> dict[str, Any]:
        """GET /health from inside the namespace."""
        result = self.net.run(
            [sys.executable, "-c", HEALTH, self.origin], timeout=10, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def stop(self) -> None:
        """SIGINT (Ctrl-C): the runtime tells its viewers and exits at once (SIGTERM drains)."""
        self.process.send_signal(signal.SIGINT)
        self.process.wait(timeout=10)


def serve(
    net: PrivateNetwork,
    model_dir: str | None = None,
    port: int = 8080,
    *,
    args: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
    scheme: str = "http",
    ready: str = "serving",
) -> Server:
    """Start `reactor run [model_dir] *args` on `net.address:port`.

    Returns once a line of its output contains `ready`.
    """
    argv = [sys.executable, "-m", "reactor_runtime.cli", "run", "--host", net.address]
    argv += ["--port", str(port), *([model_dir] if model_dir else []), *args]
    process = net.popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    lines: queue.Queue[str | None] = queue.Queue()
    server = Server(net, f"{scheme}://{net.address}:{port}", process)

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            server.output.append(line)
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            line = lines.get(timeout=max(deadline - time.monotonic(), 0.01))
        except queue.Empty:
            line = None
        if line is None:
            raise AssertionError(f"reactor run did not start:\n{''.join(server.output)}")
        if ready in line:
            return server


def launch(playwright: Any, net: PrivateNetwork, origins: list[str]) -> Any:
    """Chromium inside `net`: fake devices, autoplay, `origins` treated as secure."""
    if not os.access(CHROMIUM_PATH, os.X_OK):
        pytest.skip(f"{CHROMIUM_PATH} is absent (apt-get install -y chromium)")
    return playwright.chromium.launch(
        executable_path=net.wrap_executable(CHROMIUM_PATH),
        headless=True,
        args=[
            *CHROMIUM_ARGS,
            "--use-fake-device-for-media-stream=fps=30",
            "--use-fake-ui-for-media-stream",
            "--autoplay-policy=no-user-gesture-required",
            f"--unsafely-treat-insecure-origin-as-secure={','.join(origins)}",
        ],
    )


class Viewer:
    """One browser tab on the page, recording console errors."""

    def __init__(self, browser: Any, server: Server) -> None:
        self.server = server
        self.context = browser.new_context(viewport=VIEWPORT)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on(
            "console", lambda m: m.type == "error" and self.errors.append(f"console: {m.text}")
        )
        self.page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))

    def open(self, connected: bool = True) -> Viewer:
        """Load the page; with `connected`, wait until it reports a connected viewer."""
        self.page.goto(self.server.origin + "/")
        if connected:
            self.wait_state("connected")
        return self

    def wait_state(self, state: str, timeout: float = 15.0) -> None:
        """Wait until the page's connection state is `state`."""
        self.page.wait_for_function(
            "(s) => window.reactorPage?.connection.state === s", arg=state, timeout=timeout * 1000
        )

    def wait_js(self, expression: str, timeout: float = 10.0) -> Any:
        """Wait until `expression` (JS) is truthy in the page; returns its value."""
        return self.page.wait_for_function(expression, timeout=timeout * 1000).json_value()

    def stats(self) -> dict[str, Any]:
        """The page's latest getStats() summary (`window.reactorPage.stats`)."""
        return self.page.evaluate("window.reactorPage.stats") or {}

    def frame(self, selector: str = "#screens video") -> np.ndarray | None:
        """The current picture of a video element, quarter size, `(h, w, 3)` uint8."""
        grabbed = self.page.evaluate(GRAB, selector)
        if grabbed is None:
            return None
        rgba = np.array(grabbed["data"], dtype=np.uint8).reshape(grabbed["h"], grabbed["w"], 4)
        return rgba[..., :3]

    def wait_frame(
        self, predicate: Callable[[np.ndarray], bool], timeout: float = 10.0, what: str = ""
    ) -> np.ndarray:
        """Poll the video picture until `predicate` holds; returns that picture."""
        deadline = time.monotonic() + timeout
        picture = None
        while time.monotonic() < deadline:
            picture = self.frame()
            if picture is not None and predicate(picture):
                return picture
            self.page.wait_for_timeout(100)
        summary = None if picture is None else picture.reshape(-1, 3).mean(axis=0).round()
        raise AssertionError(f"no frame {what} within {timeout} s (last mean RGB {summary})")

    def close(self) -> None:
        """Close the tab (and its context)."""
        self.context.close()


def matching(picture: np.ndarray, rgb: tuple[int, int, int], tolerance: int = 40) -> int:
    """How many pixels of `picture` are within `tolerance` of `rgb` on every channel."""
    distance = np.abs(picture.astype(np.int16) - np.array(rgb, dtype=np.int16)).max(axis=-1)
    return int((distance <= tolerance).sum())


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll `check` every 100 ms; returns the seconds it took, fails after `timeout`."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.1)
    return time.monotonic() - started
