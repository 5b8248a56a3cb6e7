"""A shaped test network: the runtime and its viewers in separate namespaces, a router between.

`private_network` (netns.py) keeps both veth ends in ONE namespace, so its traffic goes
through ``lo`` and no qdisc sees it. Here every party has a namespace of its own and
all traffic crosses a router namespace, where it can be capped, lost and delayed::

    server  s0 10.78.1.1 ── r0 10.78.1.2  [router]  rv0 10.78.10.2 ── v0 10.78.10.1  viewer 0
                                                    rv1 10.78.11.2 ── v0 10.78.11.1  viewer 1 ...

- **Rate cap and loss**, per viewer and per direction (`Link`): the egress of ``rvN``
  (towards viewer N) and of viewer N's ``v0`` (towards the server) each get an ``htb``
  qdisc: class 1:10 carries traffic at the cap into a byte FIFO of `Link.queue_ms` at
  that rate (a router's buffer; overflow is tail drop), class 1:20 feeds a
  ``pfifo limit 0`` that drops everything, and a classic-BPF ``ld rand`` filter sends a
  random share `Link.loss` of IP packets to 1:20. `ShapedNetwork.shape` changes cap and
  loss during a run (``tc class change``: no packet of the running stream is lost by
  the change itself).
- **Round trip**: no ``netem`` on this kernel, so `delay_line.py` runs in the router
  and policy routes send every forwarded packet through it: each direction waits
  ``rtt_ms / 2`` (media, RTCP, STUN and HTTP alike, for Chromium as for our client).
- **Counters**: `ShapedNetwork.link_stats` reads the qdiscs (bytes delivered, packets
  dropped by the loss filter and by queue overflow).

Example::

    with shaped_network([Link(cap_mbps=2, loss=0.05)], rtt_ms=50) as net:
        server = serve(net.server, model_dir)          # web.viewer.serve: binds 10.78.1.1
        browser = launch(pw, net.viewers[0], [server.origin])
        ...
        net.shape(0, cap_mbps=10)

Everything made here (namespaces, the qdiscs inside them, the delay line and every
process started through the `PrivateNetwork` objects) is removed on exit, and only
that: names are ``rrs<pid>x<hex><role>``, and stale ones of dead test processes are
swept first. Needs root and iproute2 (``ip``, ``tc``); otherwise `shaped_network`
calls ``pytest.skip`` with the reason.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from e2e.netns import PrivateNetwork, unavailable_reason, without_ipv6

SERVER_ADDRESS = "10.78.1.1"
ROUTER_ADDRESS = "10.78.1.2"
QUEUE_MS = 200
"""Default bottleneck buffer, in ms at the cap: a home router's order of magnitude."""
MIN_QUEUE_BYTES = 16_000
"""Smallest bottleneck FIFO (about 10 full packets), so a low cap still passes bursts."""
UNCAPPED_MBPS = 10_000
"""The rate of the carrying class when a link has no cap."""
DELAY_TABLE = "100"
"""Policy routing table that sends forwarded packets into the delay line."""
MAX_VIEWERS = 8
_PREFIX = "rrs"
_NAME_RE = re.compile(rf"^{_PREFIX}(\d+)x[0-9a-f]+[a-z]\d*$")
_ETC_NETNS = Path("/etc/netns")
_DELAY_LINE = Path(__file__).resolve().with_name("delay_line.py")
# Classic BPF: A = random u32; if A > T return -1 (match: to the dropping class) else 0.
_LOSS_BPF = "4,32 0 0 4294963256,37 0 1 {threshold},6 0 0 4294967295,6 0 0 0"


@dataclass(frozen=True)
class Link:
    """Shaping of one viewer's link; None or 0 means "not shaped" for that knob.

    Attributes:
        cap_mbps: Rate cap towards the viewer (Mbit/s).
        loss: Share of IP packets towards the viewer dropped at random (0..1).
        up_cap_mbps: Rate cap from the viewer towards the server.
        up_loss: Random loss from the viewer towards the server.
        queue_ms: Bottleneck buffer, in ms of traffic at the cap.
    """

    cap_mbps: float | None = None
    loss: float = 0.0
    up_cap_mbps: float | None = None
    up_loss: float = 0.0
    queue_ms: float = QUEUE_MS

    def __post_init__(self) -> None:
        for name in ("loss", "up_loss"):
            value = getattr(self, name)
            if not 0 <= value < 1:
                raise ValueError(f"Link.{name} must be in [0, 1), got {value!r}")
        for name in ("cap_mbps", "up_cap_mbps"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"Link.{name} must be > 0 Mbit/s or None, got {value!r}")


class ShapedNetwork:
    """The live namespaces of `shaped_network`; see the module docstring.

    Attributes:
        server: The runtime's namespace (``address`` 10.78.1.1).
        router: The router namespace (shaping, delay line).
        viewers: One namespace per viewer (``address`` 10.78.(10+i).1).
        links: The current shaping of each viewer's link.
        rtt_ms: Round trip added by the delay line (0: no delay line).
    """

    def __init__(self, stem: str, viewers: int, rtt_ms: float) -> None:
        self.server = PrivateNetwork(f"{stem}s")
        self.router = PrivateNetwork(f"{stem}r")
        self.viewers = [PrivateNetwork(f"{stem}v{i}") for i in range(viewers)]
        self.rtt_ms = rtt_ms
        self.links: list[Link] = [Link() for _ in range(viewers)]
        self.delay_line: subprocess.Popen | None = None
        self._installed: set[int] = set()
        self.server.address, self.server.peer_address = SERVER_ADDRESS, ROUTER_ADDRESS
        for i, viewer in enumerate(self.viewers):
            viewer.address, viewer.peer_address = f"10.78.{10 + i}.1", f"10.78.{10 + i}.2"

    @property
    def namespaces(self) -> list[PrivateNetwork]:
        """Every namespace of this network (server, router, viewers)."""
        return [self.server, self.router, *self.viewers]

    def shape(self, viewer: int, **changes: Any) -> Link:
        """Change viewer `viewer`'s link during a run, e.g. ``shape(0, cap_mbps=2)``.

        Args:
            viewer: Index of the viewer.
            **changes: Fields of `Link` to change; the others keep their value.

        Returns:
            The link now in force.
        """
        link = replace(self.links[viewer], **changes)
        old = self.links[viewer] if viewer in self._installed else None
        down_loss, up_loss = (None, None) if old is None else (old.loss, old.up_loss)
        _shape(self.router.name, f"rv{viewer}", link.cap_mbps, link.loss, link.queue_ms, down_loss)
        _shape(
            self.viewers[viewer].name, "v0", link.up_cap_mbps, link.up_loss, link.queue_ms, up_loss
        )
        self._installed.add(viewer)
        self.links[viewer] = link
        return link

    def link_stats(self, viewer: int, direction: str = "down") -> dict[str, int]:
        """Qdisc counters of viewer `viewer`'s link since it was made.

        Args:
            viewer: Index of the viewer.
            direction: ``"down"`` (towards the viewer) or ``"up"``.

        Returns:
            ``sent_bytes``/``sent_packets`` (delivered through the cap),
            ``lost_packets`` (dropped by the loss filter), ``overflow_packets``
            (tail-dropped at the full bottleneck queue).
        """
        if direction not in ("down", "up"):
            raise ValueError(f"direction must be 'down' or 'up', got {direction!r}")
        ns, dev = (
            (self.router.name, f"rv{viewer}")
            if direction == "down"
            else (self.viewers[viewer].name, "v0")
        )
        out = _run("tc", "-n", ns, "-s", "-j", "qdisc", "show", "dev", dev)
        qdiscs = {q["handle"]: q for q in json.loads(out)}
        carry, drop = qdiscs.get("10:", {}), qdiscs.get("20:", {})
        return {
            "sent_bytes": carry.get("bytes", 0),
            "sent_packets": carry.get("packets", 0),
            "lost_packets": drop.get("drops", 0),
            "overflow_packets": carry.get("drops", 0),
        }

    def stop_delay_line(self) -> dict[str, float]:
        """Stop the delay line and return its counters (``delayed``, ``dropped``, ...)."""
        proc, self.delay_line = self.delay_line, None
        if proc is None:
            return {}
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
        lines = [line for line in out.splitlines() if line.startswith("{")]
        return json.loads(lines[-1]) if lines else {}

    def close(self) -> None:
        """Kill every process started in the namespaces, then delete them."""
        with contextlib.suppress(Exception):
            self.stop_delay_line()
        for net in self.namespaces:
            net.close()

    def _start_delay_line(self) -> None:
        argv = [sys.executable, str(_DELAY_LINE), "dl", str(self.rtt_ms / 2)]
        proc = self.router.popen(argv, stdout=subprocess.PIPE, text=True)
        self.delay_line = proc
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if line != "ready":
            raise RuntimeError(f"the delay line did not start (said {line!r})")
        _ip("-n", self.router.name, "route", "add", "default", "dev", "dl", "table", DELAY_TABLE)
        for dev in ("r0", *(f"rv{i}" for i in range(len(self.viewers)))):
            _ip("-n", self.router.name, "rule", "add", "iif", dev, "lookup", DELAY_TABLE)


@contextlib.contextmanager
def shaped_network(links: Sequence[Link] = (Link(),), rtt_ms: float = 0) -> Iterator[ShapedNetwork]:
    """Build the network of the module docstring, one viewer per `links` entry.

    Args:
        links: Initial shaping of each viewer's link.
        rtt_ms: Round trip added between the server and every viewer (ms).

    Yields:
        The live `ShapedNetwork`; everything is deleted on exit.

    Raises:
        pytest.skip.Exception: If namespaces or ``tc`` are unavailable here.
        ValueError: If `links` is empty or longer than `MAX_VIEWERS`, or `rtt_ms` < 0.
    """
    if not 1 <= len(links) <= MAX_VIEWERS:
        raise ValueError(f"links must hold 1..{MAX_VIEWERS} viewers, got {len(links)}")
    if rtt_ms < 0:
        raise ValueError(f"rtt_ms must be >= 0, got {rtt_ms!r}")
    reason = unavailable_reason() or (None if shutil.which("tc") else "iproute2's tc is absent")
    if reason:
        pytest.skip(reason)
    _sweep_stale()
    net = ShapedNetwork(f"{_PREFIX}{os.getpid()}x{secrets.token_hex(3)}", len(links), rtt_ms)
    try:
        _build(net)
        for i, link in enumerate(links):
            net.shape(i, **link.__dict__)
        if rtt_ms > 0:
            net._start_delay_line()
    except (RuntimeError, OSError) as exc:
        net.close()
        pytest.skip(f"cannot build the shaped network: {exc}")
    try:
        yield net
    finally:
        net.close()


def _build(net: ShapedNetwork) -> None:
    hosts = f"127.0.0.1 localhost\n::1 localhost\n{SERVER_ADDRESS} server\n"
    for ns in net.namespaces:
        _ip("netns", "add", ns.name)
        without_ipv6(ns.name)
        etc = _ETC_NETNS / ns.name
        etc.mkdir(parents=True, exist_ok=True)
        (etc / "resolv.conf").write_text("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
        (etc / "hosts").write_text(hosts)
        _ip("-n", ns.name, "link", "set", "lo", "up")
    router = net.router.name
    _run("ip", "netns", "exec", router, "sysctl", "-qw", "net.ipv4.ip_forward=1")
    _run("ip", "netns", "exec", router, "sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0")
    _run("ip", "netns", "exec", router, "sysctl", "-qw", "net.ipv4.conf.default.rp_filter=0")
    pairs = [(net.server, "r0")] + [(v, f"rv{i}") for i, v in enumerate(net.viewers)]
    for ns, inner in pairs:
        outer = "s0" if ns is net.server else "v0"
        _ip(
            "-n",
            router,
            "link",
            "add",
            inner,
            "type",
            "veth",
            "peer",
            "name",
            outer,
            "netns",
            ns.name,
        )
        _ip("-n", router, "addr", "add", f"{ns.peer_address}/24", "dev", inner)
        _ip("-n", ns.name, "addr", "add", f"{ns.address}/24", "dev", outer)
        _ip("-n", router, "link", "set", inner, "up")
        _ip("-n", ns.name, "link", "set", outer, "up")
        _ip("-n", ns.name, "route", "add", "default", "via", ns.peer_address)


def _shape(
    ns: str, dev: str, cap_mbps: float | None, loss: float, queue_ms: float, old_loss: float | None
) -> None:
    """Install (`old_loss` None) or change the qdiscs of the module docstring on `dev`."""
    rate = cap_mbps or UNCAPPED_MBPS
    limit = max(int(rate * 1e6 / 8 * queue_ms / 1000), MIN_QUEUE_BYTES)
    verb = "add" if old_loss is None else "change"
    tc = ("tc", "-n", ns)
    if old_loss is None:
        _run(*tc, "qdisc", "add", "dev", dev, "root", "handle", "1:", "htb", "default", "10")
        _run(*tc, "class", "add", "dev", dev, "parent", "1:", "classid", "1:20", "htb",
             "rate", f"{UNCAPPED_MBPS}mbit")  # fmt: skip
        _run(*tc, "qdisc", "add", "dev", dev, "parent", "1:20", "handle", "20:", "pfifo",
             "limit", "0")  # fmt: skip
    _run(*tc, "class", verb, "dev", dev, "parent", "1:", "classid", "1:10", "htb",
         "rate", f"{rate}mbit", "ceil", f"{rate}mbit")  # fmt: skip
    _run(*tc, "qdisc", verb, "dev", dev, "parent", "1:10", "handle", "10:", "bfifo",
         "limit", str(limit))  # fmt: skip
    if old_loss:
        _run(*tc, "filter", "del", "dev", dev, "parent", "1:", "prio", "1")
    if loss > 0:
        threshold = min(int((1 - loss) * 2**32), 2**32 - 1)
        _run(*tc, "filter", "add", "dev", dev, "parent", "1:", "protocol", "ip", "prio", "1",
             "bpf", "bytecode", _LOSS_BPF.format(threshold=threshold), "flowid", "1:20")  # fmt: skip


def _sweep_stale() -> None:
    """Delete namespaces of this harness whose creating process is gone."""
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        name = line.split()[0] if line.strip() else ""
        match = _NAME_RE.match(name)
        if match and not Path(f"/proc/{match.group(1)}").exists():
            PrivateNetwork(name).close()


def _run(*argv: str) -> str:
    result = subprocess.run(argv, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"`{' '.join(argv)}` failed: {result.stderr.strip()}")
    return result.stdout


def _ip(*args: str) -> None:
    _run("ip", *args)
