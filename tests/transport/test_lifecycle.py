"""Viewer lifecycle over real aiortc peers: join, leave, vanish, goodbye, pause."""

from __future__ import annotations

import time

from reactor_runtime.protocol.reactor_wire.v1 import common_pb2, control_pb2, track_pb2

NOTIFICATION = common_pb2.MESSAGE_KIND_NOTIFICATION


async def test_closing_the_client_makes_the_viewer_leave_within_5_s(
    session, make_peer, make_client, wait_until
):
    closed = []
    client = make_client()
    peer = make_peer(on_closed=closed.append)
    await client.connect(peer)
    await wait_until(lambda: "viewer-1" in session.viewers, timeout=5)
    assert peer.state == "connected"
    started = time.monotonic()
    await client.close()
    await wait_until(lambda: "viewer-1" not in session.viewers, timeout=5)
    assert time.monotonic() - started < 5
    await wait_until(lambda: closed == [peer])
    assert peer.state == "closed"
    await peer.close()
    assert closed == [peer], "on_closed (and viewer_left) happen exactly once"


async def test_a_vanished_client_is_detected_within_5_s(
    session, make_peer, make_client, wait_until
):
    client = make_client()
    peer = make_peer()
    await client.connect(peer)
    await client.wait_frames("main_video", 5)
    await wait_until(lambda: "viewer-1" in session.viewers, timeout=5)
    # Pull the plug: the client's sockets go silent, no DTLS/SCTP goodbye is sent.
    ice = client.pc.getTransceivers()[0].receiver.transport.transport
    for protocol in ice._connection._protocols:
        protocol.transport.close()
    started = time.monotonic()
    await wait_until(lambda: "viewer-1" not in session.viewers, timeout=6)
    assert time.monotonic() - started < 5
    assert peer.state == "closed" and "unresponsive" in (peer.close_reason or "")


async def test_closing_the_peer_says_session_ended_first(make_peer, make_client):
    client = make_client(labels=("data", "control"))
    peer = make_peer(family="v1")
    await client.connect(peer)
    await client.wait_open()
    await peer.close("stopping for maintenance")
    goodbye = control_pb2.ControlServerMessage.FromString(await client.next_message("control"))
    assert goodbye.kind == NOTIFICATION
    assert goodbye.session_ended.reason == "stopping for maintenance"


async def test_pause_stops_a_track_for_this_viewer_and_resume_restarts_it(
    make_peer, make_client, wait_until
):
    client = make_client(labels=("data", "control"))
    peer = make_peer(family="v1")
    await client.connect(peer)
    await client.wait_open()
    await client.wait_frames("main_video", 3)
    track = peer.outbound["main_video"]

    def control(**payload) -> bytes:
        return control_pb2.ControlClientMessage(kind=NOTIFICATION, **payload).SerializeToString()

    client.channels["control"].send(control(pause_track=track_pb2.PauseTrack(name="main_video")))
    await wait_until(lambda: track.paused)
    sent = track.sent
    audio = len(client.frames["main_audio"])
    await client.wait_frames("main_audio", audio + 10)
    assert track.sent == sent, "no video goes out while paused"
    client.channels["control"].send(control(resume_track=track_pb2.ResumeTrack(name="main_video")))
    seen = len(client.frames["main_video"])
    await client.wait_frames("main_video", seen + 5)
