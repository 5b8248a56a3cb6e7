"""`reactor run` in a subprocess on 127.0.0.1 (a free port), for client and loopback tests.

    with reactor_run(MODEL_DIR) as served:
        async with connect(served.url) as session: ...
        served.health()  # GET /health

The server prints `reactor: serving <name> at <url>` once the model is loaded; we wait
for that line (with a timeout), never for a fixed time.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx

TESTS = Path(__file__).resolve().parents[1]
REPO = TESTS.parent
CONFORMANCE_MODEL = TESTS / "e2e" / "models" / "conformance"
PLAYBACK_MODEL = REPO / "examples" / "playback"


class Served:
    """A running `reactor run`: its URL, process and output lines."""

    def __init__(self, process: subprocess.Popen, url: str, lines: list[str]) -> None:
        self.process = process
        self.url = url.rstrip("/")
        self.lines = lines

    def health(self) -> dict[str, Any]:
        return httpx.get(f"{self.url}/health", timeout=5).json()

    def wait_health(self, predicate: Callable[[dict[str, Any]], bool], timeout: float) -> dict:
        """Poll /health until `predicate` holds; fail after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            report = self.health()
            if predicate(report):
                return report
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"/health did not reach the condition in {timeout} s: {report}"
                )
            time.sleep(0.05)


def _pump(stream, lines: list[str], found: queue.Queue) -> None:
    for raw in iter(stream.readline, ""):
        line = raw.rstrip("\n")
        lines.append(line)
        if "reactor: serving" in line:
            found.put(line.rsplit(" at ", 1)[-1].strip())


@contextlib.contextmanager
def reactor_run(
    model_dir: Path | str,
    *args: str,
    host: str = "127.0.0.1",
    timeout: float = 30.0,
    prefix: Sequence[str] = (),
) -> Iterator[Served]:
    """Serve `model_dir` with `reactor run --host host --port 0 *args` until the block ends.

    `prefix` runs the command through a wrapper (e.g. `ip netns exec NAME`).
    """
    argv = [*prefix, sys.executable, "-m", "reactor_runtime.cli", "run", str(model_dir)]
    argv += ["--host", host, "--port", "0", *args]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
    )
    lines: list[str] = []
    found: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_pump, args=(process.stdout, lines, found), daemon=True).start()
    try:
        try:
            url = found.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(
                f"reactor run did not come up within {timeout} s:\n" + "\n".join(lines[-40:])
            ) from None
        yield Served(process, url, lines)
    finally:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGINT)  # SIGTERM would drain
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
