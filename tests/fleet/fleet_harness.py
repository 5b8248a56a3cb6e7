"""A fleet on a simulated two-node Ray cluster, its gateway on a real uvicorn server.

`ray.cluster_utils.Cluster` starts a head node and a second node in this machine,
each with fake GPU resources (Ray only counts them); the replica supervisors take
one each and run `reactor run` children of the tiny CPU model. Usage stats are
off. Only processes this harness started are stopped, by their handles and PIDs.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import uvicorn

os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
# Ray on 127.0.0.1, not the machine's own address (see conftest.py); bench/fleet.py too.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

import ray
from ray.cluster_utils import Cluster

from reactor_runtime.fleet import launch
from reactor_runtime.fleet.gateway import create_gateway
from reactor_runtime.fleet.tokens import Credentials

TINY_MODEL = Path(__file__).parent / "tiny_model"
NODE_GPUS = (2, 1)
"""Fake GPUs of the head node and of the second node: one replica each."""


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(interval)


class Gateway:
    """The gateway app behind uvicorn on 127.0.0.1 (random port) in a thread."""

    def __init__(self, controller: Any, credentials: Credentials, **options: Any) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # see server/main.py
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        app = create_gateway(controller, credentials, **options)
        self.server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False))
        self.thread = threading.Thread(
            target=lambda: asyncio.run(self.server.serve(sockets=[self.sock])), daemon=True
        )
        self.thread.start()
        wait_for(lambda: self.server.started)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


class Fleet:
    """Cluster, controller, replicas and gateway; see the module docstring."""

    def __init__(self, *, poll_budget: float = 140.0, expected_session: float = 60.0) -> None:
        self.cluster = Cluster(
            initialize_head=True,
            head_node_args={"num_cpus": 2, "num_gpus": NODE_GPUS[0], "include_dashboard": False},
        )
        self.worker = self.cluster.add_node(num_cpus=1, num_gpus=NODE_GPUS[1])
        ray.init(address=self.cluster.address, namespace=launch.NAMESPACE, log_to_driver=False)
        self.limits = {
            "poll_budget": poll_budget,
            "expected_session": expected_session,
        }
        self.controller = launch.controller(**self.limits)
        self.command = launch.replica_command(
            str(TINY_MODEL), "--orphan-timeout", "30", "--drain-timeout", "5"
        )
        count = sum(NODE_GPUS)
        self.replicas = [
            launch.replica(i, self.command, self.controller, gpus=1) for i in range(count)
        ]
        self.credentials = Credentials(["test-key"])
        self.gateway = Gateway(self.controller, self.credentials, hold=1.0)
        token, _ = self.credentials.mint("test-key")
        self.headers = {"Authorization": f"Bearer {token}"}
        self.wait_idle(count, timeout=90)

    def snapshot(self) -> dict[str, Any]:
        return ray.get(self.controller.snapshot.remote(), timeout=10)

    def wait_idle(self, count: int, timeout: float = 30) -> dict[str, Any]:
        def idle() -> dict[str, Any] | None:
            snap = self.snapshot()
            states = [r["state"] for r in snap["replicas"]]
            return snap if states.count("idle") >= count and not snap["sessions"] else None

        return wait_for(idle, timeout=timeout, interval=0.2)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.gateway.url, headers=self.headers, timeout=30)

    def replica_sessions(self) -> dict[str, str | None]:
        """Each replica's own answer: the session it runs (GET /session), by replica name."""
        out = {}
        for replica in self.snapshot()["replicas"]:
            if replica["state"] == "down" or not replica["url"]:
                continue
            try:
                descriptor = httpx.get(replica["url"] + "/session", timeout=5).json()
            except httpx.HTTPError:
                continue
            running = descriptor["state"] not in ("READY", "CLOSING")
            out[replica["name"]] = descriptor["session_id"] if running else None
        return out

    def stop(self) -> None:
        self.gateway.stop()
        launch.stop(self.replicas, self.controller)
        ray.shutdown()
        self.cluster.shutdown()
