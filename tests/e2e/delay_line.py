"""A fixed-delay line for IP packets: a TUN device that hands back what it reads, later.

This kernel has no ``netem``, so a shaped test network (`e2e.shaped`) gets its round
trip from this program, run inside the router namespace::

    python delay_line.py IFACE DELAY_MS

It creates the TUN device ``IFACE`` (layer 3, no packet info), brings it up and prints
``ready``. Policy routes in the router send every forwarded packet into ``IFACE``;
each packet read from it is written back ``DELAY_MS`` later, in arrival order, and
the kernel routes it on by its destination (the packet now arrives from ``IFACE``,
which the policy rules leave to the main table). Every packet, in both directions,
TCP signalling as well as media, waits the same ``DELAY_MS``: a round trip through
the router costs twice that.

Nothing is dropped silently: at most `MAX_HELD` packets wait at once (a full line
drops new packets and counts them); on SIGTERM/SIGINT the program prints its
counters as one JSON line (``delayed``, ``dropped``, ``late_ms_max``: how much later
than due the most overdue packet was written) and exits. Standard library only, so
it runs under ``ip netns exec`` with any Python.
"""

from __future__ import annotations

import collections
import errno
import fcntl
import json
import os
import select
import signal
import struct
import subprocess
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
MAX_HELD = 50_000
"""Packets held at once: 10 s of a 40 Mbit/s stream of full packets; a bound on memory."""
READ_SIZE = 65_536


def open_tun(name: str) -> int:
    """Create the TUN device `name` and return its non-blocking file descriptor."""
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


def run(name: str, delay_ms: float) -> dict[str, float]:
    """Delay every packet through `name` by `delay_ms` until SIGTERM/SIGINT; return counters."""
    fd = open_tun(name)
    subprocess.run(["ip", "link", "set", "dev", name, "up"], check=True)
    delay = delay_ms / 1000
    held: collections.deque[tuple[float, bytes]] = collections.deque()
    counters = {"delayed": 0, "dropped": 0, "late_ms_max": 0.0}
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print("ready", flush=True)
    while not stopping:
        timeout = max(held[0][0] - time.monotonic(), 0) if held else 0.5
        try:
            readable, _, _ = select.select([fd], [], [], timeout)
        except InterruptedError:
            continue
        now = time.monotonic()
        if readable:
            while True:
                try:
                    packet = os.read(fd, READ_SIZE)
                except BlockingIOError:
                    break
                if len(held) >= MAX_HELD:
                    counters["dropped"] += 1
                else:
                    held.append((now + delay, packet))
        while held and held[0][0] <= now:
            due, packet = held.popleft()
            counters["late_ms_max"] = max(counters["late_ms_max"], (now - due) * 1000)
            try:
                os.write(fd, packet)
                counters["delayed"] += 1
            except OSError as exc:  # e.g. EINVAL for a packet the kernel refuses back
                if exc.errno not in (errno.EINVAL, errno.EIO, errno.EAGAIN):
                    raise
                counters["dropped"] += 1
    counters["late_ms_max"] = round(counters["late_ms_max"], 2)
    return counters


if __name__ == "__main__":
    print(json.dumps(run(sys.argv[1], float(sys.argv[2]))), flush=True)
