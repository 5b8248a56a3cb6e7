"""Putting the fleet on Ray: the controller actor and the replica supervisors.

Ray is imported here (and in `main.py`) only, when called: the rest of `fleet/`
is plain Python. Usage stats are off unless the user turned them on: Ray
reports home by default.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Any

from .controller import Controller
from .supervisor import Supervisor

NAMESPACE = "reactor-fleet"
"""Ray namespace of every fleet actor."""
CONTROLLER_NAME = "controller"
"""Name of the controller actor in `NAMESPACE` (one per Ray cluster)."""
HEAD_RESOURCE = "node:__internal_head__"
"""The resource only Ray's head node has: where the controller is placed."""
REPLICA_PREFIX = "replica-"
"""Replica supervisors are named `replica-0`, `replica-1`, ... in `NAMESPACE`."""


def ray_module() -> Any:
    """`ray`, with usage stats off unless asked for.

    Raises:
        ImportError: Ray is not installed; the message says how to install it.
    """
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        import ray
    except ImportError:
        raise ImportError("reactor fleet needs Ray: pip install 'reactor-runtime[fleet]'") from None
    return ray


def controller(**limits: Any) -> Any:
    """The fleet's controller: the running one, or a new detached one with `limits`.

    Ray restarts it whenever its process dies (`max_restarts=-1`) and retries the
    calls that were in flight (`max_task_retries=-1`). It lives on the head node,
    which the cluster cannot lose anyway: a worker node leaving takes only its
    replicas with it.
    """
    ray = ray_module()
    actor = ray.remote(Controller)
    return actor.options(
        name=CONTROLLER_NAME,
        namespace=NAMESPACE,
        lifetime="detached",
        get_if_exists=True,
        max_restarts=-1,
        max_task_retries=-1,
        num_cpus=0,
        resources={HEAD_RESOURCE: 0.001},
    ).remote(**limits)


def replica_command(directory: str | None, *options: str) -> list[str]:
    """The child's argv: an unmodified `reactor run [DIR] options...`."""
    argv = [sys.executable, "-m", "reactor_runtime.cli", "run"]
    if directory:
        argv.append(directory)
    return [*argv, *options]


def replica(
    index: int,
    command: list[str],
    controller_handle: Any,
    *,
    gpus: float = 0,
    resources: dict[str, float] | None = None,
    host: str | None = None,
) -> Any:
    """Start (or find) supervisor `replica-<index>` and have it start its child."""
    ray = ray_module()
    actor = ray.remote(Supervisor)
    handle = actor.options(
        name=f"{REPLICA_PREFIX}{index}",
        namespace=NAMESPACE,
        lifetime="detached",
        get_if_exists=True,
        max_restarts=-1,
        num_cpus=0,
        num_gpus=gpus,
        resources=resources or {},
    ).remote(f"{REPLICA_PREFIX}{index}", command, host, controller_handle)
    handle.start.remote()
    return handle


def stop(handles: list[Any], controller_handle: Any | None) -> None:
    """Stop replicas (their children drain and exit) and the controller."""
    ray = ray_module()
    stopping = [handle.stop.remote() for handle in handles]
    for handle, stopped in zip(handles, stopping, strict=True):
        # It may be gone already (its node lost): then there is nothing to stop.
        with contextlib.suppress(Exception):
            ray.get(stopped, timeout=15)
        ray.kill(handle, no_restart=True)
    if controller_handle is not None:
        ray.kill(controller_handle, no_restart=True)
