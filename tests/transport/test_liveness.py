"""Vanish detection over real aiortc peers, for a viewer with no video at all.

Short settings keep these tests to a few seconds; the defaults are judged by their
worst case here and in real time by tests/e2e/test_vanish.py.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from reactor_runtime.transport.liveness import LivenessSettings

AUDIO_ONLY = (("main_audio", "audio"),)
FAST = LivenessSettings(probe_interval=0.1, timeout=0.5)


def pull_the_plug(client) -> None:
    """The client's sockets go silent: no DTLS/SCTP goodbye, no ICE answer."""
    ice = client.pc.sctp.transport.transport
    for protocol in ice._connection._protocols:
        protocol.transport.close()


def test_the_default_settings_notice_a_vanish_within_5_s():
    assert LivenessSettings().worst_case <= 5.0


def test_settings_that_would_reap_healthy_viewers_are_refused():
    with pytest.raises(ValueError, match="timeout: expected at least two probe intervals"):
        LivenessSettings(probe_interval=1.0, timeout=1.5)
    with pytest.raises(ValueError, match="probe_interval"):
        LivenessSettings(probe_interval=0)


async def test_an_idle_viewer_without_media_is_kept_alive_by_the_probes_alone(
    session, make_peer, make_client, wait_until
):
    # No track: no RTP, no RTCP; no ping either. Only our probes get answers.
    client = make_client(outputs=())
    peer = make_peer(liveness=FAST)
    await client.connect(peer)
    await wait_until(lambda: "viewer-1" in session.viewers, timeout=5)
    await asyncio.sleep(6 * FAST.timeout)
    assert peer.state == "connected" and "viewer-1" in session.viewers
    assert peer.liveness.probes_answered >= 10


async def test_a_vanished_audio_only_viewer_is_noticed_within_the_timeout(
    session, make_peer, make_client, wait_until
):
    client = make_client(outputs=AUDIO_ONLY)
    peer = make_peer(liveness=FAST)
    await client.connect(peer)
    await client.wait_frames("main_audio", 5)
    await wait_until(lambda: "viewer-1" in session.viewers, timeout=5)
    pull_the_plug(client)
    started = time.monotonic()
    await wait_until(lambda: "viewer-1" not in session.viewers, timeout=5)
    assert time.monotonic() - started < FAST.worst_case + 0.5
    assert peer.close_reason == "viewer unresponsive for 0.5 s"


async def test_a_clean_close_is_not_taken_for_a_vanish(session, make_peer, make_client, wait_until):
    client = make_client(outputs=AUDIO_ONLY)
    peer = make_peer(liveness=LivenessSettings(probe_interval=1.0, timeout=3.0))
    await client.connect(peer)
    await wait_until(lambda: "viewer-1" in session.viewers, timeout=5)
    started = time.monotonic()
    await client.close()
    await wait_until(lambda: peer.state == "closed", timeout=3)
    assert time.monotonic() - started < 3.0, "noticed by the goodbye, not by the silence"
    assert "unresponsive" not in (peer.close_reason or "")
    assert "viewer-1" not in session.viewers
