"""The seed's playback model served by `reactor run` on 127.0.0.1, watched by our client.

aiortc on both ends: the server adds a 127.0.0.1 host candidate and our client gathers
on 127.0.0.1 only, so no network namespace is needed.
"""

from __future__ import annotations

import httpx
import numpy as np
import pytest
from client.served import PLAYBACK_MODEL, reactor_run

from reactor_runtime.client import connect


@pytest.fixture(scope="module")
def served():
    with reactor_run(PLAYBACK_MODEL) as server:
        yield server


async def test_the_playback_model_streams_its_sample_to_our_client(served):
    async with connect(served.url) as session:
        video, audio = session.video(), session.audio()
        frames = [await video.next(timeout=10) for _ in range(15)]
        chunks = [await audio.next(timeout=10) for _ in range(100)]
    assert {(f.width, f.height) for f in frames} == {(640, 360)}
    assert frames[0].array.shape == (360, 640, 3)
    assert frames[-1].pts > frames[0].pts
    assert all(c.dtype == np.int16 for c in chunks)
    # Two seconds of the sample's soundtrack: clearly not silence.
    assert max(int(np.abs(c).max()) for c in chunks) > 1000


async def test_pause_and_play_are_acknowledged_by_messages(served):
    async with connect(served.url, video=False) as session:
        mark = len(session.message_log)
        assert await session.command("pause") is None
        await session.wait_message("playback_paused", since=mark, timeout=5)
        mark = len(session.message_log)
        assert await session.command("play") is None
        await session.wait_message("playback_started", since=mark, timeout=5)


async def test_the_server_sees_the_viewer_leave_within_five_seconds(served):
    async with connect(served.url) as session:
        await session.video().next(timeout=10)
        assert served.health()["viewers"] == 1
    served.wait_health(lambda h: h["viewers"] == 0, timeout=5)


def _samples(text: str, name: str) -> dict[str, float]:
    """Every sample of metric `name` in a Prometheus text page, by its label string."""
    out = {}
    for line in text.splitlines():
        if line.startswith(name + "{"):
            labels, value = line[len(name) :].rsplit(" ", 1)
            out[labels] = float(value)
    return out


async def test_metrics_count_what_the_hub_encoded_per_track_and_codec(served):
    async with connect(served.url) as session:
        for _ in range(10):
            await session.video().next(timeout=10)
        text = httpx.get(f"{served.url}/metrics", timeout=5).text
    encoded = _samples(text, "reactor_video_pictures_encoded_total")
    assert encoded['{track="main_video"}'] >= 10
    assert _samples(text, "reactor_video_keyframes_total")['{codec="vp8",track="main_video"}'] >= 1
    assert (
        _samples(text, "reactor_video_encoded_bytes_total")['{codec="vp8",track="main_video"}']
        > 1000
    )
    assert _samples(text, "reactor_audio_packets_total")['{track="main_audio"}'] > 0
    assert _samples(text, "reactor_track_subscribers")['{track="main_video/vp8"}'] == 1
    assert '{step="encode",track="main_video"}' in _samples(text, "reactor_video_picture_ms")
