"""Fan-out through `reactor run`: several of our clients on 127.0.0.1 watch one session.

The runtime encodes each paced picture once per codec, whatever the number of viewers
(`MediaHub`), and a viewer joining mid-stream is sent a keyframe at once. These tests
read the hub's counters from `/health` ("media": hub frames, per-track `encoded`,
`skipped`, `keyframes`, `subscribers`) while real aiortc clients receive.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Iterator
from typing import Any

import pytest
from client.served import CONFORMANCE_MODEL, Served, reactor_run

from reactor_runtime.client import ClientSession, connect

VIEWERS = 4
WINDOW_FRAMES = 45
"""Frames every viewer must receive in the counted window (1.5 s at 30 fps)."""


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    with reactor_run(CONFORMANCE_MODEL) as server:
        yield server


def media(served: Served) -> dict[str, Any]:
    return served.health()["media"]


async def connect_many(stack: contextlib.AsyncExitStack, url: str, n: int) -> list[ClientSession]:
    """`n` viewers connecting at the same time (closed when `stack` exits)."""
    return list(await asyncio.gather(*(stack.enter_async_context(connect(url)) for _ in range(n))))


async def receive(session: ClientSession, frames: int, chunks: int, timeout: float = 10) -> None:
    """Wait until `session` has decoded `frames` more pictures and `chunks` audio chunks."""
    video, audio = session.video(), session.audio()
    async with asyncio.timeout(timeout):
        for _ in range(frames):
            await video.next()
        for _ in range(chunks):
            await audio.next()


async def test_four_viewers_receive_media_encoded_once_per_codec_not_once_per_viewer(served):
    async with contextlib.AsyncExitStack() as stack:
        sessions = await connect_many(stack, served.url, VIEWERS)
        await asyncio.gather(*(receive(s, 5, 10) for s in sessions))
        before = await asyncio.to_thread(media, served)
        assert before["subscribers"]["main_video/vp8"] == VIEWERS
        assert before["subscribers"]["main_audio"] == VIEWERS
        await asyncio.gather(*(receive(s, WINDOW_FRAMES, 50) for s in sessions))
        after = await asyncio.to_thread(media, served)
        stats = [await s.stats() for s in sessions]
    paced = after["frames"] - before["frames"]
    video0, video1 = before["video"]["main_video"], after["video"]["main_video"]
    encoded = video1["encoded"] - video0["encoded"]
    assert paced >= WINDOW_FRAMES - 5
    # Once per paced frame (the encoder may skip a picture under load, never repeat one);
    # once per viewer would read ~4x.
    assert paced * 0.8 <= encoded <= paced + 1, (paced, encoded, after)
    assert video1["codecs"] == ["vp8"]
    for counters in stats:
        assert counters["main_video"]["frames"] >= WINDOW_FRAMES
        assert counters["main_audio"]["max_abs_sample"] > 4000  # the tone, not silence


async def test_a_viewer_joining_mid_stream_decodes_its_first_frame_within_a_second(served):
    async with contextlib.AsyncExitStack() as stack:
        watching = await connect_many(stack, served.url, VIEWERS - 1)
        await asyncio.gather(*(receive(s, 30, 0) for s in watching))
        keyframes = media(served)["video"]["main_video"]["keyframes"]["vp8"]
        late = await stack.enter_async_context(connect(served.url, audio=False))
        ready = time.time()
        # The reader starts with the connection, so a frame may beat our subscription:
        # the track's counters hold the first arrival either way.
        await late.video().next(timeout=5)
        first = (await late.stats())["main_video"]["first_at"]
        after = media(served)["video"]["main_video"]["keyframes"]["vp8"]
    assert first - ready < 1.0, f"first frame {first - ready:.3f} s after connecting"
    assert after > keyframes, "no keyframe was sent for the joining viewer"


async def test_a_viewer_leaving_does_not_disturb_the_others(served):
    async with contextlib.AsyncExitStack() as stack:
        sessions = await connect_many(stack, served.url, VIEWERS)
        await asyncio.gather(*(receive(s, 10, 0) for s in sessions))
        leaving, staying = sessions[0], sessions[1:]
        streams = [s.video() for s in staying]
        await leaving.close()
        left = time.monotonic()

        async def gaps(stream: Any) -> list[float]:
            arrivals = [left]
            for _ in range(30):
                await stream.next(timeout=5)
                arrivals.append(time.monotonic())
            return [b - a for a, b in itertools.pairwise(arrivals)]

        per_viewer = await asyncio.gather(*(gaps(s) for s in streams))
        viewers = await asyncio.to_thread(
            served.wait_health, lambda h: h["viewers"] == VIEWERS - 1, 5
        )
    for intervals in per_viewer:
        # 30 frames at 30 fps, and never a stall longer than a few frame times.
        assert sum(intervals) < 2.0, intervals
        assert max(intervals) < 0.3, intervals
    assert viewers["media"]["subscribers"]["main_video/vp8"] == VIEWERS - 1
