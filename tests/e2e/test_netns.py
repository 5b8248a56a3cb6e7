"""The private-network harness works: processes talk inside it, and Chromium runs in it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from e2e.netns import PrivateNetwork, private_network

PORT = 8000

FETCH = textwrap.dedent(
    """
    import sys, time, urllib.request
    deadline = time.monotonic() + 10
    while True:
        try:
            print(urllib.request.urlopen(sys.argv[1], timeout=2).read().decode())
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    """
)

GATHER_CANDIDATES = """async () => {
  const pc = new RTCPeerConnection({iceServers: []});
  pc.createDataChannel("probe");
  const candidates = [];
  const done = new Promise((resolve) => {
    pc.onicecandidate = (e) => (e.candidate ? candidates.push(e.candidate.candidate) : resolve());
    setTimeout(resolve, 5000);
  });
  await pc.setLocalDescription(await pc.createOffer());
  await done;
  pc.close();
  return candidates;
}"""


def serve(net: PrivateNetwork, root: Path) -> subprocess.Popen:
    """Start ``python -m http.server`` on 10.77.0.1 inside `net`, serving `root`."""
    argv = [sys.executable, "-m", "http.server", "--bind", net.address, str(PORT)]
    return net.popen(
        [*argv, "--directory", str(root)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def fetch(net: PrivateNetwork, url: str) -> str:
    """GET `url` from a separate process inside `net` (retrying until it answers)."""
    result = net.run([sys.executable, "-c", FETCH, url], timeout=30, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_a_server_in_the_namespace_answers_another_process_in_it(netns, tmp_path):
    (tmp_path / "hello.txt").write_text("hello from the namespace")
    serve(netns, tmp_path)
    assert fetch(netns, f"http://{netns.address}:{PORT}/hello.txt").strip() == (
        "hello from the namespace"
    )


def test_the_namespace_has_both_veth_addresses_and_a_default_route(netns):
    addrs = netns.run(["ip", "-4", "-br", "addr"], capture_output=True, text=True).stdout
    routes = netns.run(["ip", "route"], capture_output=True, text=True).stdout
    assert f"{netns.address}/24" in addrs
    assert f"{netns.peer_address}/24" in addrs
    assert "default dev t0" in routes


def test_name_lookups_inside_the_namespace_fail_fast_or_resolve_locally(netns):
    code = (
        "import socket, time; t = time.monotonic(); "
        "print(socket.gethostbyname('server')); "
        "print(socket.getfqdn('10.77.0.2')); "
        "print(time.monotonic() - t)"
    )
    result = netns.run([sys.executable, "-c", code], timeout=30, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    resolved, _fqdn, elapsed = result.stdout.split()
    assert resolved == netns.address
    assert float(elapsed) < 2


def test_leaving_the_context_kills_children_and_deletes_the_namespace(tmp_path):
    with private_network() as net:
        child = net.popen(["sleep", "600"])
        name = net.name
    assert child.wait(timeout=5) != 0
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert name not in listed.split()
    assert not Path("/etc/netns", name).exists()


def test_chromium_in_the_namespace_loads_a_local_page_and_gathers_a_host_candidate(
    netns, netns_browser, tmp_path
):
    (tmp_path / "index.html").write_text("<!doctype html><title>netns-ok</title><p>ok</p>")
    serve(netns, tmp_path)
    fetch(netns, f"http://{netns.address}:{PORT}/")  # wait until the server answers
    page = netns_browser.new_page()
    page.goto(f"http://{netns.address}:{PORT}/")
    assert page.title() == "netns-ok"
    candidates = page.evaluate(GATHER_CANDIDATES)
    hosts = [c for c in candidates if " typ host" in c and " 10.77.0." in c]
    assert hosts, f"no 10.77.0.x host candidate among {candidates}"


def test_without_ip_the_helper_skips_with_a_reason(monkeypatch):
    from e2e import netns as module

    monkeypatch.setattr(module.shutil, "which", lambda name: None)
    with pytest.raises(pytest.skip.Exception, match="iproute2"), private_network():
        pass
