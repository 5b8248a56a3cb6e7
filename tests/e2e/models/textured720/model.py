"""720p30 textured video that needs every bit it gets (network adaptation tests).

A fine sinusoidal texture with grain, moving a few pixels each frame: VP8 at
2.5 Mbit/s stays busy, so a capped link really bites and a rate change shows.
"""

import numpy as np

from reactor_runtime import Output, ReactorModel, Video

WIDTH, HEIGHT = 1280, 720
MARGIN = 64


class TexturedOutput(Output):
    main_video: Video


class TexturedModel(ReactorModel):
    fps = 30
    output_type = TexturedOutput

    def load(self, config: dict) -> None:
        rng = np.random.default_rng(11)
        y, x = np.mgrid[0 : HEIGHT + MARGIN, 0 : WIDTH + MARGIN]
        wave = 127 + 50 * np.sin(x / 6.0) * np.cos(y / 9.0) + rng.normal(0, 6, x.shape)
        gray = wave.clip(0, 255).astype(np.uint8)
        self.canvas = np.stack([gray, np.roll(gray, 7, axis=1), np.roll(gray, 13, axis=0)], -1)

    async def run(self) -> None:
        n = 0
        while True:
            await self.connected.wait()
            dy, dx = (n * 2) % MARGIN, (n * 3) % MARGIN
            picture = np.ascontiguousarray(self.canvas[dy : dy + HEIGHT, dx : dx + WIDTH])
            await self.emit(TexturedOutput(main_video=picture))
            n += 1
