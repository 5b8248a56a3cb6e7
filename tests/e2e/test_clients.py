"""The official-SDK client scripts fail fast and clearly when no runtime answers.

No server exists yet, so these only cover the failure path; conformance tests
drive the same scripts against the real runtime through `sdk_clients.run_client`.
"""

from __future__ import annotations

import json

import pytest
from e2e.sdk_clients import (
    JS_DIR,
    JS_SDK_VERSION,
    js_client_missing,
    py_client_missing,
    run_client,
)


@pytest.mark.parametrize("sdk", ["py", "js"])
def test_a_client_reports_a_refused_connection_as_one_json_line_within_seconds(netns, sdk):
    reason = py_client_missing() if sdk == "py" else js_client_missing()
    if reason:
        pytest.skip(reason)
    result = run_client(
        netns,
        sdk,
        f"http://{netns.address}:8080",  # nothing listens there
        command="set_prompt",
        args={"prompt": "a forest"},
        publish_track="webcam",
        timeout=20,
    )
    assert result["ok"] is False
    assert "start_session" in result["error"] or "fetch failed" in result["error"]
    assert result["elapsed_ms"] < 5000
    assert result["recv"] == {}
    assert result["status_history"][-1][0] == "disconnected"


def test_the_js_lockfile_pins_the_exact_sdk_and_wrtc_versions():
    lock = json.loads((JS_DIR / "package-lock.json").read_text())
    packages = lock["packages"]
    assert packages[""]["dependencies"] == {
        "@reactor-team/js-sdk": JS_SDK_VERSION,
        "@roamhq/wrtc": "0.8.0",
    }
    assert packages["node_modules/@reactor-team/js-sdk"]["version"] == JS_SDK_VERSION
    assert packages["node_modules/@roamhq/wrtc"]["version"] == "0.8.0"
