"""Both official SDKs in cloud mode through `reactor fleet`'s gateway, in a private network.

`reactor fleet` (its own local Ray, two replicas of the tiny model) runs inside a
fresh network namespace (`tests/e2e/netns.py`): the gateway listens on 10.77.0.2,
the replicas on 10.77.0.1 and announce it (`--public-ip`). The clients know only
the gateway's URL; media must go straight to the replicas, so every ICE candidate
of an answer is the replica's address (or its loopback), never the gateway's.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e.netns import PEER_ADDRESS, SERVER_ADDRESS, PrivateNetwork, private_network
from e2e.sdk_clients import js_client_missing, py_client_missing, run_client

pytest.importorskip("ray", reason="the fleet needs Ray: pip install 'reactor-runtime[fleet]'")

HERE = Path(__file__).parent
API_KEY = "fleet-test-key"
PORT = 8090
GATEWAY = f"http://{PEER_ADDRESS}:{PORT}"
_GET = "import sys,urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())"


def get_json(net: PrivateNetwork, url: str) -> object:
    done = net.run([sys.executable, "-c", _GET, url], capture_output=True, text=True, timeout=10)
    return json.loads(done.stdout) if done.returncode == 0 else None


@pytest.fixture(scope="module")
def gateway(tmp_path_factory) -> Iterator[PrivateNetwork]:
    log = tmp_path_factory.mktemp("fleet") / "fleet.log"
    with private_network() as net, log.open("w") as out:
        fleet = net.popen(
            [
                *(sys.executable, "-m", "reactor_runtime.cli", "fleet", str(HERE / "tiny_model")),
                *("--replicas", "2", "--gpus-per-replica", "0", "--api-key", API_KEY),
                *("--host", PEER_ADDRESS, "--port", str(PORT), "--replica-host", SERVER_ADDRESS),
                f"--replica-option=--public-ip={SERVER_ADDRESS}",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 90
        while not (
            (fleet_state := get_json(net, GATEWAY + "/fleet/targets")) and len(fleet_state) == 2
        ):
            assert fleet.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.3)
        yield net


def test_answers_through_the_gateway_carry_only_the_replicas_candidates(gateway) -> None:
    done = gateway.run(
        [sys.executable, str(HERE / "answer_probe.py"), "--url", GATEWAY, "--api-key", API_KEY],
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    candidates = json.loads(done.stdout)["candidates"]
    assert candidates and {c[0] for c in candidates} <= {SERVER_ADDRESS, "127.0.0.1"}
    assert SERVER_ADDRESS in {c[0] for c in candidates}


@pytest.mark.parametrize("sdk", ["py", "js"])
def test_an_official_sdk_in_cloud_mode_gets_frames_and_a_command_reply(gateway, sdk) -> None:
    missing = py_client_missing() if sdk == "py" else js_client_missing()
    if missing:
        pytest.skip(missing)
    # PY exchanges its key itself; JS gets a token an app backend minted.
    credential = ("--api-key", API_KEY) if sdk == "py" else ("--jwt", mint_token(gateway))
    result = run_client(
        gateway,
        sdk,
        GATEWAY,
        command="ping",
        args={"value": 7},
        seconds=2,
        extra=(*credential, "--model", "tiny"),
    )
    assert result["ok"], (result["error"], result["stderr"])
    video = result["recv"]["main_video"]
    assert video["frames"] >= 5 and (video["width"], video["height"]) == (64, 64)
    assert result["command"]["ok"]
    if sdk == "py":
        assert result["command"]["reply"]["data"] == {"value": 7}
    else:
        calls = [(c["method"], c["status"]) for c in result["http"]]
        assert ("POST", 201) in calls and ("DELETE", 204) in calls
    deadline = time.monotonic() + 10
    while not both_replicas_idle(gateway):
        assert time.monotonic() < deadline, "disconnect() did not free the replica"
        time.sleep(0.2)


def both_replicas_idle(net: PrivateNetwork) -> bool:
    done = net.run(
        [sys.executable, "-c", _GET, GATEWAY + "/metrics"],
        capture_output=True,
        text=True,
        timeout=10,
    )
    return 'reactor_fleet_replicas{state="idle"} 2.0' in done.stdout


def mint_token(net: PrivateNetwork) -> str:
    """A token from `POST /tokens`, as an app backend gets one for its browser."""
    code = (
        "import sys,urllib.request,json;"
        "r=urllib.request.Request(sys.argv[1],data=b'null',method='POST',"
        "headers={'Reactor-API-Key':sys.argv[2],'Content-Type':'application/json'});"
        "print(json.load(urllib.request.urlopen(r,timeout=5))['jwt'])"
    )
    done = net.run(
        [sys.executable, "-c", code, GATEWAY + "/tokens", API_KEY],
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def new_page_url(net: PrivateNetwork) -> str:
    """`POST /slots` with a token: a page of its own for one browser (COORDINATOR.md §9)."""
    code = (
        "import sys,urllib.request,json;"
        "r=urllib.request.Request(sys.argv[1],data=b'',method='POST',"
        "headers={'Authorization':'Bearer '+sys.argv[2]});"
        "print(json.load(urllib.request.urlopen(r,timeout=5))['url'])"
    )
    done = net.run(
        [sys.executable, "-c", code, GATEWAY + "/slots", mint_token(net)],
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert done.returncode == 0, done.stderr
    return GATEWAY + done.stdout.strip()


def test_two_browsers_on_our_page_get_two_sessions_on_two_replicas(gateway) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    from web.viewer import launch

    urls = [new_page_url(gateway), new_page_url(gateway)]
    assert urls[0] != urls[1]
    with sync_api.sync_playwright() as pw:
        browser = launch(pw, gateway, [GATEWAY])
        try:
            pages = [browser.new_context().new_page() for _ in urls]
            for page, url in zip(pages, urls, strict=True):
                page.goto(url)
            for page in pages:
                page.wait_for_function(
                    "() => window.reactorPage?.connection.state === 'connected'", timeout=20_000
                )
                page.wait_for_function(
                    "() => document.querySelector('video')?.videoWidth === 64", timeout=10_000
                )
            sessions = [
                p.evaluate("window.reactorPage.connection.descriptor.session_id") for p in pages
            ]
            assert len(set(sessions)) == 2
            metrics = gateway.run(
                [sys.executable, "-c", _GET, GATEWAY + "/metrics"], capture_output=True, text=True
            ).stdout
            assert 'reactor_fleet_replicas{state="busy"} 2.0' in metrics
        finally:
            browser.close()
    # Closed pages leave orphans (the replicas end them after --orphan-timeout); a slot's
    # stop_session ends its session at once.
    code = "import sys,urllib.request; urllib.request.urlopen(urllib.request.Request(sys.argv[1], method='POST'), timeout=5)"
    for url in urls:
        done = gateway.run([sys.executable, "-c", code, url + "stop_session"], timeout=10)
        assert done.returncode == 0
    deadline = time.monotonic() + 10
    while not both_replicas_idle(gateway):
        assert time.monotonic() < deadline, "stop_session did not free the replicas"
        time.sleep(0.2)
