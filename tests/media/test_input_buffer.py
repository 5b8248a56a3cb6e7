import asyncio
import threading

import numpy as np
import pytest

from reactor_runtime import FIFO, LATEST, InputClosed, InputFrame
from reactor_runtime.media.input_buffer import InputBuffer, Inputs


def push(buf: InputBuffer, *values: int) -> None:
    for v in values:
        buf.push(InputFrame(np.full((2, 2, 3), v, np.uint8), pts=v / 30))


def ids(frames) -> list[int]:
    return [int(f.data[0, 0, 0]) for f in frames]


def test_latest_takes_the_newest_and_counts_skipped():
    buf = InputBuffer("webcam")
    buf.reset()
    push(buf, 1, 2, 3)
    assert int(buf.try_read().data[0, 0, 0]) == 3
    assert buf.skipped == 2 and buf.try_read() is None


def test_fifo_takes_the_oldest_n():
    buf = InputBuffer("webcam")
    buf.reset()
    push(buf, 1, 2, 3)
    assert ids(buf.try_read(2, FIFO)) == [1, 2]
    assert buf.try_read(2, FIFO) is None
    assert ids([buf.try_read(1, FIFO)]) == [3]


def test_full_buffer_drops_the_oldest_and_counts_it():
    buf = InputBuffer("webcam", capacity=2)
    buf.reset()
    push(buf, 1, 2, 3)
    assert buf.dropped == 1
    assert ids(buf.try_read(2, LATEST)) == [2, 3]


async def test_read_waits_for_a_frame_pushed_from_another_thread():
    buf = InputBuffer("webcam")
    buf.reset()
    threading.Timer(0.05, push, (buf, 9)).start()
    got = await buf.read(timeout=2.0)
    assert int(got.data[0, 0, 0]) == 9


async def test_read_times_out_with_a_clear_error():
    buf = InputBuffer("webcam")
    buf.reset()
    with pytest.raises(TimeoutError, match="input 'webcam'"):
        await buf.read(timeout=0.05)


async def test_close_wakes_a_blocked_read_with_input_closed():
    buf = InputBuffer("webcam")
    buf.reset()
    reader = asyncio.create_task(buf.read())
    await asyncio.sleep(0.02)
    buf.close()
    with pytest.raises(InputClosed, match="webcam"):
        await asyncio.wait_for(reader, 1.0)


def test_bad_n_and_unknown_track_name_the_problem():
    inputs = Inputs(["webcam"])
    with pytest.raises(ValueError, match=r"input 'webcam': n must be"):
        inputs.webcam.try_read(0)
    with pytest.raises(AttributeError, match=r"no input track 'mic' \(declared: webcam\)"):
        _ = inputs.mic


async def test_the_3x_names_are_the_same_buffer_error_and_frame():
    import reactor_runtime

    assert reactor_runtime.BufferClosed is InputClosed
    assert reactor_runtime.InputBuffer is InputBuffer
    buf = InputBuffer("webcam")
    buf.reset()
    sent = InputFrame(np.zeros((2, 2, 3), np.uint8), 0.5, metadata=b"{}", capture_time_us=1_000)
    buf.push(sent)
    got = await buf.read()
    assert (got.metadata, got.capture_time_us) == (b"{}", 1_000)
    assert InputFrame(got.data).metadata is None
    buf.close()
    with pytest.raises(reactor_runtime.BufferClosed):
        await buf.read()


def test_a_3x_buffer_returns_a_list_even_for_one_frame():
    buf = InputBuffer("webcam", lists=True)
    buf.reset()
    assert buf.try_read() is None
    push(buf, 1, 2)
    got = buf.try_read()
    assert isinstance(got, list) and ids(got) == [2]


def test_input_frame_takes_the_3x_positional_order_and_keeps_arrival_keyword_only():
    frame = InputFrame(np.zeros((1, 4), np.int16), 0.25, b"meta", 1_000)
    assert (frame.pts, frame.metadata, frame.capture_time_us) == (0.25, b"meta", 1_000)
    assert InputFrame(frame.data, arrived_at=5.0).arrived_at == 5.0
    assert frame != InputFrame(frame.data, 0.25, b"meta", 1_000)
    with pytest.raises(TypeError, match=r"InputFrame.metadata: expected bytes or None, got float"):
        InputFrame(frame.data, 0.25, 12.5)


def test_read_mode_values_and_buffer_counters_match_3x():
    assert (FIFO.value, LATEST.value) == (1, 2)
    buf = InputBuffer("webcam")
    buf.reset()
    push(buf, 1, 2, 3)
    assert (buf.available, buf.total_received) == (3, 3)
    buf.clear()
    assert buf.available == 0 and not buf.closed


def test_an_audio_input_declaring_buffer_seconds_is_bounded_by_samples():
    from reactor_runtime import Audio

    class LongMic(Audio):
        buffer_seconds = 0.05  # 2400 samples, at most 50 frames

    class Track:
        name, type = "mic", LongMic

    buf = Inputs.of([Track()]).mic
    assert (buf.capacity, buf.max_samples) == (50, 2400)
    buf.reset()
    for i in range(4):
        buf.push(InputFrame(np.full((1, 960), i, np.int16)))
    assert buf.available == 2 and buf.dropped == 2, "3 x 960 samples are over 2400"
    assert [int(f.data[0, 0]) for f in buf.try_read(2, FIFO)] == [2, 3]
    with pytest.raises(ValueError, match=r"buffer_seconds: expected a number of seconds > 0"):
        Inputs(["mic"], seconds={"mic": 0})
