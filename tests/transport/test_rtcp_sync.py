"""RTCP sender reports map audio and video RTP time to one wall clock (real aiortc peers).

A model emits, twice a second, a white picture and a click at the same media time
(batches of 3 frames, the flash on the batch's second frame). The client reads raw
RTP timestamps of the decoded flash and click and maps each through the sender
reports it received on that track: both must land on the same NTP time.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest

from reactor_runtime import Audio, Output, ReactorModel, Video
from reactor_runtime.session import Session
from reactor_runtime.transport.rtcp_sync import NTP_UNIX_OFFSET, MediaClock

WIDTH, HEIGHT = 64, 48
BATCH = 3
FRAME_SAMPLES = 1600
EMITS_PER_FLASH = 5  # one flash every 0.5 s
CLICK = (np.sin(np.arange(240) * 2 * np.pi * 2000 / 48_000) * 24_000).astype(np.int16)
TWO_32 = 1 << 32


class SyncOutput(Output):
    main_video: Video
    main_audio: Audio


class FlashClickModel(ReactorModel):
    fps = 30
    output_type = SyncOutput

    def load(self, config: dict) -> None:
        self.emits = 0

    async def run(self) -> None:
        while True:
            await self.connected.wait()
            video = np.zeros((BATCH, HEIGHT, WIDTH, 3), dtype=np.uint8)
            audio = np.zeros((1, BATCH * FRAME_SAMPLES), dtype=np.int16)
            if self.emits % EMITS_PER_FLASH == EMITS_PER_FLASH - 1:
                video[1] = 255
                audio[0, FRAME_SAMPLES : FRAME_SAMPLES + CLICK.size] = CLICK
            self.emits += 1
            await self.emit(SyncOutput(main_video=video, main_audio=audio))


@pytest.fixture
async def session():
    session = Session(FlashClickModel, name="flash-click")
    await session.start()
    try:
        yield session
    finally:
        await session.stop()


class _Identity:
    """Keeps raw RTP timestamps on decoded frames (aiortc rebases them to the first one)."""

    def map(self, timestamp: int) -> int:
        return timestamp


def _record_sender_reports(receiver: Any, reports: list[tuple[int, int, float]]) -> None:
    original = receiver._handle_rtcp_packet

    async def handle(packet: Any) -> None:
        info = getattr(packet, "sender_info", None)
        if info is not None and info.packet_count:
            reports.append((info.ntp_timestamp, info.rtp_timestamp, time.time()))
        await original(packet)

    receiver._handle_rtcp_packet = handle


def _ntp_seconds(rtp: int, report: tuple[int, int, float], rate: int) -> float:
    ntp, sr_rtp, _ = report
    delta = (rtp - sr_rtp + (1 << 31)) % TWO_32 - (1 << 31)
    return ntp / TWO_32 + delta / rate


def _flash_timestamps(frames: list[Any]) -> list[int]:
    lit = [f.to_ndarray(format="gray").mean() > 128 for f in frames]
    return [f.pts for i, f in enumerate(frames) if lit[i] and (i == 0 or not lit[i - 1])]


def _click_timestamps(frames: list[Any]) -> list[int]:
    found: list[int] = []
    quiet_until = -1
    for frame in frames:
        samples = frame.to_ndarray().reshape(-1, frame.layout.nb_channels)[:, 0]
        for index in np.flatnonzero(np.abs(samples.astype(np.int32)) > 8000):
            rtp = frame.pts + int(index)
            if rtp > quiet_until:
                found.append(rtp)
            quiet_until = rtp + 4800
    return found


def test_media_clock_maps_ticks_to_ntp_through_one_offset():
    clock = MediaClock(monotonic=lambda: 100.0, wall=lambda: 1_700_000_000.0)
    assert clock.ntp(48_000) is None
    clock.anchor(48_000, 101.0)
    expected = (1_700_000_001.0 + NTP_UNIX_OFFSET) * TWO_32
    assert clock.ntp(48_000) == round(expected)
    assert clock.ntp(48_000 + 24_000) == round(expected + 0.5 * TWO_32)
    clock.anchor(96_000, 102.0)  # the same line: nothing moves
    assert clock.ntp(48_000) == round(expected)


async def test_audio_and_video_sender_reports_map_one_paced_frame_to_one_ntp_time(
    make_peer, make_client, wait_until
):
    client = make_client()
    peer = make_peer()
    offer = await client.offer()
    reports: dict[str, list[tuple[int, int, float]]] = {"video": [], "audio": []}
    for transceiver in client.pc.getTransceivers():
        receiver = transceiver.receiver
        receiver._RTCRtpReceiver__timestamp_mapper = _Identity()
        _record_sender_reports(receiver, reports[transceiver.kind])
    await client.accept(await peer.answer(offer, client.mapping))

    def enough() -> bool:
        flashes = _flash_timestamps(client.frames["main_video"])
        return len(flashes) >= 5 and all(len(r) >= 3 for r in reports.values())

    await wait_until(enough, timeout=20.0)
    # Not the first flash (the stream may start mid-flash), nor the last: its click
    # leaves only when its audio has been presented, after the picture.
    flashes = _flash_timestamps(client.frames["main_video"])[1:-1]
    clicks = _click_timestamps(client.frames["main_audio"])
    video_sr, audio_sr = reports["video"][-1], reports["audio"][-1]
    skews = []
    for flash in flashes:
        at = _ntp_seconds(flash, video_sr, 90_000)
        heard = [_ntp_seconds(c, audio_sr, 48_000) for c in clicks]
        nearest = min(heard, key=lambda t: abs(t - at))
        skews.append(round((nearest - at) * 1000, 3))
    print(f"click - flash on the SR clock (ms): {skews}")
    assert len(skews) >= 3
    assert all(abs(s) <= 1.0 for s in skews), f"audio vs video NTP of one frame: {skews} ms"

    # Every report of a track lies on one line of exactly its clock rate.
    for kind, rate in (("video", 90_000), ("audio", 48_000)):
        first = reports[kind][0]
        for report in reports[kind][1:]:
            drift = _ntp_seconds(report[1], first, rate) - report[0] / TWO_32
            assert abs(drift) < 1e-4, f"{kind} SRs off their line by {drift * 1000:.3f} ms"
        # ...and says when that packet was presented: just before the report arrived.
        for ntp, _, arrived in reports[kind]:
            age = arrived + NTP_UNIX_OFFSET - ntp / TWO_32
            assert -0.005 < age < 0.5, f"{kind} SR time is {age * 1000:.1f} ms before arrival"
