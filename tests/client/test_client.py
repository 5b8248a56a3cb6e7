"""`reactor_runtime.client` against a real `reactor run` of the conformance model."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from reactor_runtime.client import CommandFailed, ConnectError, connect


async def test_connect_returns_the_descriptor_and_a_minted_connection_id(served):
    async with connect(served.url) as session:
        assert session.descriptor["session_id"] == "00000000-0000-0000-0000-000000000000"
        names = [t["name"] for t in session.tracks()]
        assert names == ["main_video", "main_audio", "webcam"]
        assert 1002 <= session.connection_id <= 9999
        assert not session.closed


async def test_video_frames_are_rgb_arrays_with_increasing_pts(served):
    async with connect(served.url, audio=False) as session:
        frames = session.video()
        got = [await frames.next(timeout=10) for _ in range(10)]
    first = got[0]
    assert first.array.shape == (240, 320, 3) and first.array.dtype == np.uint8
    assert first.luma.shape == (240, 320)
    assert (first.width, first.height) == (320, 240)
    pts = [f.pts for f in got]
    assert pts == sorted(pts) and pts[-1] > pts[0]
    assert abs(got[-1].received_at - time.time()) < 10
    # The picture moves: consecutive frames differ.
    assert np.abs(got[-1].array.astype(int) - got[-2].array.astype(int)).mean() > 1


async def test_audio_is_int16_at_48k_and_carries_the_tone(served):
    async with connect(served.url, video=False) as session:
        chunks = session.audio()
        got = [await chunks.next(timeout=10) for _ in range(50)]
        stats = await session.stats()
    assert all(c.dtype == np.int16 and c.ndim == 2 for c in got)
    assert sum(c.shape[1] for c in got) == 50 * 960
    assert max(int(np.abs(c).max()) for c in got) > 4000
    assert stats["main_audio"]["max_abs_sample"] > 4000
    assert "main_video" not in stats


async def test_a_command_returns_the_reply_the_handler_returned(served):
    async with connect(served.url, video=False, audio=False) as session:
        assert await session.command("echo", text="a forest") == ("echoed", {"text": "a forest"})


async def test_a_command_without_reply_returns_none_and_its_broadcast_arrives(served):
    async with connect(served.url, video=False, audio=False) as session:
        mark = len(session.message_log)
        messages = session.messages()
        assert await session.command("shout", text="hey") is None
        assert await session.wait_message("shouted", since=mark) == {"text": "hey"}
        async for kind, data in messages:
            if kind == "shouted":
                assert data == {"text": "hey"}
                break


async def test_a_failing_handler_raises_command_failed_with_the_model_code(served):
    async with connect(served.url, video=False, audio=False) as session:
        with pytest.raises(CommandFailed) as failed:
            await session.command("fail")
        assert failed.value.code == "refused"
        assert failed.value.message == "this command always fails"
        with pytest.raises(CommandFailed) as unknown:
            await session.command("no_such_command")
        assert unknown.value.code == "invalid_command"
        with pytest.raises(CommandFailed) as invalid:
            await session.command("echo", text="x" * 500)
        assert invalid.value.code == "invalid_command"


async def test_schema_returns_the_openapi_document(served):
    async with connect(served.url, video=False, audio=False) as session:
        schema = await session.schema()
    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"] == "conformance"


async def test_ticks_arrive_on_the_messages_iterator(served):
    async with connect(served.url, video=False) as session:
        messages = session.messages()
        kind, data = await messages.next(timeout=5)
        while kind != "tick":
            kind, data = await messages.next(timeout=5)
        assert isinstance(data["frame"], int)


async def _webcam(n: int):
    for i in range(n):
        picture = np.full((120, 160, 3), 200, np.uint8)
        picture[:, (i * 4) % 160] = 0
        yield picture
        await asyncio.sleep(1 / 30)


async def test_published_webcam_frames_reach_the_model(served):
    async with connect(served.url, video=False, audio=False, publish=["webcam"]) as session:
        mark = len(session.message_log)
        await session.publish("webcam", _webcam(90))
        seen = await session.wait_message("webcam_seen", since=mark, timeout=10)
        assert (seen["width"], seen["height"]) == (160, 120)
        assert 150 < seen["mean"] < 230
        deadline = time.monotonic() + 10
        while (stats := await session.command("webcam_stats"))[1]["frames"] < 20:
            assert time.monotonic() < deadline, stats
            await asyncio.sleep(0.1)
        await session.publish("webcam", None)


async def test_publishing_a_track_that_is_not_an_input_fails_at_connect(served):
    with pytest.raises(ValueError, match="not input tracks"):
        await connect(served.url, publish=["main_video"])
    async with connect(served.url, video=False, audio=False) as session:
        with pytest.raises(ValueError, match="was not offered"):
            await session.publish("webcam", _webcam(1))


async def test_trickled_candidates_connect_as_the_official_sdk_does(served):
    async with connect(served.url, audio=False, trickle=True) as session:
        frame = await session.video().next(timeout=10)
        assert frame.array.shape == (240, 320, 3)


async def test_asking_for_an_unreceived_track_says_which_are_received(served):
    async with connect(served.url, audio=False) as session:
        with pytest.raises(ValueError, match="audio=True"):
            session.audio()
        with pytest.raises(ValueError, match="main_video"):
            session.video("other")


async def test_two_viewers_both_receive_video(served):
    async with connect(served.url, audio=False) as one, connect(served.url, audio=False) as two:
        a, b = one.video(), two.video()
        await asyncio.gather(a.next(timeout=10), b.next(timeout=10))
        assert served.health()["viewers"] == 2


async def test_close_ends_the_iterators_and_the_viewer_leaves(served):
    session = await connect(served.url)
    frames = session.video()
    await frames.next(timeout=10)
    await session.close()
    assert session.closed
    with pytest.raises(EOFError):
        while True:
            await frames.next(timeout=5)
    with pytest.raises(ConnectionError):
        await session.command("echo", text="late")
    served.wait_health(lambda h: h["viewers"] == 0, timeout=5)


async def test_close_with_stop_session_ends_the_session(served):
    async with connect(served.url, video=False, audio=False, stop_session=True):
        assert served.health()["state"] == "STREAMING"
    served.wait_health(lambda h: h["state"] == "READY", timeout=5)


async def test_an_unreachable_runtime_raises_connect_error_quickly():
    started = time.monotonic()
    with pytest.raises(ConnectError, match="start_session"):
        await connect("http://127.0.0.1:9", timeout=5)
    assert time.monotonic() - started < 3


async def test_a_stopped_session_ends_the_connection_with_its_reason(served):
    async with connect(served.url, video=False, audio=False) as watcher:
        async with connect(served.url, video=False, audio=False, stop_session=True):
            pass
        await watcher.wait_closed(timeout=5)
        assert watcher.closed
        assert watcher.end_reason == "the session was stopped"
