"""Every code block of the seed page imports and runs against reactor_runtime."""

import asyncio
import importlib.util
import random
import sys
import time
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from reactor_runtime import Audio, ReactorModel, Video
from reactor_runtime.media.frames import PacedFrame
from reactor_runtime.session import Session

BLOCKS = Path(__file__).resolve().parents[2] / "examples" / "seed_blocks"
RATE = 48_000


def seed_block(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"seed_blocks_{name}", BLOCKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


async def play(model_class: type, frames: int, timeout: float = 5.0) -> list[PacedFrame]:
    """Run `model_class` for one viewer until `frames` paced frames have arrived."""
    session = Session(model_class)
    got: list[PacedFrame] = []
    session.add_sink(got.append)
    await session.start()
    await session.viewer_joined("viewer")
    deadline = time.monotonic() + timeout
    try:
        while len(got) < frames:
            assert time.monotonic() < deadline, f"{len(got)} of {frames} frames in {timeout} s"
            await asyncio.sleep(0.01)
    finally:
        await session.stop()
    return got


def test_my_output_block_declares_a_video_and_an_audio_track():
    my_output = seed_block("my_output")

    tracks = my_output.MyOutput.tracks()
    out = my_output.MyOutput(
        main_video=np.zeros((36, 64, 3), np.uint8), main_audio=np.zeros((1, 1600), np.int16)
    )

    assert [(t.name, t.type) for t in tracks] == [("main_video", Video), ("main_audio", Audio)]
    assert out.main_audio.shape == (1, 1600)


class FakePipe:
    """Stands in for the page's `self.pipe`: numbered pictures and 1600 numbered samples."""

    def __init__(self) -> None:
        self.steps = 0

    def forward(self, prompt: str) -> np.ndarray:
        self.steps += 1
        return np.full((36, 64, 3), self.steps % 256, np.uint8)

    def generate_audio(self) -> np.ndarray:
        return np.full((1, 1600), self.steps, np.int16)


async def test_emit_loop_block_plays_a_pipe_through_a_session():
    emit_loop = seed_block("emit_loop")

    class PipeModel(ReactorModel):
        output_type = emit_loop.MyOutput
        run = emit_loop.run

        def load(self, config):
            self.pipe, self.prompt = FakePipe(), "a red fox"

    frames = await play(PipeModel, 6)

    steps = [int(f.video["main_video"][0, 0, 0]) for f in frames[:6]]
    assert steps == list(range(steps[0], steps[0] + 6))
    for f, step in zip(frames, steps, strict=False):
        assert f.duration == 1600 and (f.audio["main_audio"] == step).all()


def tone16k_model(audio16k: ModuleType) -> type[ReactorModel]:
    class Tone16k(ReactorModel):
        fps = 25  # 640 samples at 16 kHz per frame
        output_type = audio16k.MyOutput

        async def run(self):
            n = 0
            while True:
                await self.connected.wait()
                t = (n + np.arange(640)) / 16_000
                n += 640
                tone = (0.5 * 32767 * np.sin(2 * np.pi * 1000 * t)).astype(np.int16)
                picture = np.zeros((16, 16, 3), np.uint8)
                await self.emit(audio16k.MyOutput(main_video=picture, main_audio=tone[None]))

    return Tone16k


def emitted_audio(frame: PacedFrame) -> np.ndarray:
    """The samples the model emitted in `frame`, without the pacer's silence."""
    samples = frame.audio["main_audio"][0]
    return samples[: frame.duration - frame.silence["main_audio"] + frame.gap]


async def test_audio16k_block_is_resampled_to_48k_for_transport():
    audio16k = seed_block("audio16k")
    assert audio16k.Audio16k.sample_rate == 16_000
    assert audio16k.MyOutput.tracks()[1].type is audio16k.Audio16k

    frames = await play(tone16k_model(audio16k), 16)

    audio = np.concatenate([emitted_audio(f) for f in frames[4:16]]).astype(float)
    assert audio.size == pytest.approx(12 * 1920, rel=0.15)
    peak = np.fft.rfftfreq(audio.size, 1 / RATE)[np.abs(np.fft.rfft(audio)).argmax()]
    assert peak == pytest.approx(1000, abs=5)
    assert np.sqrt(np.mean(audio**2)) == pytest.approx(0.5 * 32767 / np.sqrt(2), rel=0.05)


async def test_audio16k_plays_continuously_at_the_frame_rate():
    frames = await play(tone16k_model(seed_block("audio16k")), 12)

    assert [(f.duration, f.silence["main_audio"]) for f in frames[4:12]] == [(1920, 0)] * 8


async def test_av_model_block_pairs_blocks_decoded_at_different_rates():
    av_sync = seed_block("av_sync")
    out = av_sync.AVOutput(
        main_video=np.zeros((3, 8, 8, 3), np.uint8), main_audio=np.zeros((1, 4800), np.int16)
    )
    assert out.main_video.shape[0] == 3

    class FakeDecoders(av_sync.AVModel):
        """Audio races ahead; video arrives late and irregularly."""

        output_type = av_sync.AVOutput

        def _decode_audio(self, block_queue):
            idx = 0
            while self.connected.is_set():
                if idx < 40:
                    block_queue.put(("audio", idx, np.full((1, 4800), idx + 1, np.int16)))
                    idx += 1
                time.sleep(0.005)
            block_queue.put(("stopped", -1, None))

        def _decode_video(self, block_queue):
            jitter = random.Random(7)
            idx = 0
            while self.connected.is_set():
                time.sleep(jitter.uniform(0.0, 0.08))
                block_queue.put(("video", idx, np.full((self.fpb, 8, 8, 3), idx, np.uint8)))
                idx += 1
            block_queue.put(("stopped", -1, None))

    frames = await play(FakeDecoders, 18)

    for k, frame in enumerate(frames[:18]):
        block = k // 3
        assert frame.video["main_video"][0, 0, 0] == block
        assert frame.audio["main_audio"].shape == (1, 1600)
        emitted = 1600 - frame.silence["main_audio"] + frame.gap
        assert (frame.audio["main_audio"][0, :emitted] == block + 1).all()
