"""Run code of the test process inside a network namespace, and probe a shaped link with it.

A thread that calls ``setns(2)`` on a network namespace moves alone (the rest of the
process stays where it was), and every socket it creates afterwards belongs to that
namespace for good. `run_in` uses this to run a function "inside" a namespace of
`e2e.shaped` without a subprocess: an HTTP sampler of the runtime's ``/metrics``, an
asyncio loop with our own client, or the UDP probes below, which check that the
shaping really does what it says:

- `udp_rtt`: echo round trips between the server and a viewer (the delay line's RTT);
- `udp_blast`: a constant-rate UDP stream from the server to a viewer, counting what
  arrives (the cap, the random loss).
"""

from __future__ import annotations

import ctypes
import os
import socket
import statistics
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from e2e.shaped import ShapedNetwork

T = TypeVar("T")
CLONE_NEWNET = 0x40000000
PROBE_PORT = 9300
ECHO_TIMEOUT = 1.0
"""Seconds an echo may take before it counts as lost (any RTT tested is far below)."""
_libc = ctypes.CDLL(None, use_errno=True)


def enter(namespace: str) -> None:
    """Move the CALLING thread into network namespace `namespace` (``ip netns`` name)."""
    fd = os.open(f"/run/netns/{namespace}", os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns into {namespace}: {os.strerror(err)}")
    finally:
        os.close(fd)


def run_in(namespace: str, fn: Callable[..., T], *args: Any, timeout: float = 120) -> T:
    """Call ``fn(*args)`` on a fresh thread inside `namespace`; return its result.

    Raises:
        TimeoutError: If `fn` has not returned after `timeout` seconds.
        Exception: Whatever `fn` raised.
    """
    result: list[Any] = []

    def target() -> None:
        try:
            enter(namespace)
            result.append((True, fn(*args)))
        except BaseException as exc:
            result.append((False, exc))

    thread = threading.Thread(target=target, name=f"in-{namespace}", daemon=True)
    thread.start()
    thread.join(timeout)
    if not result:
        raise TimeoutError(f"{getattr(fn, '__name__', fn)} in {namespace} took > {timeout} s")
    ok, value = result[0]
    if not ok:
        raise value
    return value


def start_in(namespace: str, fn: Callable[[], Any]) -> threading.Thread:
    """Start ``fn()`` on a daemon thread inside `namespace` (for samplers that loop)."""

    def target() -> None:
        enter(namespace)
        fn()

    thread = threading.Thread(target=target, name=f"in-{namespace}", daemon=True)
    thread.start()
    return thread


def udp_rtt(net: ShapedNetwork, viewer: int = 0, count: int = 20) -> list[float]:
    """Round trips (ms) of the UDP echoes, of `count` sent from viewer `viewer`, that came back.

    An echo lost on a lossy link is left out after `ECHO_TIMEOUT` seconds.
    """
    ready, done = threading.Event(), threading.Event()

    def echo() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((net.server.address, PROBE_PORT))
            sock.settimeout(ECHO_TIMEOUT)
            ready.set()
            while not done.is_set():
                try:
                    data, peer = sock.recvfrom(64)
                except TimeoutError:
                    continue
                sock.sendto(data, peer)

    def ping() -> list[float]:
        ready.wait(10)
        rtts = []
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(ECHO_TIMEOUT)
            for i in range(count):
                t0 = time.monotonic()
                sock.sendto(str(i).encode(), (net.server.address, PROBE_PORT))
                try:
                    while sock.recv(64) != str(i).encode():
                        pass  # a late echo of an earlier probe
                except TimeoutError:
                    continue
                rtts.append((time.monotonic() - t0) * 1000)
        return rtts

    server = start_in(net.server.name, echo)
    try:
        rtts = run_in(net.viewers[viewer].name, ping)
    finally:
        done.set()
    server.join(5)
    return rtts


def udp_blast(
    net: ShapedNetwork, viewer: int, mbps: float, seconds: float, size: int = 1200
) -> dict[str, float]:
    """Send `mbps` of UDP from the server to viewer `viewer` for `seconds`; count arrivals.

    Returns:
        ``sent`` and ``received`` packets, ``received_mbps`` (bytes that arrived, over
        the span from the first to the last arrival), ``loss`` (1 - received/sent).
    """
    ready, done = threading.Event(), threading.Event()
    arrivals: list[float] = []

    def receive() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
            sock.bind((net.viewers[viewer].address, PROBE_PORT))
            sock.settimeout(0.2)
            ready.set()
            while not done.is_set():
                try:
                    sock.recv(size)
                except TimeoutError:
                    continue
                arrivals.append(time.monotonic())

    def send() -> int:
        ready.wait(10)
        interval = size * 8 / (mbps * 1e6)
        payload = bytes(size)
        sent, start = 0, time.monotonic()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            while (now := time.monotonic()) - start < seconds:
                due = start + sent * interval
                if due > now:
                    time.sleep(due - now)
                sock.sendto(payload, (net.viewers[viewer].address, PROBE_PORT))
                sent += 1
        return sent

    receiver = start_in(net.viewers[viewer].name, receive)
    sent = run_in(net.server.name, send)
    time.sleep(net.rtt_ms / 1000 + 0.6)  # the last packets still in the queue and the line
    done.set()
    receiver.join(5)
    span = (arrivals[-1] - arrivals[0]) if len(arrivals) > 1 else float("inf")
    return {
        "sent": sent,
        "received": len(arrivals),
        "received_mbps": len(arrivals) * size * 8 / span / 1e6,
        "loss": 1 - len(arrivals) / sent if sent else 0.0,
    }


def median(values: list[float]) -> float:
    """Median of `values` (for one-line assertions on probe results)."""
    return statistics.median(values)
