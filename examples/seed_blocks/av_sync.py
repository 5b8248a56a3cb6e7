"""Seed block: `AVModel` pairs separately decoded audio and video blocks by index.

The page leaves `_decode_audio` / `_decode_video` to the author (see
`examples/playback/model.py` for real ones); a subclass supplies them. The
`AVOutput` it emits is the page's "Full example" declaration.
"""

# ruff: noqa: I001
# What the page's block takes from elsewhere on the page:
from dataclasses import dataclass
from reactor_runtime import Audio, Output, ReactorModel, Video

import queue
import threading

AUDIO_SAMPLE_RATE = 48000

class AVModel(ReactorModel):
    fps = 30

    def load(self, config):
        self.fpb = config.get("frames_per_block", 3)

    async def run(self):
        while True:
            await self.connected.wait()
            block_queue = queue.Queue()

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


@dataclass
class AVOutput(Output):
    main_video: Video
    main_audio: Audio
