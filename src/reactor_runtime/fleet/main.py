"""`reactor fleet [DIR]`: N replicas of a model on Ray, behind one coordinator-API gateway."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import Any

from .gateway import HOLD
from .tables import MAX_QUEUE, POLL_BUDGET

SECRET_ENV = "REACTOR_FLEET_SECRET"
"""Signs tokens and session ids; gateways of one fleet must share it (default: random)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of `reactor fleet` to `parser`."""
    parser.add_argument(
        "dir", nargs="?", metavar="DIR", help="model directory with reactor.yaml (default: demo)"
    )
    parser.add_argument(
        "--replicas", type=int, default=None, help="replicas at start (default: GPUs, or 1)"
    )
    parser.add_argument(
        "--min-idle",
        type=int,
        default=0,
        help="start replicas to keep this many spare, up to --max-replicas (0: fixed size)",
    )
    parser.add_argument(
        "--max-replicas",
        type=int,
        default=None,
        help="most replicas --min-idle may start (default: --replicas)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="gateway address (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="gateway port (8080)")
    parser.add_argument(
        "--address", default=None, help="join this Ray cluster (default: start a local one)"
    )
    parser.add_argument(
        "--gpus-per-replica",
        type=float,
        default=None,
        help="GPUs each replica takes (default: 1 when the cluster has GPUs, else 0)",
    )
    parser.add_argument(
        "--replica-host",
        default=None,
        help="address replicas listen on and announce (default: their Ray node's address)",
    )
    parser.add_argument(
        "--replica-option",
        dest="replica_options",
        action="append",
        default=[],
        metavar="ARG",
        help="pass ARG to every replica's `reactor run` (e.g. --replica-option=--public-ip=IP); "
        "repeatable",
    )
    parser.add_argument(
        "--api-key",
        dest="api_keys",
        action="append",
        default=[],
        metavar="KEY",
        help="accept this key at POST /tokens; repeatable (also $REACTOR_API_KEYS, "
        "comma-separated). Without keys: dev mode, any bearer accepted",
    )
    parser.add_argument(
        "--orphan-timeout",
        default="60",
        metavar="SECONDS",
        help="a replica ends a session without viewers after this long (60)",
    )
    parser.add_argument(
        "--drain-timeout",
        default="60",
        metavar="SECONDS",
        help="a draining replica ends its session after this long (60)",
    )
    parser.add_argument(
        "--max-queue", type=int, default=MAX_QUEUE, help=f"sessions waiting at most ({MAX_QUEUE})"
    )
    parser.add_argument(
        "--poll-budget",
        type=float,
        default=POLL_BUDGET,
        help=f"seconds clients keep polling; longer expected waits are refused ({POLL_BUDGET:g})",
    )
    parser.add_argument(
        "--max-session",
        type=float,
        default=None,
        metavar="SECONDS",
        help="end any session after this long (default: no limit)",
    )
    parser.add_argument(
        "--hold", type=float, default=HOLD, help=f"seconds a pending poll is held ({HOLD:g})"
    )


def main(args: argparse.Namespace) -> int:
    """Run `reactor fleet` with parsed `args`; returns the exit status."""
    from . import launch

    try:
        ray = launch.ray_module()
    except ImportError as exc:
        print(f"reactor fleet: error: {exc}", file=sys.stderr)
        return 2
    import uvicorn

    from .gateway import create_gateway
    from .scaler import Scaler
    from .tokens import Credentials

    secret = os.environ.get(SECRET_ENV)
    credentials = Credentials.from_env(args.api_keys, secret.encode() if secret else None)
    if credentials.dev_mode:
        print(
            "reactor fleet: WARNING: DEV MODE: no API key (--api-key or REACTOR_API_KEYS), so "
            "ANY bearer token, or none, is accepted. Do not expose this gateway.",
            file=sys.stderr,
            flush=True,
        )
    # "local": a fresh local cluster, never one some other `ray start` left running.
    ray.init(address=args.address or "local", namespace=launch.NAMESPACE, include_dashboard=False)
    gpus = args.gpus_per_replica
    total_gpus = ray.cluster_resources().get("GPU", 0)
    if gpus is None:
        gpus = 1.0 if total_gpus else 0.0
    replicas = args.replicas or (int(total_gpus // gpus) if gpus else 1) or 1
    controller = launch.controller(
        poll_budget=args.poll_budget, max_queue=args.max_queue, max_session=args.max_session
    )
    command = launch.replica_command(
        args.dir,
        "--orphan-timeout",
        args.orphan_timeout,
        "--drain-timeout",
        args.drain_timeout,
        *args.replica_options,
    )

    def start(index: int) -> Any:
        return launch.replica(index, command, controller, gpus=gpus, host=args.replica_host)

    handles: list[Any] = [start(i) for i in range(replicas)]
    scaler = Scaler(
        controller,
        start,
        handles,
        min_idle=args.min_idle,
        floor=replicas,
        ceiling=max(args.max_replicas or replicas, replicas),
    )
    app = create_gateway(controller, credentials, hold=args.hold)
    print(f"reactor fleet: {replicas} replicas, {gpus:g} GPU each", flush=True)
    print(f"reactor fleet: gateway at http://{args.host}:{args.port}/", flush=True)
    config = uvicorn.Config(app, host=args.host, port=args.port, log_config=None)

    async def serve() -> None:
        scaling = asyncio.create_task(scaler.run()) if args.min_idle > 0 else None
        try:
            await uvicorn.Server(config).serve()
        finally:
            if scaling is not None:
                scaling.cancel()

    try:
        asyncio.run(serve())
    finally:
        launch.stop(handles, controller)
        ray.shutdown()
    return 0
