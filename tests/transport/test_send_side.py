"""transport-cc: answered when offered, every video packet numbered as it leaves, the
viewer's feedback read back into its tracks' estimates.

The client is a real aiortc peer whose offer gets the two lines libwebrtc clients
write (the extension and ``a=rtcp-fb:<pt> transport-cc``); it numbers nothing itself,
so the test plays the viewer's part: it reads the numbers off the packets it receives
and sends transport-cc feedback about them over its own (SRTCP) transport.
"""

from __future__ import annotations

import re
import time

from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from aiortc.rtp import RtpPacket
from transport.fake_clock import Clock
from transport.test_header_extensions import extensions, record_rtp

from reactor_runtime.transport.header_extensions import SenderExtensionMap
from reactor_runtime.transport.rate_control import ViewerEstimate
from reactor_runtime.transport.send_side import SendSideBandwidth
from reactor_runtime.transport.transport_feedback import TRANSPORT_CC_URI, build_feedback

OFFERED_ID = 4  # Chromium's id for transport-cc


def offer_transport_cc(offer: str, feedback: bool = True) -> str:
    """`offer` with transport-cc offered on its video section, as libwebrtc writes it."""
    head, video, *rest = re.split(r"(?=^m=)", offer, flags=re.M)
    assert video.startswith("m=video")
    lines = f"a=extmap:{OFFERED_ID} {TRANSPORT_CC_URI}\r\n"
    if feedback:
        for pt in re.findall(r"^a=rtpmap:(\d+) VP8/90000", video, flags=re.M):
            lines += f"a=rtcp-fb:{pt} transport-cc\r\n"
    return head + video.replace("a=mid:", lines + "a=mid:", 1) + "".join(rest)


def numbers(packets: list[bytes]) -> list[int]:
    """The transport-wide numbers the packets carry, in arrival order."""
    found = [extensions(p).get(OFFERED_ID) for p in packets]
    return [int.from_bytes(n, "big") for n in found if n is not None]


async def test_an_offered_transport_cc_is_answered_numbered_and_its_feedback_drives_the_estimate(
    make_peer, make_client, wait_until
):
    client = make_client(outputs=(("main_video", "video"),), labels=())
    peer = make_peer()
    answer = await peer.answer(offer_transport_cc(await client.offer()), client.mapping)
    assert f"a=extmap:{OFFERED_ID} {TRANSPORT_CC_URI}" in answer
    assert re.search(r"^a=rtcp-fb:\d+ transport-cc", answer, flags=re.M)
    packets = record_rtp(client)
    arrivals: dict[int, float] = {}
    await client.accept(answer)
    await client.wait_frames("main_video", 10)
    seen = numbers(packets)
    assert len(seen) == len(packets), "every video packet is numbered"
    assert sorted(seen) == list(range(min(seen), min(seen) + len(seen))), "no gaps"

    # The viewer's part: every packet reported received, 1 ms apart.
    now = time.monotonic()
    for i, seq in enumerate(seen):
        arrivals[seq] = now + i / 1000
    base = min(seen)
    feedback = build_feedback(
        1, 0, base, 0, 64_000, [round((arrivals[s] - now) * 1e6) for s in sorted(arrivals)]
    )
    transport = next(iter(client.pc.getTransceivers())).receiver.transport
    await transport._send_rtp(feedback)  # an RTCP packet type: sent as SRTCP
    send_side = peer.send_side
    assert send_side is not None
    await wait_until(lambda: send_side.feedbacks == 1)
    track = peer.outbound["main_video"]
    assert track.estimate.delay_based == send_side.value is not None
    assert track.estimate.value is not None
    assert send_side.stats()["history"]["reported"] == len(seen)
    assert peer.hub.loss.transport_feedbacks == 1


async def test_a_viewer_that_offers_only_half_of_transport_cc_keeps_remb(make_peer, make_client):
    client = make_client(outputs=(("main_video", "video"),), labels=())
    peer = make_peer()
    offer = offer_transport_cc(await client.offer(), feedback=False)
    answer = await peer.answer(offer, client.mapping)
    assert TRANSPORT_CC_URI not in answer and "transport-cc" not in answer
    assert peer.send_side is None
    packets = record_rtp(client)
    await client.accept(answer)
    await client.wait_frames("main_video", 3)
    assert packets and not numbers(packets)


def placeholder_packet(seq: int) -> bytes:
    """An RTP packet as a transport-cc sender serializes it (number 0 under id 4)."""
    extension_map = SenderExtensionMap()
    extension_map.configure(
        RTCRtpParameters(
            headerExtensions=[RTCRtpHeaderExtensionParameters(id=OFFERED_ID, uri=TRANSPORT_CC_URI)]
        )
    )
    packet = RtpPacket(payload_type=96, sequence_number=seq, timestamp=90_000)
    packet.payload = bytes(1000)
    return packet.serialize(extension_map)


def test_a_malformed_feedback_is_counted_and_changes_nothing():
    clock = Clock()
    send_side = SendSideBandwidth(2_500_000, 300_000, 10_000_000, clock=clock)
    estimate = ViewerEstimate()
    send_side.add(estimate)
    for seq in range(5):
        send_side.stamp(placeholder_packet(seq), OFFERED_ID)
        clock.now += 0.005
    good = build_feedback(1, 0, 0, 0, 64_000, [0, 5000, 10_000, 15_000, 20_000])
    broken = good[:-6]  # its length field now points past the end
    send_side.on_rtcp(broken)
    assert (send_side.malformed, send_side.feedbacks, estimate.delay_based) == (0, 0, None)
    # A whole packet whose content is wrong: its status count exceeds what it holds.
    lying = good[:14] + (200).to_bytes(2, "big") + good[16:]
    send_side.on_rtcp(lying)
    assert send_side.malformed == 1 and estimate.delay_based is None
    send_side.on_rtcp(good)
    assert send_side.feedbacks == 1 and estimate.delay_based == send_side.value


def test_a_packet_without_the_placeholder_is_sent_unnumbered_and_takes_no_number():
    send_side = SendSideBandwidth(2_500_000, 300_000, 10_000_000, clock=Clock())
    bare = RtpPacket(payload_type=96, sequence_number=1, timestamp=0).serialize()
    assert send_side.stamp(bare, OFFERED_ID) is bare
    stamped = send_side.stamp(placeholder_packet(2), OFFERED_ID)
    assert extensions(stamped)[OFFERED_ID] == b"\x00\x00"
    assert extensions(send_side.stamp(placeholder_packet(3), OFFERED_ID))[OFFERED_ID] == (
        b"\x00\x01"
    )
    assert send_side.unnumbered == 1


def test_a_path_that_collapses_under_the_stream_restarts_its_senders():
    clock = Clock()
    send_side = SendSideBandwidth(8_000_000, 300_000, 10_000_000, clock=clock)
    restarted: list[float] = []
    send_side.add(ViewerEstimate(), lambda: restarted.append(clock.now))
    # 8 Mbit/s sent (1200 B a ms) into a path that now carries 2: each packet
    # arrives 4.8 ms after the one before, the queue grows 3.8 ms a packet.
    for batch in range(4):
        arrivals = []
        for i in range(60):
            seq = batch * 60 + i
            send_side.stamp(placeholder_packet(seq), OFFERED_ID)
            arrivals.append(round(seq * 4_800))
            clock.now += 0.001
        clock.now += 0.05  # the feedback comes back
        send_side.on_rtcp(build_feedback(1, 0, batch * 60, batch, 64_000, arrivals))
        if restarted:
            break
    assert restarted, send_side.stats()
    assert send_side.collapses == 1 and send_side.value < 4_000_000
