"""Conformance with both official clients (WIRE.md §7, items 39-40), in a private network.

`reactor run tests/e2e/models/conformance` listens on 10.77.0.1 inside a fresh network
namespace (libwebrtc gathers no loopback candidates); each SDK's client script then
connects, receives both output tracks, sends `echo`, reads model messages, publishes
its webcam test pattern and disconnects. The test model reports the webcam frames it
read in `webcam_seen` messages, and `/health` counts them too.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from client.served import CONFORMANCE_MODEL, Served, reactor_run
from e2e.netns import PrivateNetwork, private_network
from e2e.sdk_clients import js_client_missing, py_client_missing, run_client

_GET = "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())"


class Runtime:
    def __init__(self, net: PrivateNetwork, served: Served) -> None:
        self.net = net
        self.served = served
        self.url = served.url

    def health(self) -> dict[str, Any]:
        done = self.net.run(
            [sys.executable, "-c", _GET, f"{self.url}/health"],
            timeout=10,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    def wait_health(self, predicate, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while not predicate(report := self.health()):
            assert time.monotonic() < deadline, f"/health never matched: {report}"
            time.sleep(0.1)
        return report


@pytest.fixture(scope="module")
def runtime() -> Iterator[Runtime]:
    with (
        private_network() as net,
        reactor_run(CONFORMANCE_MODEL, host=net.address, prefix=net.exec_prefix) as served,
    ):
        yield Runtime(net, served)


def _client(runtime: Runtime, sdk: str) -> dict[str, Any]:
    reason = py_client_missing() if sdk == "py" else js_client_missing()
    if reason:
        pytest.skip(reason)
    result = run_client(
        runtime.net,
        sdk,
        runtime.url,
        command="echo",
        args={"text": f"hello from {sdk}"},
        publish_track="webcam",
        seconds=4,
        timeout=40,
    )
    assert result["ok"], f"{result['error']}\n{result['stderr']}"
    return result


def _check_media(result: dict[str, Any]) -> None:
    assert [t["name"] for t in result["tracks_received"]] == ["main_video", "main_audio"]
    video, audio = result["recv"]["main_video"], result["recv"]["main_audio"]
    assert video["frames"] >= 60, video
    assert (video["width"], video["height"]) == (320, 240)
    assert audio["frames"] >= 100 and audio["sample_rate"] == 48000, audio
    assert audio["max_abs_sample"] > 4000, "the 440 Hz tone arrived as silence"


def _messages(result: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [m["msg"]["data"] for m in result["messages"] if m["msg"]["type"] == kind]


def _check_webcam_and_messages(result: dict[str, Any]) -> None:
    assert result["publish"]["ok"], result["publish"]
    assert result["publish"]["frames_pushed"] > 30
    seen = _messages(result, "webcam_seen")
    assert seen, "the model never reported reading a webcam frame"
    assert (seen[-1]["width"], seen[-1]["height"]) == (320, 240)
    assert max(s["frames"] for s in seen) >= 31
    assert _messages(result, "tick"), "no unsolicited model message arrived"


def _check_stopped(runtime: Runtime, result: dict[str, Any]) -> None:
    assert result["disconnect"]["ok"], result["disconnect"]
    report = runtime.wait_health(lambda h: h["viewers"] == 0, timeout=5)
    # The client's disconnect POSTed /stop_session: no session is running any more.
    assert report["state"] == "READY", report
    assert report["stats"]["inputs"]["webcam"]["received"] > 30


def test_the_official_python_sdk_conforms(runtime):
    result = _client(runtime, "py")
    _check_media(result)
    command = result["command"]
    assert command["ok"], command
    assert command["reply"] == {"type": "echoed", "data": {"text": "hello from py"}}
    assert result["schema"]["ok"] and result["schema"]["reply"]["info"]["title"] == "conformance"
    _check_webcam_and_messages(result)
    assert not result["errors"], result["errors"]
    _check_stopped(runtime, result)


def test_the_official_js_sdk_conforms(runtime):
    result = _client(runtime, "js")
    _check_media(result)
    assert result["command"]["ok"], result["command"]
    # v0 commands have no reply: the effect is the model's `echoed` message.
    assert {"text": "hello from js"} in _messages(result, "echoed")
    capabilities = result["schema"]["reply"]
    assert {c["name"] for c in capabilities["commands"]} >= {"echo", "shout", "webcam_stats"}
    _check_webcam_and_messages(result)
    calls = [(c["method"], c["path"], c["status"]) for c in result["http"]]
    assert ("POST", "/stop_session", 200) in calls
    _check_stopped(runtime, result)
