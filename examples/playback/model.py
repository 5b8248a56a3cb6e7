"""The seed's "Full example": play an MP4 back with synchronized audio and video.

The block from `from dataclasses import dataclass` to the end of `run()` is
the seed's, verbatim, with `run()` completed by the threaded decode +
block-index demux pattern of the seed's synchronization section.
`_demux_and_emit` is that section's, verbatim. The decoders and their shared
`_BlockPlan` follow.
"""

# ruff: noqa: I001
import asyncio
import itertools
import logging
import queue
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from dataclasses import dataclass
from reactor_runtime import (
    Audio, Output, Video, ReactorModel, ModelMessage,
    connected, disconnected, event,
)
import numpy as np
import av

AUDIO_SAMPLE_RATE = 48000

@dataclass
class AVOutput(Output):
    main_video: Video
    main_audio: Audio

@dataclass
class PlaybackStarted(ModelMessage):
    pass

@dataclass
class PlaybackPaused(ModelMessage):
    pass

class PlaybackModel(ReactorModel):
    fps = 30

    def load(self, config):
        self.video_path = config["video_path"]
        self.fpb = config.get("frames_per_block", 3)
        self.audio_rtf = config.get("audio_rtf", 1.0)
        self.video_rtf = config.get("video_rtf", 1.0)
        self.playing = False

    @connected
    async def on_connect(self):
        self.playing = True
        await self.send(PlaybackStarted())

    @disconnected
    async def on_disconnect(self):
        self.playing = False
        self.output_buffer.flush()

    @event(name="pause", description="Pause playback")
    async def pause(self):
        self.playing = False
        await self.send(PlaybackPaused())

    @event(name="play", description="Resume playback")
    async def play(self):
        self.playing = True
        await self.send(PlaybackStarted())

    async def run(self):
        # See the synchronization section above for the
        # threaded decode + demux pattern
        while True:
            await self.connected.wait()
            block_queue = queue.Queue()
            # Both decoders of this connection share one plan (added to the seed's pattern).
            self._plan = _BlockPlan(self)

            # Decode audio and video on separate threads
            audio_thread = threading.Thread(
                target=self._decode_audio, args=(block_queue,)
            )
            video_thread = threading.Thread(
                target=self._decode_video, args=(block_queue,)
            )
            audio_thread.start()
            video_thread.start()

            # Pair blocks by index and emit synchronized
            await self._demux_and_emit(block_queue)
            # A quick reconnect must not find the last connection's decoders still running.
            self._plan.stop()
            await asyncio.to_thread(audio_thread.join)
            await asyncio.to_thread(video_thread.join)

    async def _demux_and_emit(self, block_queue):
        audio_pending = {}
        video_pending = {}
        next_idx = 0

        while self.connected.is_set():
            kind, idx, data = block_queue.get()

            if kind == "audio":
                audio_pending[idx] = data
            elif kind == "video":
                video_pending[idx] = data

            # Emit when both tracks are ready for the next block
            while next_idx in audio_pending and next_idx in video_pending:
                await self.emit(AVOutput(
                    main_video=video_pending.pop(next_idx),
                    main_audio=audio_pending.pop(next_idx),
                ))
                next_idx += 1

    def _decode_audio(self, block_queue):
        plan = self._plan
        samples = plan.samples_per_block
        pending = np.zeros(0, dtype=np.int16)
        chunks = _audio_chunks(plan.path, plan.loop_samples)
        idx = 0
        try:
            while plan.wait_turn("audio", idx, block_queue, self.audio_rtf):
                if plan.playing_at(idx):
                    while pending.size < samples:
                        pending = np.concatenate([pending, next(chunks)])
                    block, pending = pending[:samples], pending[samples:]
                else:
                    block = np.zeros(samples, dtype=np.int16)
                block_queue.put(("audio", idx, block[np.newaxis]))
                idx += 1
        except Exception:
            log.exception("audio decoding of %s failed", plan.path)
            plan.stop()
        finally:
            # The demux blocks on get(): give it something to wake up to.
            block_queue.put(("stopped", -1, None))

    def _decode_video(self, block_queue):
        plan = self._plan
        frames = _video_frames(plan.path)
        last = np.zeros((plan.height, plan.width, 3), dtype=np.uint8)
        idx = 0
        try:
            while plan.wait_turn("video", idx, block_queue, self.video_rtf):
                if plan.playing_at(idx):
                    block = np.stack([next(frames) for _ in range(self.fpb)])
                    last = block[-1]
                else:
                    # Paused: the picture holds. Emitting keeps the demux awaiting emit(),
                    # which is where the model loop lets the `play` command in.
                    block = np.repeat(last[np.newaxis], self.fpb, axis=0)
                block_queue.put(("video", idx, block))
                idx += 1
        except Exception:
            log.exception("video decoding of %s failed", plan.path)
            plan.stop()
        finally:
            block_queue.put(("stopped", -1, None))


log = logging.getLogger(__name__)

LEAD_BLOCKS = 1
"""Blocks a decoder may run ahead of real time, so the demux rarely waits on get()."""
MAX_SKEW = 4
"""Blocks one decoder may run ahead of the other: the unpaired blocks held in memory."""
MAX_QUEUED = 8
"""Undelivered blocks in the queue before both decoders wait for the demux."""


class _BlockPlan:
    """What the two decoders of one connection share.

    Pause is decided once per block index, by whichever decoder reaches the
    block first, and the other follows that decision: both tracks freeze and
    resume at the same block, so they stay paired after any pause. Decoders
    produce at their real-time factor (`*_rtf` seconds of work per second of
    media) but never run ahead of the demux by more than a few blocks.
    """

    def __init__(self, model: PlaybackModel) -> None:
        path = Path(model.video_path).expanduser()
        self.path = path if path.is_absolute() else Path(__file__).resolve().parent / path
        with av.open(str(self.path)) as container:
            if not container.streams.video or not container.streams.audio:
                raise ValueError(f"{self.path}: expected a video and an audio stream")
            stream = container.streams.video[0]
            self.width, self.height = stream.codec_context.width, stream.codec_context.height
            frames = stream.frames or round(float(stream.duration * stream.time_base) * model.fps)
        samples_per_frame = round(AUDIO_SAMPLE_RATE / model.fps)
        # Each pass of the audio is cut to the video's length, so loops never drift apart.
        self.loop_samples = frames * samples_per_frame
        self.samples_per_block = samples_per_frame * model.fpb
        self.block_seconds = model.fpb / model.fps
        self.model = model
        self.started = time.monotonic()
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self._decisions: dict[int, bool] = {}
        self._position = {"audio": 0, "video": 0}

    def stop(self) -> None:
        """Make both decoders finish their current block and return."""
        self._stopped.set()

    def running(self) -> bool:
        """True while the decoders should go on."""
        return self.model.connected.is_set() and not self._stopped.is_set()

    def playing_at(self, idx: int) -> bool:
        """Whether block `idx` plays (True) or holds (False); the same for both decoders."""
        with self._lock:
            if idx in self._decisions:
                return self._decisions.pop(idx)
            self._decisions[idx] = bool(self.model.playing)
            return self._decisions[idx]

    def wait_turn(self, kind: str, idx: int, block_queue: queue.Queue, rtf: float) -> bool:
        """Wait until block `idx` of `kind` may be produced; False once decoding should stop."""
        other = "video" if kind == "audio" else "audio"
        due = self.started + (idx - LEAD_BLOCKS) * self.block_seconds * rtf
        while self.running():
            with self._lock:
                self._position[kind] = idx
                ahead = idx - self._position[other]
            if time.monotonic() >= due and ahead < MAX_SKEW and block_queue.qsize() < MAX_QUEUED:
                return True
            time.sleep(0.005)
        return False


def _video_frames(path: Path) -> Iterator[np.ndarray]:
    """The file's pictures as (H, W, 3) uint8 RGB, looping forever."""
    while True:
        count = 0
        with av.open(str(path)) as container:
            for frame in container.decode(video=0):
                count += 1
                yield frame.to_ndarray(format="rgb24")
        if count == 0:
            raise ValueError(f"{path}: no decodable video frame")


def _audio_chunks(path: Path, loop_samples: int) -> Iterator[np.ndarray]:
    """The file's audio as 48 kHz mono int16 chunks, each pass exactly `loop_samples` long."""
    while True:
        produced = 0
        with av.open(str(path)) as container:
            resampler = av.AudioResampler(format="s16", layout="mono", rate=AUDIO_SAMPLE_RATE)
            decoded = container.decode(audio=0)
            # A final None drains the resampler.
            for frame in itertools.chain(decoded, [None]):
                for out in resampler.resample(frame):
                    if produced == 0 and out.time and out.time > 0:
                        # Audio that starts late starts late here too.
                        lead = min(round(out.time * AUDIO_SAMPLE_RATE), loop_samples)
                        yield np.zeros(lead, dtype=np.int16)
                        produced = lead
                    chunk = out.to_ndarray().reshape(-1)[: max(0, loop_samples - produced)]
                    produced += chunk.size
                    yield chunk
        if produced < loop_samples:
            yield np.zeros(loop_samples - produced, dtype=np.int16)
