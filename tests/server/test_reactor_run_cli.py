"""`reactor run` as a user runs it: the console script in a subprocess."""

from __future__ import annotations

import os
import re
import selectors
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from server_harness import SAMPLE_DIR

REACTOR = shutil.which("reactor") or str(Path(sys.executable).with_name("reactor"))


def read_url(process: subprocess.Popen, timeout: float = 30) -> str:
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    seen = ""
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        if selector.select(0.1):
            line = process.stdout.readline()
            seen += line
            found = re.search(r"http://127\.0\.0\.1:\d+/", line)
            if found:
                return found.group(0)
    raise AssertionError(f"no URL printed; stdout {seen!r}, stderr {process.stderr.read()!r}")


def start(*args: str) -> subprocess.Popen:
    env = {**os.environ, "REACTOR_ICE_SERVERS": ""}
    return subprocess.Popen(
        [REACTOR, "run", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_reactor_run_prints_the_url_serves_health_and_exits_cleanly_on_a_signal(
    stop: signal.Signals,
) -> None:
    process = start(
        str(SAMPLE_DIR), "--port", "0", "--orphan-timeout", "30", "--drain-timeout", "1"
    )
    try:
        url = read_url(process)
        health = httpx.get(url + "health", timeout=5)
        assert health.status_code == 200
        assert health.json()["model"] == {
            "name": "sample",
            "version": "1.2",
            "loaded": True,
            "error": None,
        }
        assert httpx.post(url + "start_session", timeout=5).json()["state"] == "WAITING"
        stopped_at = time.monotonic()
        process.send_signal(stop)
        assert process.wait(timeout=5) == 0
        assert time.monotonic() - stopped_at < 5
        assert "Traceback" not in process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_without_a_directory_the_built_in_demo_is_served() -> None:
    pytest.importorskip("reactor_runtime.demo")
    process = start("--port", "0", "--config", "speed=2")
    try:
        url = read_url(process)
        assert httpx.get(url + "health", timeout=5).json()["model"]["name"] == "demo"
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=5) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_a_directory_without_reactor_yaml_is_one_clear_line_and_exit_2(tmp_path: Path) -> None:
    result = subprocess.run(
        [REACTOR, "run", str(tmp_path)], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "reactor.yaml" in lines[0] and "not found" in lines[0]


def test_unusable_ice_servers_are_refused_with_exit_2() -> None:
    result = subprocess.run(
        [REACTOR, "run", str(SAMPLE_DIR), "--ice-servers", "http://stun.example"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "stun:" in result.stderr
