"""Frame metadata between real aiortc peers: trailers when declared, messages when asked.

The module's `session` serves `TaggedModel`: frame N is painted gray `shade(N)` and
emitted with `TrackPayload(picture, metadata={"n": N})`, so a test can tell that a
tag arrived with its own frame.
"""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from reactor_runtime import Output, ReactorModel, TrackPayload, Video
from reactor_runtime.server.metrics import media_metrics
from reactor_runtime.session import Session
from reactor_runtime.transport import MediaHub
from reactor_runtime.transport.frame_metadata import SDP_LINE, with_declaration
from reactor_runtime.transport.metadata_sender import MESSAGES_SDP_LINE
from reactor_runtime.transport.trailer_reader import TrailerReader


def shade(n: int) -> int:
    return 40 + n * 4 % 160


class Tagged(Output):
    main_video: Video


class TaggedModel(ReactorModel):
    fps = 30
    output_type = Tagged

    def load(self, config: dict) -> None:
        self.n = 0

    async def run(self) -> None:
        while True:
            await self.connected.wait()
            self.n += 1
            picture = np.full((48, 64, 3), shade(self.n), np.uint8)
            await self.emit(Tagged(main_video=TrackPayload(picture, metadata={"n": self.n})))


@pytest.fixture
async def session():
    session = Session(TaggedModel, name="tagged")
    await session.start()
    try:
        yield session
    finally:
        await session.stop()


async def connect(client, peer, declaration: str | None) -> tuple[str, TrailerReader]:
    offer = await client.offer()
    if declaration is not None:
        offer = with_declaration(offer, declaration)
    answer = await peer.answer(offer, client.mapping)
    reader = TrailerReader("main_video")
    reader.install(client.pc.getTransceivers()[0].receiver)
    await client.accept(answer)
    return answer, reader


def level(frame) -> int:
    return round(float(frame.to_ndarray(format="rgb24").mean()))


async def test_a_declared_offer_is_echoed_and_each_frame_carries_its_own_tag(
    hub, make_peer, make_client
):
    client = make_client(outputs=(("main_video", "video"),))
    answer, reader = await connect(client, make_peer(family="v1"), SDP_LINE)
    assert SDP_LINE in answer.split("\r\nm=")[0]
    frames = list(await client.wait_frames("main_video", 15))
    tags = [(reader.take(f.pts), level(f)) for f in frames]
    assert all(meta is not None for meta, _ in tags), "every frame gets a trailer"
    numbers = [json.loads(meta.user_data)["n"] for meta, _ in tags]
    assert all(abs(lv - shade(n)) <= 3 for n, (_, lv) in zip(numbers, tags, strict=True)), tags
    assert [meta.frame_id for meta, _ in tags] == list(range(1, len(tags) + 1))
    assert hub.stats()["frame_metadata"]["trailers_sent"] >= len(tags)


async def test_an_undeclared_offer_is_not_echoed_and_its_frames_carry_no_trailer(
    make_peer, make_client
):
    client = make_client(outputs=(("main_video", "video"),))
    answer, reader = await connect(client, make_peer(family="v1"), None)
    assert "x-reactor-frame-metadata" not in answer
    await client.wait_frames("main_video", 15)
    assert reader.stats() == {"received": 0, "dropped": 0}


async def test_a_page_that_asks_gets_each_frame_s_tag_under_its_rtp_timestamp(
    hub, make_peer, make_client
):
    client = make_client(outputs=(("main_video", "video"),))
    stamps: list[int] = []
    offer = with_declaration(await client.offer(), MESSAGES_SDP_LINE)
    receiver = client.pc.getTransceivers()[0].receiver
    handle = receiver._handle_rtp_packet

    async def seen(packet, arrival_time_ms):
        stamps.append(packet.timestamp)
        await handle(packet, arrival_time_ms)

    receiver._handle_rtp_packet = seen
    peer = make_peer(family="v0")
    answer = await peer.answer(offer, client.mapping)
    assert MESSAGES_SDP_LINE in answer and SDP_LINE not in answer
    await client.accept(answer)
    frames = await client.wait_frames("main_video", 15)
    # aiortc counts a decoded frame's pts from the first frame's RTP timestamp.
    levels = {(f.pts + stamps[0]) % (1 << 32): level(f) for f in list(frames)}
    tags = []
    while len(tags) < 10:
        envelope = json.loads(await client.next_message("data"))
        if envelope["data"]["type"] == "frameMetadata":
            tags.append(envelope["data"]["data"])
    for tag in tags:
        n = json.loads(base64.b64decode(tag["metadata"]))["n"]
        assert tag["track"] == "main_video"
        assert tag["rtp_timestamp"] in stamps
        if tag["rtp_timestamp"] in levels:
            assert abs(levels[tag["rtp_timestamp"]] - shade(n)) <= 3, (tag, n)
    matched = [t for t in tags if t["rtp_timestamp"] in levels]
    assert len(matched) >= 5
    assert hub.stats()["frame_metadata"]["messages_sent"] >= len(tags)


async def test_an_h264_viewer_that_declared_trailers_gets_none_and_each_is_counted_dropped(
    session, make_peer, make_client
):
    h264_hub = MediaHub(session, video_codec="h264")
    h264_hub.start()
    try:
        client = make_client(outputs=(("main_video", "video"),))
        answer, reader = await connect(client, make_peer(family="v1", hub=h264_hub), SDP_LINE)
        assert "H264" in answer
        frames = list(await client.wait_frames("main_video", 10))
        # The pictures are intact (nothing appended to the last NAL unit): flat gray.
        pictures = [f.to_ndarray(format="rgb24") for f in frames]
        assert all(p.std() < 4 and 36 <= p.mean() <= 204 for p in pictures)
        assert reader.stats() == {"received": 0, "dropped": 0}
        counters = h264_hub.stats()["frame_metadata"]
        assert counters["trailers_sent"] == 0
        assert counters["trailers_dropped_h264"] >= len(frames)
        exposed = {
            sample.labels["event"]: sample.value
            for family in media_metrics(h264_hub.stats())
            if family.name == "reactor_frame_metadata"
            for sample in family.samples
        }
        assert exposed["trailers_dropped_h264"] >= len(frames)
    finally:
        h264_hub.stop()
