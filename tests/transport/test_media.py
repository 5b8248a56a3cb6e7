"""Media over real aiortc peers: the answer, outbound video/audio, inbound webcam, fan-out."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import threading
import time
from pathlib import Path

import av
import numpy as np
import pytest

from reactor_runtime import Audio, Input, ReactorModel
from reactor_runtime.media.input_buffer import FIFO
from reactor_runtime.session import Session
from reactor_runtime.transport import MediaHub, ViewerPeer


async def test_the_answer_keeps_mids_in_order_with_one_stream_and_inline_candidates(
    make_peer, make_client
):
    client = make_client(webcam=True, labels=("data", "control"))
    peer = make_peer()
    offer = await client.offer()
    answer = await peer.answer(offer, client.mapping)

    def mids(sdp: str) -> list[str]:
        return re.findall(r"^a=mid:(\S+)", sdp, re.M)

    assert mids(answer) == mids(offer)
    sections = answer.split("\r\nm=")[1:]
    directions = [re.search(r"a=(sendonly|recvonly|sendrecv|inactive)", s) for s in sections]
    assert [d.group(1) if d else None for d in directions] == [
        "sendonly",
        "sendonly",
        "recvonly",
        None,
    ]
    streams = {m.split()[0] for m in re.findall(r"^a=msid:(.+)$", answer, re.M)}
    assert len(streams) == 1, "all outbound tracks share one msid stream (lip-sync)"
    assert "a=candidate:" in answer and "127.0.0.1" in answer
    size = int(re.search(r"a=max-message-size:(\d+)", answer).group(1))
    assert size >= 262144
    assert "x-reactor" not in answer
    video = sections[0]
    first_codec = re.search(r"a=rtpmap:\d+ (\S+)/", video).group(1)
    assert first_codec == "VP8"


async def test_video_and_audio_arrive_with_their_sizes_and_contiguous_audio_pts(
    make_peer, make_client
):
    client = make_client()
    peer = make_peer()
    await client.connect(peer)
    video = await client.wait_frames("main_video", 10)
    audio = await client.wait_frames("main_audio", 30)
    assert peer.state == "connected"
    assert (video[-1].width, video[-1].height) == (160, 120)
    assert all(f.samples == 960 and f.sample_rate == 48_000 for f in audio)
    steps = {b.pts - a.pts for a, b in itertools.pairwise(audio)}
    assert steps == {960}, f"audio pts must advance 960 per packet, saw steps {steps}"
    tone = audio[-1].to_ndarray()
    assert abs(tone).max() > 1000, "the model's tone arrives, not silence"


async def test_audio_stays_continuous_through_a_model_stall(hub, make_peer, make_client):
    client = make_client()
    peer = make_peer()
    await client.connect(peer)
    await client.wait_open()
    await client.wait_frames("main_audio", 10)
    client.channels["data"].send(
        json.dumps(
            {"scope": "application", "data": {"type": "stall_for", "data": {"seconds": 0.5}}}
        )
    )
    seen = len(client.frames["main_audio"])
    await client.wait_frames("main_audio", seen + 60)
    audio = client.frames["main_audio"]
    assert {b.pts - a.pts for a, b in itertools.pairwise(audio)} == {960}
    assert hub.stats()["audio"]["main_audio"]["silence_samples"] > 10_000


async def test_inbound_webcam_and_mic_reach_the_session_inputs(
    session, make_peer, make_client, wait_until
):
    client = make_client(webcam=True, mic=True)
    peer = make_peer()
    await client.connect(peer)
    webcam, mic = session.inputs.webcam, session.inputs.mic
    await wait_until(lambda: webcam.received >= 5 and mic.received >= 10, timeout=10)
    frame = webcam.try_read()
    assert frame.data.shape == (120, 160, 3) and frame.data.dtype.name == "uint8"
    assert abs(int(frame.data[60, 80, 1]) - 90) < 12
    sound = mic.try_read()
    assert sound.data.dtype.name == "int16" and sound.data.shape == (1, 960), "mono, 20 ms"
    assert np.abs(sound.data).max() > 1000 and sound.pts is not None
    assert peer.hub.input_owner("webcam") == "viewer-1"
    await client.close()
    await wait_until(lambda: webcam.closed and mic.closed, timeout=6)
    assert peer.hub.input_owner("webcam") is None


async def test_two_viewers_get_frames_from_one_encode(
    session, hub, make_peer, make_client, wait_until
):
    first, second = make_client(), make_client()
    await first.connect(make_peer("viewer-1"))
    await second.connect(make_peer("viewer-2"))
    await first.wait_frames("main_video", 15)
    await second.wait_frames("main_video", 15)
    stats = hub.stats()["video"]["main_video"]
    assert stats["codecs"] == ["vp8"]
    # One encode per paced frame, however many viewers watch.
    assert stats["encoded"] + stats["skipped"] <= hub.frames
    assert hub.stats()["subscribers"]["main_video/vp8"] == 2


async def test_h264_is_sent_when_preferred_and_offered(session, make_peer, make_client):
    h264_hub = MediaHub(session, video_codec="h264")
    h264_hub.start()
    try:
        client = make_client()
        answer = await client.connect(make_peer(hub=h264_hub))
        video = answer.split("\r\nm=")[1]
        assert re.search(r"a=rtpmap:\d+ (\S+)/", video).group(1) == "H264"
        frames = await client.wait_frames("main_video", 5)
        assert (frames[-1].width, frames[-1].height) == (160, 120)
    finally:
        h264_hub.stop()


async def test_candidates_trickled_before_the_offer_are_applied_after_it(make_peer, make_client):
    client = make_client()
    peer = make_peer()
    offer = await client.offer(strip_candidates=True)
    await peer.add_candidates([*client.candidates(), {"candidate": "garbage"}, 7], is_final=False)
    await peer.add_candidates([], is_final=True)
    await client.accept(await peer.answer(offer, client.mapping))
    await client.wait_frames("main_video", 3)
    ice = peer.pc.getTransceivers()[0].receiver.transport.transport
    trickled = {
        c.split()[4] + ":" + c.split()[5] for c in (e["candidate"] for e in client.candidates())
    }
    remote = {f"{c.ip}:{c.port}" for c in ice.getRemoteCandidates()}
    assert trickled and trickled <= remote, "each candidate applied once, duplicates per mid merged"
    assert len(ice.getRemoteCandidates()) == len(trickled)


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda offer, mapping: ("not sdp", mapping), "sdp_offer"),
        (lambda offer, mapping: (offer, {"mid": "0"}), "track_mapping"),
        (lambda offer, mapping: (offer, [{**mapping[0], "mid": "9"}, mapping[1]]), "mid"),
        (lambda offer, mapping: (offer, [{**mapping[0], "name": "nope"}, mapping[1]]), "name"),
        (lambda offer, mapping: (offer, [{**mapping[0], "kind": "audio"}, mapping[1]]), "kind"),
        (lambda offer, mapping: (offer, mapping[:1]), "no entry"),
        (lambda offer, mapping: (offer.replace("a=group:BUNDLE", "a=x"), mapping), "BUNDLE"),
    ],
)
async def test_a_malformed_offer_or_mapping_is_refused_naming_the_field(
    make_peer, make_client, mutate, field
):
    client = make_client()
    offer = await client.offer()
    peer = make_peer()
    bad_offer, bad_mapping = mutate(offer, client.mapping)
    with pytest.raises(ValueError, match=field):
        await peer.answer(bad_offer, bad_mapping)
    assert peer.state == "closed"


class _Listener:
    """An audio subscriber that records when each packet reaches it."""

    name = "main_audio"
    kind = "audio"
    codec = None

    def __init__(self) -> None:
        self.arrivals: list[tuple[float, int]] = []
        self.enough = asyncio.Event()

    def push(self, packet: av.Packet) -> None:
        self.arrivals.append((time.monotonic(), packet.pts))
        if len(self.arrivals) >= 40:
            self.enough.set()


async def test_each_audio_packet_leaves_when_its_audio_is_presented_not_in_frame_bursts(
    session, hub
):
    listener = _Listener()
    hub.subscribe(listener)
    await session.viewer_joined("viewer-1")
    await asyncio.wait_for(listener.enough.wait(), 10)
    lateness = [
        arrived - hub.media_clock.monotonic(pts + 960) for arrived, pts in listener.arrivals[5:]
    ]
    assert min(lateness) >= -0.002, f"a packet left before its audio ended: {min(lateness):.4f} s"
    gaps = sorted(b - a for (a, _), (b, _) in itertools.pairwise(listener.arrivals[5:]))
    median_gap = gaps[len(gaps) // 2]
    assert 0.015 <= median_gap <= 0.025, f"packets 20 ms apart, median gap {median_gap:.4f} s"


class Mic16k(Audio):
    sample_rate = 16_000
    buffer_seconds = 2.0


class Ears(Input):
    mic: Mic16k


class Listener(ReactorModel):
    """A 3.x model reading one second of its 16 kHz microphone input."""

    input_type = Ears
    ears: Ears

    def load(self, config_path: Path | None) -> None:
        self.heard: list[np.ndarray] = []
        self.done = threading.Event()

    async def run(self) -> None:
        await self.connected.wait()
        frames = await self.ears.mic.read(50, timeout=10, mode=FIFO)
        self.heard = [f.data for f in frames]
        self.done.set()
        await asyncio.Event().wait()


async def test_a_3x_audio_input_declaring_16_khz_reads_16_khz_with_the_tone_kept(make_client):
    session = Session(Listener)
    await session.start()
    hub = MediaHub(session)
    hub.start()
    peer = ViewerPeer(session, hub, viewer_id="viewer-1", family="v1")
    try:
        client = make_client(outputs=(), mic=True)
        await client.connect(peer)
        model = session.model
        assert await asyncio.to_thread(model.done.wait, 10), "50 frames within 10 s"
        # 20 ms Opus frames arrive as 20 ms of 16 kHz audio: 320 samples each.
        assert {chunk.shape for chunk in model.heard[1:]} == {(1, 320)}
        sound = np.concatenate(model.heard, axis=1)[0].astype(np.float64)
        spectrum = np.abs(np.fft.rfft(sound * np.hanning(sound.size)))
        peak = np.fft.rfftfreq(sound.size, 1 / 16_000)[spectrum.argmax()]
        assert abs(peak - 440) < 5, f"the 440 Hz tone came out at {peak:.1f} Hz"
        # Chunks join without a click: no sample-to-sample step beyond the tone's own.
        assert np.abs(np.diff(sound[320:])).max() < 2 * np.pi * 440 / 16_000 * 6000 * 1.3
    finally:
        await peer.close("test over")
        hub.stop()
        await session.stop()
