"""Fan-out subscriptions and marker-bit frame reassembly, without a network."""

from __future__ import annotations

import asyncio
import gc

import pytest
from aiortc.rtp import RtpPacket

from reactor_runtime.client.media import MarkerJitterBuffer
from reactor_runtime.client.streams import Fanout


async def test_a_subscription_sees_items_published_after_its_creation_in_order():
    fanout: Fanout[int] = Fanout(limit=10)
    fanout.publish(0)
    sub = fanout.subscribe()
    for i in (1, 2, 3):
        fanout.publish(i)
    assert [await sub.next(timeout=1) for _ in range(3)] == [1, 2, 3]


async def test_a_slow_reader_loses_its_oldest_items_only():
    fanout: Fanout[int] = Fanout(limit=3)
    sub = fanout.subscribe()
    for i in range(5):
        fanout.publish(i)
    assert sub.dropped == 2
    assert [await sub.next(timeout=1) for _ in range(3)] == [2, 3, 4]


async def test_closing_the_source_ends_iteration_after_the_queued_items():
    fanout: Fanout[int] = Fanout(limit=10)
    sub = fanout.subscribe()
    fanout.publish(7)
    fanout.close()
    assert [item async for item in sub] == [7]
    with pytest.raises(EOFError):
        await fanout.subscribe().next(timeout=1)


async def test_next_times_out_when_nothing_arrives():
    sub = Fanout[int](limit=1).subscribe()
    with pytest.raises(asyncio.TimeoutError):
        await sub.next(timeout=0.05)


def test_dropped_subscriptions_are_forgotten():
    fanout: Fanout[int] = Fanout(limit=1)
    fanout.subscribe()
    gc.collect()
    assert len(fanout._subscribers) == 0


def _packet(seq: int, ts: int, marker: bool) -> RtpPacket:
    packet = RtpPacket(payload_type=96, sequence_number=seq, timestamp=ts, marker=int(marker))
    packet._data = bytes([seq & 0xFF])  # what the depayloader leaves for reassembly
    return packet


def test_a_picture_is_released_at_its_marker_packet_not_at_the_next_picture():
    buffer = MarkerJitterBuffer(capacity=16, is_video=True)
    assert buffer.add(_packet(10, 3000, False)) == (False, None)
    assert buffer.add(_packet(11, 3000, False)) == (False, None)
    _, frame = buffer.add(_packet(12, 3000, True))
    assert frame is not None and frame.timestamp == 3000 and frame.data == bytes([10, 11, 12])
    _, frame = buffer.add(_packet(13, 6000, True))
    assert frame is not None and frame.timestamp == 6000 and frame.data == bytes([13])


def test_a_picture_with_a_missing_packet_waits_for_the_stock_rule():
    buffer = MarkerJitterBuffer(capacity=16, is_video=True)
    buffer.add(_packet(20, 3000, False))
    assert buffer.add(_packet(22, 3000, True)) == (False, None)  # 21 is missing
    _, frame = buffer.add(_packet(21, 3000, False))
    assert frame is None  # aiortc completes only at a new timestamp or our marker check
    _, frame = buffer.add(_packet(23, 6000, False))
    assert frame is not None and frame.data == bytes([20, 21, 22])
