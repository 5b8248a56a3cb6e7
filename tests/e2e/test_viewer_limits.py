"""What `reactor run` does about viewers that vanish or flood, with its default settings.

Vanish: an audio-only model is served at 10.77.0.1 in a private namespace; our client
runs in a second namespace that holds the veth pair's other end (t1, 10.77.0.2), so
setting t1 down really cuts the path (within one namespace, traffic between two local
addresses never crosses the veth). The viewer must be reported gone (`/health`, the
model's `@disconnected` hook) within 5 s; an idle viewer must be kept, and a clean
close must not wait for the silence.

Flood limits: `--dc-max-message` and `--dc-rate` are honoured and counted in /metrics.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator

import httpx
import pytest
from client.served import TESTS, Served, reactor_run
from e2e.netns import PrivateNetwork, private_network

from reactor_runtime.client import CommandFailed, connect

AUDIO_ONLY_MODEL = TESTS / "e2e" / "models" / "audio_only"
_GET = "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())"
VIEWER = textwrap.dedent(
    """
    import asyncio, sys
    from reactor_runtime.client import connect

    async def main():
        session = await connect(sys.argv[1], video=False, timeout=20)
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        await session.close()
        print("closed", flush=True)

    asyncio.run(main())
    """
)


class Split:
    """`net` with t1 moved into a namespace of its own, where the viewer runs."""

    def __init__(self, net: PrivateNetwork) -> None:
        self.net = net
        self.name = f"{net.name}c"
        self.viewers: list[subprocess.Popen] = []

    def __enter__(self) -> Split:
        steps = [
            ["netns", "add", self.name],
            ["-n", self.net.name, "link", "set", "t1", "netns", self.name],
            ["-n", self.name, "link", "set", "lo", "up"],
            ["-n", self.name, "addr", "add", f"{self.net.peer_address}/24", "dev", "t1"],
            ["-n", self.name, "link", "set", "t1", "up"],
        ]
        for step in steps:
            subprocess.run(["ip", *step], check=True, capture_output=True)
        return self

    def viewer(self, url: str) -> subprocess.Popen:
        argv = ["ip", "netns", "exec", self.name, sys.executable, "-c", VIEWER, url]
        proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, start_new_session=True
        )
        self.viewers.append(proc)
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready", "the viewer did not connect"
        return proc

    def link(self, state: str) -> None:
        subprocess.run(["ip", "-n", self.name, "link", "set", "t1", state], check=True)

    def __exit__(self, *exc: object) -> None:
        for proc in self.viewers:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait(timeout=5)
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True, check=False)


@pytest.fixture(scope="module")
def apart() -> Iterator[tuple[Split, Served, PrivateNetwork]]:
    with (
        private_network() as net,
        reactor_run(AUDIO_ONLY_MODEL, host=net.address, prefix=net.exec_prefix) as served,
        Split(net) as split,
    ):
        yield split, served, net


@pytest.fixture
def served_apart(apart) -> Iterator[tuple[Split, Served, PrivateNetwork]]:
    split, served, net = apart
    split.link("up")
    yield apart
    # A session left running would make the server drain it on SIGTERM.
    stop = "import sys, urllib.request; urllib.request.urlopen(urllib.request.Request(sys.argv[1], method='POST'), timeout=5)"
    net.run([sys.executable, "-c", stop, f"{served.url}/stop_session"], timeout=10)


def _viewers(net: PrivateNetwork, url: str) -> int:
    done = net.run(
        [sys.executable, "-c", _GET, f"{url}/health"], timeout=10, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["viewers"]


def _wait_viewers(net: PrivateNetwork, url: str, count: int, timeout: float) -> float:
    started = time.monotonic()
    while _viewers(net, url) != count:
        assert time.monotonic() - started < timeout, f"viewers never became {count}"
        time.sleep(0.05)
    return time.monotonic() - started


def test_a_clean_close_is_noticed_at_once_not_after_the_silence(served_apart):
    split, served, net = served_apart
    viewer = split.viewer(served.url)
    _wait_viewers(net, served.url, 1, timeout=5)
    assert viewer.stdin is not None and viewer.stdout is not None
    viewer.stdin.write("\n")
    viewer.stdin.flush()
    assert viewer.stdout.readline().strip() == "closed"
    assert _wait_viewers(net, served.url, 0, timeout=5) < 2.0


def test_an_idle_audio_only_viewer_is_kept_and_gone_within_5_s_of_its_link(served_apart):
    split, served, net = served_apart
    split.viewer(served.url)
    _wait_viewers(net, served.url, 1, timeout=5)
    # Idle past the timeout (4 s): no command; only our probes, RTCP and its pings.
    time.sleep(5.0)
    assert _viewers(net, served.url) == 1
    split.link("down")
    gone_after = _wait_viewers(net, served.url, 0, timeout=8)
    # /health is polled through a fresh process (~0.1 s per poll): a small margin.
    assert gone_after <= 5.3, f"noticed after {gone_after:.1f} s"
    deadline = time.monotonic() + 2
    while "audio-only: viewer left (1)" not in served.lines:
        assert time.monotonic() < deadline, "the model's @disconnected hook did not run"
        time.sleep(0.05)


def _metric(url: str, name: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=5).text
    line = next(ln for ln in text.splitlines() if ln.startswith(name))
    return float(line.rsplit(" ", 1)[1])


async def test_reactor_run_flags_bound_data_channel_messages_and_metrics_count_them():
    with reactor_run(AUDIO_ONLY_MODEL, "--dc-max-message", "2000", "--dc-rate", "5") as served:
        async with connect(served.url, audio=False, stop_session=True) as session:
            with pytest.raises(CommandFailed) as refused:
                await session.command("no_such_command", pad="x" * 3000)
            assert refused.value.code == "message_too_large"
            assert "over the limit of 2000 bytes (max_message_bytes)" in str(refused.value)
        too_large = 'reactor_datachannel_refused_total{reason="too_large"}'
        assert _metric(served.url, too_large) == 1
        assert _metric(served.url, "reactor_datachannel_received_total") >= 1
        assert _metric(served.url, 'reactor_datachannel_dropped_total{reason="sctp_backlog"}') == 0


@pytest.mark.parametrize(
    ("flag", "value", "says"),
    [
        ("--dc-rate", "0", "--dc-rate: expected > 0, got 0"),
        ("--viewer-timeout", "0.5", "--viewer-timeout: expected >= 2 s"),
    ],
)
def test_reactor_run_refuses_limits_that_would_break_viewers(flag, value, says):
    argv = [sys.executable, "-m", "reactor_runtime.cli", "run", str(AUDIO_ONLY_MODEL)]
    done = subprocess.run([*argv, "--port", "0", flag, value], capture_output=True, text=True)
    assert done.returncode == 2
    assert says in done.stderr
