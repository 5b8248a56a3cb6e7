import asyncio
import itertools
import math
import threading
import time
from dataclasses import dataclass

import numpy as np
import pytest
from sessions import running

from reactor_runtime import (
    Audio,
    CommandError,
    ModelMessage,
    Output,
    ReactorModel,
    TrackPayload,
    Video,
    connected,
    disconnected,
    event,
)
from reactor_runtime.session import ModelLoadError, Session


@dataclass
class AV(Output):
    main_video: Video
    main_audio: Audio


class Only(Output):
    main_video: Video


@dataclass
class Note(ModelMessage):
    text: str


def picture(i: int) -> np.ndarray:
    return np.full((8, 8, 3), i % 256, np.uint8)


class Counter(ReactorModel):
    """Emits numbered frames with 1600 numbered samples each."""

    fps = 30
    delay = 0.0
    output_type = AV

    def load(self, config):
        self.i = 0
        self.threads: dict[str, int] = {}
        self.seen_connected_in_hook: list[bool] = []

    async def run(self):
        self.threads["run"] = threading.get_ident()
        while True:
            await self.connected.wait()
            while self.connected.is_set():
                if self.delay:
                    time.sleep(self.delay)  # a blocking "forward()"
                audio = np.full((1, 1600), self.i % 30000 + 1, np.int16)
                await self.emit(AV(main_video=picture(self.i), main_audio=audio))
                self.i += 1

    @event(description="Change the delay")
    def slow(self, delay: float):
        self.threads["handler"] = threading.get_ident()
        self.delay = delay
        return Note(f"delay={delay}")

    @event(description="Always fails")
    async def fail(self):
        raise CommandError("busy", "try later")

    @event(description="Crashes")
    async def crash(self):
        raise RuntimeError("boom")

    @event(description="Returns junk")
    async def junk(self):
        return 42

    @connected
    async def hello(self):
        self.threads["hook"] = threading.get_ident()
        self.seen_connected_in_hook.append(self.connected.is_set())
        await self.send(Note("hello"))

    @disconnected
    async def bye(self):
        self.seen_connected_in_hook.append(self.connected.is_set())


async def test_run_handlers_and_hooks_share_the_model_thread_not_the_callers():
    async with running(Counter) as (session, rec):
        await rec.until(lambda: len(rec.frames) >= 3)
        assert await session.dispatch("slow", {"delay": 0}) == ("note", {"text": "delay=0.0"})
        threads = session.model.threads
        assert threads["run"] == threads["handler"] == threads["hook"]
        assert threads["run"] != threading.get_ident()


async def test_a_blocking_run_does_not_stall_the_callers_loop():
    async with running(Counter) as (session, rec):
        await session.dispatch("slow", {"delay": 0.2})
        lags = []
        for _ in range(10):
            start = time.monotonic()
            await asyncio.sleep(0.02)
            lags.append(time.monotonic() - start - 0.02)
        assert max(lags) < 0.1


async def test_hooks_see_connected_set_on_connect_and_still_set_on_disconnect():
    async with running(Counter) as (session, rec):
        await rec.until(lambda: ("note", {"text": "hello"}) in rec.messages)
        await session.viewer_left("test-viewer")
        assert session.model.seen_connected_in_hook == [True, True]
        assert not session.model.connected.is_set() and session.model.disconnected.is_set()


async def test_frames_are_paced_on_one_clock_with_audio_attached():
    async with running(Counter) as (session, rec):
        await rec.until(lambda: len(rec.frames) >= 10)
        frames = rec.frames[:10]
        assert [f.pts for f in frames] == [i * 1600 for i in range(10)]
        assert all(f.audio["main_audio"].shape == (1, 1600) for f in frames)
        for f in frames:
            assert f.audio["main_audio"][0, 0] == int(f.video["main_video"][0, 0, 0]) + 1
        span = frames[-1].released_at - frames[0].released_at
        assert 0.25 < span < 0.4  # 9 intervals of 33 ms


async def test_emit_blocks_at_buffer_size_so_the_model_runs_at_playback_speed():
    async with running(Counter) as (session, rec):
        await rec.until(lambda: len(rec.frames) >= 15)
        stats = session.buffer.stats
        assert session.buffer.depth <= Counter.buffer_size
        assert stats.emitted_frames - stats.sent_frames <= Counter.buffer_size + 1
        assert stats.dropped_frames == 0


async def test_emit_with_no_viewer_returns_at_once_and_counts_discards():
    async with running(Counter, viewer=False) as (session, rec):

        async def emit_without_viewer():
            return await session.model.emit(AV(main_video=picture(0), main_audio=None))

        fut = asyncio.run_coroutine_threadsafe(emit_without_viewer(), session.model_loop)
        assert await asyncio.wait_for(asyncio.wrap_future(fut), 1.0) is False
        assert session.buffer.stats.discarded_frames == 1


async def test_slow_model_plays_smoothly_at_its_own_rate_and_recovers():
    async with running(Counter) as (session, rec):
        await session.dispatch("slow", {"delay": 0.05})
        await rec.until(lambda: len(rec.frames) >= 12)
        start = len(rec.frames)
        await rec.until(lambda: len(rec.frames) >= start + 25, timeout=5)
        slow = rec.frames[start : start + 25]
        gaps = np.diff([f.released_at for f in slow])
        assert 0.045 < np.median(gaps) < 0.06  # ~20 fps, not 30
        assert np.percentile(gaps, 90) < 0.075  # no freeze-then-burst
        assert max(np.diff([f.pts for f in slow])) < 0.08 * 48000
        # Every emitted sample still plays, in order, starting with its frame.
        for f in slow:
            own = f.audio["main_audio"][0]
            assert own[0] != 0 and f.duration == own.shape[0]
            assert np.count_nonzero(own) == 1600
        assert session.buffer.stats.silence_samples > 0
        await session.dispatch("slow", {"delay": 0})
        await asyncio.sleep(1.5)  # let the production estimate settle, then sample
        start = len(rec.frames)
        await rec.until(lambda: len(rec.frames) >= start + 15)
        gaps = np.diff([f.released_at for f in rec.frames[start : start + 15]])
        assert 0.028 < np.median(gaps) < 0.038


async def test_command_errors_reach_the_caller_with_their_codes():
    async with running(Counter) as (session, rec):
        with pytest.raises(CommandError) as info:
            await session.dispatch("fail", {})
        assert (info.value.code, info.value.message) == ("busy", "try later")
        with pytest.raises(CommandError, match=r"internal_error.*boom"):
            await session.dispatch("crash", {})
        with pytest.raises(CommandError, match=r"internal_error.*returned int"):
            await session.dispatch("junk", {})
        with pytest.raises(CommandError, match="invalid_command"):
            await session.dispatch("slow", {"delay": "x"})
        # The session keeps running.
        n = len(rec.frames)
        await rec.until(lambda: len(rec.frames) > n + 3)


class Crashy(ReactorModel):
    output_type = AV

    def load(self, config):
        self.starts = 0

    async def run(self):
        self.starts += 1
        if self.starts == 1:
            await self.emit(AV(main_video=np.zeros((4, 4), np.uint8), main_audio=None))
        await self.connected.wait()
        while self.connected.is_set():
            await self.emit(AV(main_video=picture(1), main_audio=None))


async def test_a_crashing_run_is_reported_and_restarted_with_the_model_still_loaded():
    async with running(Crashy) as (session, rec):
        await rec.until(lambda: len(rec.frames) >= 3, timeout=5)
        assert session.model.starts == 2 and session.run_failures == 1
        code, text = rec.notices[0]
        assert code == "model_error" and "main_video" in text and "(4, 4)" in text


class Stereo(Audio):
    channels = 2


class Audio16k(Audio):
    sample_rate = 16_000


@dataclass
class Multi(Output):
    main_video: Video
    stereo: Stereo
    voice: Audio16k


class MultiModel(ReactorModel):
    output_type = Multi

    async def run(self):
        await self.connected.wait()
        t = 0
        while True:
            s = np.arange(t, t + 1600)
            wave = (np.sin(2 * np.pi * 440 * s / 48000) * 10000).astype(np.int16)
            await self.emit(
                Multi(
                    main_video=np.zeros((3, 4, 4, 3), np.uint8),
                    stereo=np.stack([wave, -wave])[:, :1600].repeat(3, axis=1)[:, :4800],
                    voice=np.zeros((1, 1600), np.int16) + 1000,
                )
            )
            t += 1600


async def test_stereo_stays_stereo_and_16k_is_resampled_to_48k():
    async with running(MultiModel) as (session, rec):
        await rec.until(lambda: len(rec.frames) >= 12)
        frames = rec.frames[3:12]
        assert all(f.audio["stereo"].shape == (2, 1600) for f in frames)
        assert np.array_equal(frames[0].audio["stereo"][0], -frames[0].audio["stereo"][1])
        voice = np.concatenate([f.audio["voice"] for f in frames], axis=1)
        # 100 ms of 16 kHz per emit becomes 100 ms at 48 kHz: no silence padding once steady.
        assert voice.shape == (1, 9 * 1600)
        assert np.count_nonzero(voice) > 0.95 * voice.shape[1]


class Unloadable(ReactorModel):
    def load(self, config):
        raise FileNotFoundError("weights.bin")


async def test_a_failing_load_raises_model_load_error_naming_the_cause():
    assert Session(type("Bare", (ReactorModel,), {"__module__": "nowhere"})).output_tracks == []
    session = Session(type("U", (Unloadable,), {"output_type": AV}))
    with pytest.raises(ModelLoadError, match=r"weights\.bin"):
        await session.start()


class OnGrid(ReactorModel):
    """Emits on its own 30 fps wall clock (a live source); `hiccup` may upset it once."""

    output_type = AV

    def hiccup(self, i: int) -> int:
        """The slot frame `i` is made for (`i` itself: no hiccup)."""
        return i

    async def run(self):
        await self.connected.wait()
        start = time.monotonic()
        i = 0
        while True:
            i = self.hiccup(i)
            delay = start + i / 30 - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            await self.emit(AV(main_video=picture(i), main_audio=np.ones((1, 1600), np.int16)))
            i += 1


class SelfPaced(OnGrid):
    """A stall before frame 45: the pacer underruns and its schedule slips."""

    def hiccup(self, i: int) -> int:
        if i == 45:
            time.sleep(0.075)
        return i


def _wait_ms(frames) -> float:
    return 1000 * float(np.median([f.released_at - f.produced_at for f in frames]))


async def test_a_self_paced_model_gets_back_the_latency_an_underrun_left_behind():
    async with running(SelfPaced) as (session, rec):
        await rec.until(lambda: len(rec.frames) >= 40, timeout=5)
        before = _wait_ms(rec.frames[20:40])
        # The stall before frame 45 (75 ms) makes it ~42 ms late for its slot: an
        # underrun, so the schedule slips by that much, and the frames after it (back on
        # the model's grid) wait ~42 ms more than before, for good unless the schedule
        # moves earlier to meet the model again: after an underrun it does so once
        # `UNDERRUN_WINDOW` (0.2 s) of frames all waited. `before` wobbles 3-10 ms.
        await rec.until(lambda: len(rec.frames) >= 70, timeout=5)
        slipped = _wait_ms(rec.frames[46:50])
        assert slipped > before + 25
        assert _wait_ms(rec.frames[60:70]) < slipped - 15, "mostly met again within ~0.5 s"
        await rec.until(
            lambda: len(rec.frames) >= 80 and _wait_ms(rec.frames[-10:]) < before + 10,
            timeout=10,
        )
        assert session.buffer.stats.advances >= 1
        assert session.buffer.stats.dropped_frames == 0
        tail = rec.frames[45:]
        assert all(b.pts == a.pts + a.duration for a, b in itertools.pairwise(tail[1:])), (
            "timestamps stay contiguous while the schedule moves earlier"
        )


class LatePhase(ReactorModel):
    """A camera-like source: one frame takes 55 ms to make, then it skips to its next slot.

    The pacer's schedule moves 55 ms later at that frame, while the model keeps its own
    30 fps grid: from then on each frame arrives ~22 ms before its slot.
    """

    output_type = AV

    async def run(self):
        await self.connected.wait()
        start = time.monotonic()
        k = 0
        while True:
            k = max(k, math.ceil((time.monotonic() - start) * 30 - 1e-6))
            delay = start + k / 30 - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            if k == 10:
                time.sleep(0.055)
            await self.emit(AV(main_video=picture(k), main_audio=np.ones((1, 1600), np.int16)))
            k += 1


async def test_the_schedule_moves_earlier_to_meet_a_self_paced_model():
    async with running(LatePhase) as (session, rec):
        await rec.until(lambda: len(rec.frames) >= 35, timeout=5)
        assert _wait_ms(rec.frames[12:16]) > 15, "the slow frame left a standing wait"
        assert _wait_ms(rec.frames[25:35]) < 8, "met again within ~0.5 s"
        assert session.buffer.stats.advances >= 1
        assert session.buffer.stats.dropped_frames == 0


class SkipsOneSlot(OnGrid):
    """No frame for slot 15 (missed behind a busy CPU): the next comes on the grid."""

    def hiccup(self, i: int) -> int:
        return i + 1 if i == 15 else i


async def test_one_slot_a_live_model_misses_does_not_slow_its_playback():
    async with running(SkipsOneSlot) as (session, rec):
        await rec.until(lambda: len(rec.frames) >= 45, timeout=5)
        before = _wait_ms(rec.frames[5:15])
        # An average of production times would read the missed slot as a slower model
        # (playback interval ~38 ms) and the frames behind it would wait 20-30 ms more.
        assert _wait_ms(rec.frames[17:45]) < before + 8
        gaps = np.diff([f.released_at for f in rec.frames[17:45]])
        assert 0.028 < np.median(gaps) < 0.038


class Announcer(ReactorModel):
    """Declares no output tracks: it only talks."""

    async def run(self):
        await self.connected.wait()
        await self.send(Note("no pictures here"))
        await asyncio.Event().wait()


async def test_a_model_without_output_tracks_runs_and_sends_messages():
    Announcer.__module__ = "nowhere"
    async with running(Announcer) as (session, rec):
        await rec.until(lambda: rec.messages)

    assert session.output_tracks == []
    assert rec.messages == [("note", {"text": "no pictures here"})]


class Tagged(ReactorModel):
    """Emits a batch of two pictures tagged with metadata, then sound alone."""

    output_type = (Only, AV)

    async def run(self):
        await self.connected.wait()
        batch = np.stack([picture(1), picture(2)])
        await self.emit(Only(main_video=TrackPayload(batch, metadata=[{"n": 1}, b"two"])))
        await self.emit(AV(main_video=None, main_audio=np.ones((1, 1600), np.int16)))
        await asyncio.Event().wait()


async def test_frame_metadata_stays_with_its_frame_and_is_counted():
    async with running(Tagged) as (session, rec):
        await rec.until(lambda: len(rec.frames) >= 3)
        stats = session.stats()

    assert [f.metadata for f in rec.frames[:3]] == [
        {"main_video": b'{"n":1}'},
        {"main_video": b"two"},
        {},
    ]
    assert [sorted(f.video) for f in rec.frames[:3]] == [["main_video"], ["main_video"], []]
    assert stats["frame_metadata"] == 2
