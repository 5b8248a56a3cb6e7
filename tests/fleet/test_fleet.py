"""The fleet on a simulated two-node Ray cluster: allocation, FIFO, failures, drain.

Three replicas (fake GPUs: two on the head node, one on the second) of the tiny
model; every check of who runs what is made against each replica's own
`GET /session` as well as the controller's tables.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time

import httpx
import pytest

ray = pytest.importorskip("ray", reason="the fleet needs Ray: pip install 'reactor-runtime[fleet]'")

from fleet_harness import wait_for  # noqa: E402

from reactor_runtime.fleet import launch  # noqa: E402
from reactor_runtime.fleet.gateway import create_gateway  # noqa: E402
from reactor_runtime.fleet.scaler import Scaler  # noqa: E402
from reactor_runtime.fleet.tokens import Credentials  # noqa: E402

REPLICAS = 3


def bindings(fleet) -> dict[str, str]:
    """session → replica, from the controller, for bound sessions."""
    return {
        s["session_id"]: s["replica"]
        for s in fleet.snapshot()["sessions"]
        if s["state"] in ("WAITING", "ACTIVE")
    }


def assert_injective_and_true(fleet) -> dict[str, str]:
    """No replica holds two sessions, and each replica runs what the controller says."""
    bound = bindings(fleet)
    assert len(set(bound.values())) == len(bound), f"double booking: {bound}"
    own = fleet.replica_sessions()
    running = {sid: name for name, sid in own.items() if sid is not None}
    assert len(running) == sum(1 for sid in own.values() if sid), own
    for sid, name in running.items():
        assert bound.get(sid) == name, f"{name} runs {sid}, the controller says {bound.get(sid)}"
    return bound


def end_everything(fleet, replicas: int = REPLICAS) -> None:
    with fleet.client() as http:
        for session in fleet.snapshot()["sessions"]:
            http.delete(f"/sessions/{session['session_id']}")
    fleet.wait_idle(replicas)


async def burst(fleet, count: int) -> list[dict]:
    async with httpx.AsyncClient(
        base_url=fleet.gateway.url, headers=fleet.headers, timeout=30
    ) as http:
        answers = await asyncio.gather(
            *(http.post("/sessions", json={"model": {"name": "tiny"}}) for _ in range(count))
        )
    assert {a.status_code for a in answers} == {201}
    return [a.json() for a in answers]


async def poll_all(fleet, sids: list[str]) -> None:
    """Every session still answers 200, the ones the restart lost included (re-created)."""
    async with httpx.AsyncClient(
        base_url=fleet.gateway.url, headers=fleet.headers, timeout=30
    ) as http:
        answers = await asyncio.gather(*(http.get(f"/sessions/{sid}") for sid in sids))
    assert {a.status_code for a in answers} == {200}
    assert {a.json()["state"] for a in answers} <= {"PENDING", "WAITING", "ACTIVE"}


def test_a_burst_of_100_binds_one_per_replica_then_serves_the_queue_fifo(fleet) -> None:
    created = asyncio.run(burst(fleet, 100))
    assert {c["state"] for c in created} <= {"PENDING", "WAITING"}
    wait_for(lambda: len(bindings(fleet)) == REPLICAS)
    snap = fleet.snapshot()
    assert len(snap["queue"]) == 100 - REPLICAS
    assert_injective_and_true(fleet)
    with fleet.client() as http:
        pending = http.get(f"/sessions/{snap['queue'][0]}").json()
        assert pending["state"] == "PENDING"
        assert "capabilities" not in pending and "selected_transport" not in pending
        assert None not in pending.values()
        for _ in range(4):
            head = fleet.snapshot()["queue"][0]
            ending = next(iter(bindings(fleet)))
            assert http.delete(f"/sessions/{ending}").status_code == 204
            ready = http.get(f"/sessions/{head}").json()
            wait_for(lambda h=head: bindings(fleet).get(h) is not None)
            assert_injective_and_true(fleet)
            if ready["state"] != "ACTIVE":
                ready = http.get(f"/sessions/{head}").json()
            assert ready["state"] == "ACTIVE" and ready["session_id"] == head
            assert ready["selected_transport"]["protocol"] == "webrtc"
    end_everything(fleet)


def test_the_gateway_speaks_the_coordinator_api(fleet) -> None:
    url = fleet.gateway.url
    minted = httpx.post(url + "/tokens", headers={"Reactor-API-Key": "test-key"}, json=None)
    assert minted.status_code == 200 and minted.json()["expires_at"] > time.time()
    assert httpx.post(url + "/tokens", headers={"Reactor-API-Key": "nope"}).status_code == 401
    assert httpx.post(url + "/sessions", json={}).status_code == 401
    auth = {"Authorization": f"Bearer {minted.json()['jwt']}"}
    broken = httpx.post(url + "/sessions", headers=auth, content=b"{not json")
    assert broken.status_code == 400 and "request body" in broken.json()["detail"]
    preflight = httpx.options(
        url + "/sessions",
        headers={"Origin": "http://app", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.is_success and "DELETE" in preflight.headers["access-control-allow-methods"]
    created = httpx.post(url + "//sessions", headers=auth, json={"model": {"name": "tiny"}})
    assert created.status_code == 201
    body = created.json()
    sid = body["session_id"]
    assert body["model"] == {"name": "tiny"} and body["server_info"]["server_version"]
    ready = httpx.get(f"{url}/sessions/{sid}", headers=auth, timeout=10).json()
    if "capabilities" not in ready:
        ready = httpx.get(f"{url}/sessions/{sid}", headers=auth, timeout=10).json()
    assert ready["state"] == "ACTIVE" and ready["session_id"] == sid
    assert [c["name"] for c in ready["capabilities"]["commands"]] == ["ping"]
    transport = f"{url}/sessions/{sid}/transport/webrtc"
    servers = httpx.get(transport + "/ice_servers", headers=auth)
    assert servers.status_code == 200 and servers.json() == {"ice_servers": []}
    assert httpx.post(transport + "/connections", headers=auth, json={}).status_code == 201
    assert (
        httpx.get(f"{url}/sessions/nope/transport/webrtc/ice_servers", headers=auth).status_code
        == 404
    )
    assert httpx.get(f"{url}/sessions/nope", headers=auth).status_code == 404
    assert httpx.delete(f"{url}/sessions/{sid}", headers=auth).status_code == 204
    assert httpx.get(f"{url}/sessions/{sid}", headers=auth).json()["state"] == "CLOSED"
    assert httpx.get(transport + "/ice_servers", headers=auth).status_code == 404
    targets = httpx.get(url + "/fleet/targets").json()
    assert len(targets) == REPLICAS and all(t["targets"][0].count(":") == 1 for t in targets)
    metrics = httpx.get(url + "/metrics").text
    assert "reactor_fleet_allocations_total" in metrics
    assert "reactor_fleet_proxy_seconds_count" in metrics
    fleet.wait_idle(REPLICAS)


def test_in_dev_mode_the_gateway_root_sends_each_browser_to_a_page_of_its_own(fleet) -> None:
    app = create_gateway(fleet.controller, Credentials())

    async def visit() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as http:
            first, second = await http.get("/"), await http.get("/")
            assert first.status_code == second.status_code == 303
            assert first.headers["location"] != second.headers["location"]
            page = await http.get(first.headers["location"])
            assert page.status_code == 200 and "app.js" in page.text
            assert (await http.get("/l/forged-slot/")).status_code == 404
            assert (await http.post("/l/forged-slot/start_session")).status_code == 404

    asyncio.run(visit())
    assert httpx.get(fleet.gateway.url + "/").status_code == 404  # keys configured: POST /slots


def test_a_killed_replica_process_closes_its_session_within_3_s_and_comes_back(fleet) -> None:
    with fleet.client() as http:
        sid = http.post("/sessions", json={}).json()["session_id"]
        wait_for(lambda: http.get(f"/sessions/{sid}").json()["state"] == "ACTIVE")
        others = [http.post("/sessions", json={}).json()["session_id"] for _ in range(2)]
        wait_for(lambda: len(bindings(fleet)) == REPLICAS)
        name = bindings(fleet)[sid]
        replica = next(r for r in fleet.snapshot()["replicas"] if r["name"] == name)
        killed_at = time.monotonic()
        os.kill(replica["pid"], signal.SIGKILL)
        closed = wait_for(
            lambda: http.get(f"/sessions/{sid}").json()["state"] == "CLOSED", timeout=5
        )
        assert closed and time.monotonic() - killed_at < 3
        assert {http.get(f"/sessions/{o}").json()["state"] for o in others} == {"ACTIVE"}

        def back() -> bool:
            again = next(r for r in fleet.snapshot()["replicas"] if r["name"] == name)
            return again["state"] == "idle" and again["restarts"] == replica["restarts"] + 1

        wait_for(back, timeout=30, interval=0.2)
    end_everything(fleet)


def test_a_killed_controller_is_back_within_2_s_without_double_booking(fleet) -> None:
    results: list[dict] = []
    sending = threading.Thread(target=lambda: results.extend(asyncio.run(burst(fleet, 40))))
    sending.start()
    wait_for(lambda: fleet.snapshot()["counts"].get("sessions_created", 0) > 0, interval=0.01)
    first = fleet.snapshot()["controller_started_at"]
    killed_at = time.monotonic()
    ray.kill(fleet.controller, no_restart=False)
    wait_for(lambda: fleet.snapshot()["controller_started_at"] != first, timeout=5, interval=0.05)
    assert time.monotonic() - killed_at < 2
    sending.join(30)
    assert len(results) == 40
    wait_for(lambda: len(bindings(fleet)) == REPLICAS, timeout=10)
    assert_injective_and_true(fleet)
    asyncio.run(poll_all(fleet, [created["session_id"] for created in results]))
    assert_injective_and_true(fleet)
    end_everything(fleet)


def test_min_idle_starts_a_replica_when_all_are_busy_and_retires_it_when_idle(fleet) -> None:
    handles = list(fleet.replicas)

    def start(index: int):
        return launch.replica(index, fleet.command, fleet.controller, gpus=0)

    scaler = Scaler(fleet.controller, start, handles, min_idle=1, floor=REPLICAS, ceiling=4)
    with fleet.client() as http:
        for _ in range(REPLICAS):
            http.post("/sessions", json={})
        wait_for(lambda: len(bindings(fleet)) == REPLICAS)
        assert asyncio.run(scaler.step()) == 1 and len(handles) == REPLICAS + 1
        extra = http.post("/sessions", json={}).json()["session_id"]
        wait_for(lambda: bindings(fleet).get(extra) == "replica-3", timeout=30, interval=0.2)
        assert_injective_and_true(fleet)
    end_everything(fleet, REPLICAS + 1)
    assert asyncio.run(scaler.step()) == -1 and len(handles) == REPLICAS
    states = {r["name"]: r["state"] for r in fleet.snapshot()["replicas"]}
    assert sum(state == "idle" for state in states.values()) == REPLICAS
    assert asyncio.run(scaler.step()) == 0


def test_a_removed_node_closes_its_sessions_and_gets_no_allocation(fleet) -> None:
    with fleet.client() as http:
        sids = [http.post("/sessions", json={}).json()["session_id"] for _ in range(REPLICAS)]
        wait_for(lambda: len(bindings(fleet)) == REPLICAS)
        worker = fleet.worker.node_id
        (lost,) = [
            r["name"]
            for r in fleet.snapshot()["replicas"]
            if r["node"] == worker and r["state"] != "down"
        ]
        started = fleet.snapshot()["controller_started_at"]
        lost_sid = next(sid for sid, name in bindings(fleet).items() if name == lost)
        removed_at = time.monotonic()
        fleet.cluster.remove_node(fleet.worker)
        wait_for(lambda: http.get(f"/sessions/{lost_sid}").json()["state"] == "CLOSED", timeout=10)
        assert time.monotonic() - removed_at < 6  # REPORT_TIMEOUT after the last report
        assert fleet.snapshot()["controller_started_at"] == started  # it lives on the head
        others = [sid for sid in sids if sid != lost_sid]
        assert {http.get(f"/sessions/{sid}").json()["state"] for sid in others} == {"ACTIVE"}
        for sid in others:
            http.delete(f"/sessions/{sid}")
        later = [http.post("/sessions", json={}).json()["session_id"] for _ in range(REPLICAS)]
        wait_for(lambda: len(bindings(fleet)) == REPLICAS - 1)
        assert lost not in bindings(fleet).values()
        assert fleet.snapshot()["queue"] == later[REPLICAS - 1 :]
        assert_injective_and_true(fleet)
    end_everything(fleet, REPLICAS - 1)


def test_a_drained_replica_gets_no_new_session_and_ends_its_own_at_the_timeout(fleet) -> None:
    live = sum(1 for r in fleet.snapshot()["replicas"] if r["state"] == "idle")
    assert live >= 2
    with fleet.client() as http:
        sids = [http.post("/sessions", json={}).json()["session_id"] for _ in range(live)]
        wait_for(lambda: len(bindings(fleet)) == live)
        name = bindings(fleet)[sids[0]]
        supervisor = ray.get_actor(name, namespace="reactor-fleet")
        assert ray.get(supervisor.drain.remote(1.0))
        drained = wait_for(
            lambda: (s := http.get(f"/sessions/{sids[0]}").json())["state"] == "CLOSED" and s,
            timeout=6,
        )
        assert "drained" in drained["reason"]
        http.delete(f"/sessions/{sids[1]}")
        later = http.post("/sessions", json={}).json()["session_id"]
        wait_for(lambda: bindings(fleet).get(later) is not None)
        assert bindings(fleet)[later] != name
        state = next(r for r in fleet.snapshot()["replicas"] if r["name"] == name)["state"]
        assert state in ("draining", "down")
        assert_injective_and_true(fleet)


def test_two_gateways_sharing_a_secret_serve_one_session_between_them(fleet) -> None:
    from fleet_harness import Gateway

    fleet.wait_idle(1, timeout=60)  # the replica drained by an earlier test stays out
    secret = os.urandom(32)
    first = Gateway(fleet.controller, Credentials(["k2"], secret=secret), hold=1.0)
    second = Gateway(fleet.controller, Credentials(["k2"], secret=secret), hold=1.0)
    try:
        minted = httpx.post(first.url + "/tokens", headers={"Reactor-API-Key": "k2"}, json=None)
        auth = {"Authorization": f"Bearer {minted.json()['jwt']}"}
        created = httpx.post(first.url + "/sessions", headers=auth, json={"model": {"name": "t"}})
        assert created.status_code == 201
        sid = created.json()["session_id"]

        def ready() -> dict | None:
            body = httpx.get(f"{second.url}/sessions/{sid}", headers=auth, timeout=10).json()
            return body if "capabilities" in body else None

        body = wait_for(ready, timeout=30)
        assert body["session_id"] == sid and body["state"] == "ACTIVE"
        transport = f"{second.url}/sessions/{sid}/transport/webrtc"
        assert httpx.get(transport + "/ice_servers", headers=auth).status_code == 200
        replica = bindings(fleet)[sid]
        assert fleet.replica_sessions()[replica] is not None
        assert httpx.delete(f"{second.url}/sessions/{sid}", headers=auth).status_code == 204
        assert httpx.get(f"{first.url}/sessions/{sid}", headers=auth).json()["state"] == "CLOSED"
        fleet.wait_idle(1)
    finally:
        first.stop()
        second.stop()
