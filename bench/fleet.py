"""Fleet benchmark: allocation under a burst, FIFO handover, proxy overhead, throughput, CPU.

Starts the test fleet (`tests/fleet/fleet_harness.py`: a simulated two-node Ray
cluster, three replicas of the tiny 64x64/10 fps model, the gateway on uvicorn in
this process) and measures, against the goals of issue 11:

- **burst**: 100 concurrent `POST /sessions`: each answer's latency, and the
  allocation latency, from the POST to the controller queueing or binding it
  (goal p99 <= 100 ms);
- **handover**: a held poll of the queue head, timed from the DELETE that frees a
  replica to the poll answering `ACTIVE` (what a waiting client experiences);
- **signalling**: `GET …/ice_servers` through the gateway vs straight to the replica,
  interleaved (goal: p50 added <= 3 ms);
- **throughput**: create → `ACTIVE` → DELETE cycles, one client per replica, for
  `--seconds`: sessions per second the controller sustains;
- **CPU**: the gateway's event-loop thread CPU per cycle (Ray's own I/O threads
  not included).

    python bench/fleet.py [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

import httpx

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent / "tests" / "fleet"))
sys.path.insert(0, str(BENCH))

from common import pct, table, write_result  # noqa: E402
from fleet_harness import Fleet, wait_for  # noqa: E402

GOALS = {"burst_p99_ms": 100.0, "proxy_added_p50_ms": 3.0}


def thread_cpu(native_id: int) -> float:
    """CPU seconds (user + system) of one thread of this process."""
    fields = Path(f"/proc/self/task/{native_id}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def burst(fleet: Fleet, count: int) -> tuple[list[float], list[str]]:
    async with httpx.AsyncClient(base_url=fleet.gateway.url, headers=fleet.headers) as http:

        async def one() -> tuple[float, str]:
            started = time.perf_counter()
            answer = await http.post("/sessions", json={})
            return (time.perf_counter() - started) * 1000, answer.json()["session_id"]

        results = await asyncio.gather(*(one() for _ in range(count)))
    return [ms for ms, _ in results], [sid for _, sid in results]


def handovers(fleet: Fleet, rounds: int) -> list[float]:
    times = []
    with fleet.client() as http:
        for _ in range(rounds):
            snapshot = fleet.snapshot()
            active = next(s["session_id"] for s in snapshot["sessions"] if s["state"] == "ACTIVE")
            head = snapshot["queue"][0]
            started = time.perf_counter()
            http.delete(f"/sessions/{active}")
            while http.get(f"/sessions/{head}").json()["state"] != "ACTIVE":
                pass
            times.append((time.perf_counter() - started) * 1000)
    return times


def signalling(fleet: Fleet, rounds: int) -> tuple[list[float], list[float]]:
    with fleet.client() as http:
        sid = http.post("/sessions", json={}).json()["session_id"]
        wait_for(lambda: http.get(f"/sessions/{sid}").json()["state"] == "ACTIVE")
        name = next(s["replica"] for s in fleet.snapshot()["sessions"] if s["session_id"] == sid)
        replica = next(r["url"] for r in fleet.snapshot()["replicas"] if r["name"] == name)
        path = f"/sessions/{sid}/transport/webrtc/ice_servers"
        via, direct = [], []
        with httpx.Client(base_url=replica) as straight:
            for _ in range(rounds):
                for client, out in ((http, via), (straight, direct)):
                    started = time.perf_counter()
                    assert client.get(path).status_code == 200
                    out.append((time.perf_counter() - started) * 1000)
        http.delete(f"/sessions/{sid}")
    return via, direct


async def cycles(fleet: Fleet, seconds: float, clients: int) -> int:
    done = 0
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient(base_url=fleet.gateway.url, headers=fleet.headers) as http:

        async def client() -> None:
            nonlocal done
            while time.monotonic() < deadline:
                sid = (await http.post("/sessions", json={})).json()["session_id"]
                while (await http.get(f"/sessions/{sid}")).json()["state"] != "ACTIVE":
                    pass
                await http.delete(f"/sessions/{sid}")
                done += 1

        await asyncio.gather(*(client() for _ in range(clients)))
    return done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="throughput run length")
    parser.add_argument("--rounds", type=int, default=200, help="signalling request pairs")
    opts = parser.parse_args()
    print("starting the fleet (simulated 2-node Ray cluster, 3 replicas)…", flush=True)
    fleet = Fleet(expected_session=1.0)
    try:
        replicas = len(fleet.replicas)
        posts, sids = asyncio.run(burst(fleet, 100))
        wait_for(lambda: len(fleet.snapshot()["queue"]) == 100 - replicas)
        intake = [seconds * 1000 for seconds in fleet.snapshot()["intakes_s"][-100:]]
        handed = handovers(fleet, 20)
        with fleet.client() as http:
            for sid in sids:
                http.delete(f"/sessions/{sid}")
        fleet.wait_idle(replicas)
        via, direct = signalling(fleet, opts.rounds)
        fleet.wait_idle(replicas)
        gateway_thread = fleet.gateway.thread.native_id
        cpu0 = thread_cpu(gateway_thread)
        count = asyncio.run(cycles(fleet, opts.seconds, replicas))
        cpu = thread_cpu(gateway_thread) - cpu0
    finally:
        fleet.stop()
    added = [v - d for v, d in zip(via, direct, strict=True)]
    rows = [
        {
            "measure": "POST /sessions, 100 at once (ms)",
            "p50": pct(posts, 50),
            "p99": pct(posts, 99),
            "goal": "-",
        },
        {
            "measure": "allocation: POST -> queued or bound (ms)",
            "p50": pct(intake, 50),
            "p99": pct(intake, 99),
            "goal": "p99 <= 100",
        },
        {
            "measure": "handover: DELETE -> queue head ACTIVE (ms)",
            "p50": pct(handed, 50),
            "p99": pct(handed, 99),
            "goal": "-",
        },
        {
            "measure": "ice_servers via gateway (ms)",
            "p50": pct(via, 50),
            "p99": pct(via, 99),
            "goal": "-",
        },
        {
            "measure": "ice_servers direct (ms)",
            "p50": pct(direct, 50),
            "p99": pct(direct, 99),
            "goal": "-",
        },
        {
            "measure": "added by the gateway (ms)",
            "p50": pct(added, 50),
            "p99": pct(added, 99),
            "goal": "p50 <= 3",
        },
    ]
    print(table(rows, ["measure", "p50", "p99", "goal"]))
    rate = count / opts.seconds
    per_session = cpu / max(count, 1) * 1000
    print(
        f"throughput: {rate:.1f} sessions/s ({count} create->ACTIVE->DELETE cycles, "
        f"{replicas} clients); gateway loop CPU {per_session:.2f} ms per session"
    )
    path = write_result(
        f"fleet-{time.strftime('%Y%m%d')}",
        {
            "replicas": replicas,
            "burst_post_ms": {"p50": pct(posts, 50), "p99": pct(posts, 99)},
            "allocation_ms": {"p50": pct(intake, 50), "p99": pct(intake, 99)},
            "handover_ms": {"p50": pct(handed, 50), "p99": pct(handed, 99)},
            "proxy_ms": {
                "via_p50": pct(via, 50),
                "direct_p50": pct(direct, 50),
                "added_p50": pct(added, 50),
                "added_p99": pct(added, 99),
            },
            "sessions_per_s": round(rate, 2),
            "gateway_cpu_ms_per_session": round(per_session, 3),
            "goals": GOALS,
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
