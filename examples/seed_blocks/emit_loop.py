"""Seed blocks: the Output with audio, then the run loop that emits it.

`run` is a function taking `self`, as on the page: a model adopts it with
`run = emit_loop.run` and provides `self.pipe` and `self.prompt`.
"""

# ruff: noqa: I001
from dataclasses import dataclass
from reactor_runtime import Audio, Output, Video

@dataclass
class MyOutput(Output):
    main_video: Video
    main_audio: Audio


async def run(self):
    while True:
        await self.connected.wait()
        while self.connected.is_set():
            video_frame = self.pipe.forward(prompt=self.prompt)
            audio_samples = self.pipe.generate_audio()
            await self.emit(MyOutput(
                main_video=video_frame,    # (H, W, 3) uint8
                main_audio=audio_samples,  # (1, N) int16
            ))
