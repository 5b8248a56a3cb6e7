"""An audio-only model: a 440 Hz tone and no video track (vanish-detection tests).

Its `@disconnected` hook prints `audio-only: viewer left (N)` to stdout, so a test that
reads the server's output sees the hook run.
"""

import numpy as np

from reactor_runtime import Audio, Output, ReactorModel, disconnected

RATE = 48_000


class AudioOnlyOutput(Output):
    main_audio: Audio


class AudioOnlyModel(ReactorModel):
    fps = 50

    def load(self, config: dict) -> None:
        self.left = 0

    @disconnected
    def viewer_left(self) -> None:
        self.left += 1
        print(f"audio-only: viewer left ({self.left})", flush=True)

    async def run(self) -> None:
        samples = RATE // self.fps
        n = 0
        while True:
            await self.connected.wait()
            t = (n * samples + np.arange(samples)) / RATE
            tone = (np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16)[np.newaxis]
            await self.emit(AudioOnlyOutput(main_audio=tone))
            n += 1
