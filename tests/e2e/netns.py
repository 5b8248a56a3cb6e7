"""Run test processes inside a private network namespace made for one test.

libwebrtc (Chromium and both official Reactor SDKs) gathers no loopback ICE
candidates, so end-to-end tests cannot run server and client on 127.0.0.1.
Instead each test gets a fresh namespace with a veth pair whose two ends both
stay inside it::

    lo  127.0.0.1/8      (up)
    t0  10.77.0.1/24     <- the server binds here (``PrivateNetwork.address``)
    t1  10.77.0.2/24     (``PrivateNetwork.peer_address``)
    default route via t0 (Chromium gathers no host candidate without one)

Nothing leaves the namespace: it has no link to the host, so traffic to any
address outside 10.77.0.0/24 and loopback simply fails. The kernel has no
``dummy`` driver here, hence the veth pair.

Name resolution: with the default route, a DNS query would be sent into the
veth pair and wait for its full timeout (``http.server`` alone stalls ~10 s
in ``getfqdn``). ``ip netns exec`` bind-mounts ``/etc/netns/<name>/*`` over
``/etc``, so each namespace gets a ``resolv.conf`` pointing at 127.0.0.1
(refused at once) and a ``hosts`` file that knows ``localhost`` and
``server`` (10.77.0.1).

Example::

    with private_network() as net:
        server = net.popen(["python", "-m", "http.server", "--bind", net.address, "8000"])
        out = net.run(["curl", f"http://{net.address}:8000/"], capture_output=True)

Processes started with :meth:`PrivateNetwork.popen` get their own process
group and are killed (group-wide) when the context exits; then the namespace
is deleted. Needs root and iproute2's ``ip``; without them
:func:`private_network` calls ``pytest.skip`` with the reason.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import signal
import stat
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

SERVER_ADDRESS = "10.77.0.1"
PEER_ADDRESS = "10.77.0.2"
_PREFIX_LEN = 24
#: Debian's Chromium, and the flags tests launch it with (headless, as root).
#: ``WebRtcHideLocalIpsWithMdns`` is disabled so host candidates carry the real
#: 10.77.0.x address; by default Chromium offers ``<uuid>.local`` instead.
CHROMIUM_PATH = "/usr/bin/chromium"
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
)
_NAME_PREFIX = "rrt"
_NAME_RE = re.compile(rf"^{_NAME_PREFIX}(\d+)x[0-9a-f]+$")
_ETC_NETNS = Path("/etc/netns")
_RESOLV_CONF = "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n"
_HOSTS = f"127.0.0.1 localhost\n::1 localhost\n{SERVER_ADDRESS} server\n{PEER_ADDRESS} peer\n"


class PrivateNetwork:
    """A live private network namespace; see the module docstring.

    Attributes:
        name: The namespace name (``ip netns`` name), unique per instance.
        address: Address a server in the namespace should bind (10.77.0.1).
        peer_address: The veth pair's other address (10.77.0.2).
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.address = SERVER_ADDRESS
        self.peer_address = PEER_ADDRESS
        self._children: list[subprocess.Popen] = []
        self._tmp = Path(tempfile.mkdtemp(prefix=f"{name}-"))

    @property
    def exec_prefix(self) -> list[str]:
        """The argv prefix that runs a command inside the namespace."""
        return ["ip", "netns", "exec", self.name]

    def popen(self, argv: Sequence[str], **kwargs) -> subprocess.Popen:
        """Start `argv` inside the namespace; it is killed when the network closes.

        Args:
            argv: Program and arguments (no shell).
            **kwargs: Passed to `subprocess.Popen`. ``start_new_session`` is
                forced on so the whole process group can be killed at cleanup.

        Returns:
            The started process.
        """
        kwargs["start_new_session"] = True
        proc = subprocess.Popen([*self.exec_prefix, *argv], **kwargs)
        self._children.append(proc)
        return proc

    def run(
        self, argv: Sequence[str], timeout: float = 60, **kwargs
    ) -> subprocess.CompletedProcess:
        """Run `argv` inside the namespace to completion (like `subprocess.run`).

        Args:
            argv: Program and arguments (no shell).
            timeout: Seconds before the process group is killed and
                `subprocess.TimeoutExpired` is raised.
            **kwargs: Passed to `subprocess.Popen`; ``capture_output=True``
                pipes stdout and stderr as in `subprocess.run`.

        Returns:
            The completed process, with ``stdout``/``stderr`` if piped.
        """
        if kwargs.pop("capture_output", False):
            kwargs["stdout"] = kwargs["stderr"] = subprocess.PIPE
        proc = self.popen(argv, **kwargs)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            proc.communicate()
            raise
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)

    def wrap_executable(self, executable: str) -> str:
        """A script that execs `executable` inside the namespace, with its args.

        For launchers that want a binary path rather than an argv, e.g.
        Playwright's ``executable_path``: the browser then runs inside the
        namespace while the test drives it from outside (over inherited pipes).

        Args:
            executable: Absolute path of the program to wrap.

        Returns:
            Path of an executable shell script (deleted when the network closes).
        """
        script = self._tmp / f"in-{self.name}-{Path(executable).name}"
        prefix = " ".join(self.exec_prefix)
        script.write_text(f'#!/bin/sh\nexec {prefix} {executable} "$@"\n')
        script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        return str(script)

    def close(self) -> None:
        """Kill every child's process group, then delete the namespace."""
        for proc in self._children:
            _kill_group(proc)
        for proc in self._children:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
        # Anything else still inside (e.g. a browser the Playwright wrapper started).
        _kill_namespace_pids(self.name)
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True, check=False)
        shutil.rmtree(_ETC_NETNS / self.name, ignore_errors=True)
        shutil.rmtree(self._tmp, ignore_errors=True)


def _kill_group(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def _kill_namespace_pids(name: str) -> None:
    out = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True)
    for pid in out.stdout.split():
        with contextlib.suppress(ProcessLookupError, PermissionError, ValueError):
            os.kill(int(pid), signal.SIGKILL)


def without_ipv6(name: str) -> None:
    """Turn IPv6 off in namespace `name`, before its links are made.

    A new link's IPv6 link-local address settles (duplicate address detection) about
    a second after the link comes up; Chromium sees that as a network change and
    aborts whatever it is loading with ``net::ERR_NETWORK_CHANGED``. The tests use
    IPv4 only, so the namespace gets no IPv6 at all.
    """
    _ip("netns", "exec", name, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
    _ip("netns", "exec", name, "sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1")


def _ip(*args: str) -> None:
    result = subprocess.run(["ip", *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"`ip {' '.join(args)}` failed: {result.stderr.strip()}")


def _remove_stale_namespaces() -> None:
    """Delete namespaces left by earlier test processes that died (their pid is gone)."""
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        name = line.split()[0] if line.strip() else ""
        match = _NAME_RE.match(name)
        if match and not Path(f"/proc/{match.group(1)}").exists():
            _kill_namespace_pids(name)
            subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
            shutil.rmtree(_ETC_NETNS / name, ignore_errors=True)


def unavailable_reason() -> str | None:
    """Why private namespaces cannot be made here, or None if they can."""
    if os.geteuid() != 0:
        return "private network namespaces need root (ip netns add)"
    if shutil.which("ip") is None:
        return "iproute2's `ip` is not installed (apt-get install -y iproute2)"
    return None


@contextlib.contextmanager
def private_network() -> Iterator[PrivateNetwork]:
    """Create a private namespace with 10.77.0.1/24 and 10.77.0.2/24; delete it on exit.

    Yields:
        The live `PrivateNetwork`.

    Raises:
        pytest.skip.Exception: If namespaces cannot be created here (not root,
            no ``ip``, or the kernel/container refuses).
    """
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    _remove_stale_namespaces()
    name = f"{_NAME_PREFIX}{os.getpid()}x{secrets.token_hex(3)}"
    try:
        _ip("netns", "add", name)
    except RuntimeError as exc:
        pytest.skip(f"cannot create a network namespace: {exc}")
    net = PrivateNetwork(name)
    try:
        etc = _ETC_NETNS / name
        etc.mkdir(parents=True, exist_ok=True)
        (etc / "resolv.conf").write_text(_RESOLV_CONF)
        (etc / "hosts").write_text(_HOSTS)
        inside = ("-n", name)
        without_ipv6(name)
        _ip(*inside, "link", "set", "lo", "up")
        _ip(*inside, "link", "add", "t0", "type", "veth", "peer", "name", "t1")
        _ip(*inside, "addr", "add", f"{SERVER_ADDRESS}/{_PREFIX_LEN}", "dev", "t0")
        _ip(*inside, "addr", "add", f"{PEER_ADDRESS}/{_PREFIX_LEN}", "dev", "t1")
        _ip(*inside, "link", "set", "t0", "up")
        _ip(*inside, "link", "set", "t1", "up")
        _ip(*inside, "route", "add", "default", "dev", "t0")
    except (RuntimeError, OSError) as exc:
        net.close()
        pytest.skip(f"cannot set up the private network: {exc}")
    try:
        yield net
    finally:
        net.close()
