"""The replica supervisor: a Ray actor that keeps one `reactor run` child alive.

Ray places the actor (`num_gpus=1` gives it one GPU through `CUDA_VISIBLE_DEVICES`,
which the child inherits); the actor starts an unmodified `reactor run DIR --port 0`
on its node's address, reads the port from the child's `reactor: listening
port=N` line, and then, every `HEALTH_INTERVAL`, reads the child's `/health` and
reports it to the controller. Ray alone notices a hung node only after 15-25 s;
these reports (and their absence, see `tables.REPORT_TIMEOUT`) make it seconds.

A child that exits is reported at once (health None: its session is closed) and
started again after `RESTART_DELAY`, unless the replica is draining or stopped.
The child dies with its supervisor (`PR_SET_PDEATHSIG`), so no replica outlives
the fleet.

The class is plain Python; `launch.py` makes it a Ray actor.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import re
import signal
import time
from typing import Any

import httpx

log = logging.getLogger(__name__)

HEALTH_INTERVAL = 1.0
"""Seconds between health reads of the child."""
START_TIMEOUT = 120.0
"""Seconds the child may take to print its port (imports, not the model: that is /ready)."""
RESTART_DELAY = 0.5
"""Seconds before a dead child is started again (a crash loop costs little)."""
_PORT_LINE = re.compile(rb"^reactor: listening port=(\d+)\s*$")
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class Supervisor:
    """Runs, watches and restarts one replica process; see the module docstring."""

    def __init__(
        self,
        name: str,
        command: list[str],
        host: str | None,
        controller: Any,
        *,
        health_interval: float = HEALTH_INTERVAL,
    ) -> None:
        """Supervise `command` (a `reactor run` without `--host`/`--port`) as `name`.

        Args:
            name: the replica's name in the fleet.
            command: the child's argv; `--host host --port 0` are appended.
            host: the address the child listens on and the fleet reaches it at
                (default: the Ray node's address).
            controller: the controller (an actor handle) that receives the reports.
            health_interval: seconds between health reads.
        """
        self.name = name
        self.command = list(command)
        self.host = host or ""
        self.controller = controller
        self.health_interval = health_interval
        self.url = ""
        self.node = ""
        self.pid: int | None = None
        self.restarts = -1
        self.draining = False
        self.stopping = False
        self._process: asyncio.subprocess.Process | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> str:
        """Begin supervising (once); returns the replica's name."""
        import ray

        self.node = ray.get_runtime_context().get_node_id()
        if not self.host:
            self.host = ray.util.get_node_ip_address()
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._supervise())
        return self.name

    async def info(self) -> dict[str, Any]:
        """Name, URL, child pid, restarts and whether it drains."""
        return {
            "name": self.name,
            "url": self.url,
            "pid": self.pid,
            "restarts": max(self.restarts, 0),
            "draining": self.draining,
        }

    async def drain(self, timeout: float | None = None) -> bool:
        """Drain the child (`POST /drain`) and do not restart it once it exits."""
        self.draining = True
        if not self.url:
            return False
        body = {} if timeout is None else {"timeout": timeout}
        async with httpx.AsyncClient(timeout=5) as http:
            try:
                accepted = (await http.post(self.url + "/drain", json=body)).status_code == 202
                fetched = time.time()
                health = (await http.get(self.url + "/health")).json()
            except (httpx.HTTPError, ValueError):
                return False
        # Tell the controller now, not at the next tick: no allocation may race the drain.
        await self._report(health, fetched)
        return accepted

    async def stop(self) -> None:
        """Stop supervising and terminate the child (it drains with its own timeout)."""
        self.stopping = True
        process = self._process
        if process is not None and process.returncode is None:
            process.terminate()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), 10)
            if process.returncode is None:
                process.kill()

    async def _supervise(self) -> None:
        async with httpx.AsyncClient(timeout=max(self.health_interval, 1.0)) as http:
            while not (self.stopping or (self.draining and self.restarts >= 0)):
                self.restarts += 1
                try:
                    await self._run_once(http)
                except Exception:
                    log.exception("replica %s: supervising its process failed", self.name)
                await self._report(None, time.time())
                if self.stopping or self.draining:
                    break
                await asyncio.sleep(RESTART_DELAY)

    async def _run_once(self, http: httpx.AsyncClient) -> None:
        argv = [*self.command, "--host", self.host, "--port", "0"]
        process = self._process = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.PIPE, preexec_fn=_die_with_parent
        )
        self.pid = process.pid
        assert process.stdout is not None
        port = await asyncio.wait_for(self._read_port(process.stdout), START_TIMEOUT)
        self.url = f"http://{self.host}:{port}"
        log.info("replica %s: pid %d at %s", self.name, process.pid, self.url)
        drain_output = asyncio.get_running_loop().create_task(self._discard(process.stdout))
        try:
            while process.returncode is None:
                fetched = time.time()
                try:
                    answer = await http.get(self.url + "/health")
                    health = answer.json()
                except (httpx.HTTPError, ValueError):
                    health = {"status": "unreachable"}
                await self._report(health, fetched)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(process.wait(), self.health_interval)
        finally:
            drain_output.cancel()
        log.warning(
            "replica %s: process %d exited (%s)", self.name, process.pid, process.returncode
        )

    @staticmethod
    async def _read_port(stream: asyncio.StreamReader) -> int:
        while line := await stream.readline():
            found = _PORT_LINE.match(line)
            if found:
                return int(found.group(1))
        raise RuntimeError("the replica process exited before printing its port")

    @staticmethod
    async def _discard(stream: asyncio.StreamReader) -> None:
        while await stream.read(4096):
            pass

    async def _report(self, health: dict[str, Any] | None, fetched_at: float) -> None:
        info = {"pid": self.pid, "restarts": max(self.restarts, 0), "node": self.node}
        try:
            await self.controller.report.remote(self.name, self.url, health, fetched_at, info)
        except Exception as exc:
            # The controller may be restarting; the next report will reach it.
            log.warning("replica %s: report failed: %r", self.name, exc)
