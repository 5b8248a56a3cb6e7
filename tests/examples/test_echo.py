"""The webcam echo example, driven through a `Session` with pushed input frames (no network)."""

import asyncio
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from sessions import running

from reactor_runtime import CommandError, InputFrame
from reactor_runtime.config import load_project

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "echo"
RATE = 48_000
PROJECT = load_project(EXAMPLE)
EchoModel = PROJECT.model_class
echo = sys.modules[EchoModel.__module__]


def webcam_picture(seed: int = 0) -> np.ndarray:
    """A 480x640 picture with structure in both directions (effects change it visibly)."""
    y, x = np.mgrid[0:480, 0:640]
    picture = np.stack([(x + seed) % 256, (y * 2) % 256, ((x // 40 + y // 40) % 2) * 200], axis=-1)
    return picture.astype(np.uint8)


def is_placeholder(picture: np.ndarray) -> bool:
    bars = echo.placeholder(0)
    return picture.shape == bars.shape and np.array_equal(picture[:300], bars[:300])


async def feed_webcam(session, picture: np.ndarray, seconds: float) -> None:
    """Push `picture` at ~30 fps for `seconds`, as the transport would."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        session.push_input("webcam", InputFrame(picture, None))
        await asyncio.sleep(1 / 30)


def test_the_echo_directory_declares_webcam_and_mic_inputs_and_two_outputs():
    from reactor_runtime.session import Session

    session = Session(EchoModel)
    assert [(t.name, t.kind) for t in session.input_tracks] == [
        ("webcam", "video"),
        ("mic", "audio"),
    ]
    assert [(t.name, t.kind) for t in session.output_tracks] == [
        ("main_video", "video"),
        ("main_audio", "audio"),
    ]
    caps = {c["name"]: c for c in session.commands.capabilities()}
    assert caps["set_effect"]["schema"]["effect"]["enum"] == echo.EFFECTS


async def test_without_a_webcam_frame_the_output_is_the_placeholder_pattern():
    async with running(EchoModel) as (_session, rec):
        await rec.until(lambda: len(rec.frames) >= 5)
        pictures = [f.video["main_video"] for f in rec.frames[:5]]
    assert all(is_placeholder(p) for p in pictures)
    assert not np.array_equal(pictures[0], pictures[-1]), "the placeholder should move"


@pytest.mark.parametrize("effect", ["none", "invert", "mirror", "pixelate", "edges"])
async def test_each_effect_is_applied_to_the_latest_webcam_frame(effect):
    picture = webcam_picture()
    expected = echo.apply_effect(picture, effect)
    async with running(EchoModel) as (session, rec):
        assert await session.dispatch("set_effect", {"effect": effect}) is not None
        start = len(rec.frames)
        feeder = asyncio.create_task(feed_webcam(session, picture, 3.0))
        try:
            await rec.until(
                lambda: any(
                    np.array_equal(f.video["main_video"], expected) for f in rec.frames[start:]
                ),
                timeout=3.0,
            )
        finally:
            feeder.cancel()
    assert not is_placeholder(expected)
    if effect != "none":
        assert not np.array_equal(expected, picture)


async def test_the_picture_falls_back_to_the_placeholder_when_the_webcam_stops():
    async with running(EchoModel) as (session, rec):
        await feed_webcam(session, webcam_picture(), 0.5)
        await rec.until(
            lambda: any(
                np.array_equal(f.video["main_video"], webcam_picture()) for f in rec.frames
            ),
            timeout=2.0,
        )
        await asyncio.sleep(0.1)
        stopped = len(rec.frames)
        await rec.until(
            lambda: any(is_placeholder(f.video["main_video"]) for f in rec.frames[stopped:]),
            timeout=2.0,
        )


async def test_an_unknown_effect_is_refused_before_the_handler_runs():
    async with running(EchoModel) as (session, _rec):
        with pytest.raises(CommandError) as refused:
            await session.dispatch("set_effect", {"effect": "sepia"})
    assert refused.value.code == "invalid_command"


async def test_the_mic_comes_back_delayed_in_the_output_audio():
    burst = (0.5 * 32767 * np.sin(2 * np.pi * 1000 * np.arange(960) / RATE)).astype(np.int16)
    async with running(EchoModel) as (session, rec):
        await rec.until(lambda: len(rec.frames) >= 3)
        start = len(rec.frames)
        for _ in range(10):  # 200 ms of tone in 20 ms network-sized chunks
            session.push_input("mic", InputFrame(burst[np.newaxis], None))
            await asyncio.sleep(0.02)
        await rec.until(
            lambda: any(np.abs(f.audio["main_audio"]).max() > 8000 for f in rec.frames[start:]),
            timeout=3.0,
        )
        statuses = [d for t, d in rec.messages if t == "echo_status"]
        loud = next(f for f in rec.frames[start:] if np.abs(f.audio["main_audio"]).max() > 8000)
    assert any(s["mic"] for s in statuses)
    # Released at playback time: 300 ms of delay minus the few frames queued ahead of it.
    assert (loud.index - rec.frames[start].index) / 30 > 0.3 - 0.15


def test_voice_echo_delays_by_exactly_the_configured_time():
    voice = echo.VoiceEcho(delay_ms=300)
    signal = np.arange(1, 4801, dtype=np.int16)  # 100 ms of distinct samples
    out = []
    for i in range(0, len(signal), 960):
        voice.feed(signal[i : i + 960])
        out.append(voice.take(960)[0])
    for _ in range(20):
        out.append(voice.take(960)[0])
    played = np.concatenate(out)
    first = int(np.flatnonzero(played)[0])
    assert first == round(0.3 * RATE)
    np.testing.assert_array_equal(played[first : first + len(signal)], signal)


def test_voice_echo_trims_a_backlog_when_the_sender_runs_fast():
    voice = echo.VoiceEcho(delay_ms=300, slack=0.2)
    for _ in range(100):
        voice.feed(np.ones(960, dtype=np.int16))
    assert len(voice.queue) == round(0.5 * RATE)


def test_the_pitch_shifter_moves_a_tone_by_the_ratio_and_keeps_its_length():
    shifter = echo.PitchShifter()
    tone = np.sin(2 * np.pi * 440 * np.arange(RATE) / RATE).astype(np.float32)
    ratio = 2 ** (-5 / 12)
    out = np.concatenate([shifter.process(tone[i : i + 1600], ratio) for i in range(0, RATE, 1600)])
    assert len(out) == len(tone)
    settled = out[4800:]
    spectrum = np.abs(np.fft.rfft(settled * np.hanning(len(settled))))
    peak = np.argmax(spectrum) * RATE / len(settled)
    assert peak == pytest.approx(440 * ratio, abs=3)


async def test_set_voice_replies_with_the_new_settings_and_validates_the_range():
    async with running(EchoModel) as (session, _rec):
        kind, data = await session.dispatch("set_voice", {"delay_ms": 500, "semitones": 7})
        assert kind == "echo_status"
        assert data["delay_ms"] == 500 and data["semitones"] == 7
        with pytest.raises(CommandError):
            await session.dispatch("set_voice", {"delay_ms": 10})
