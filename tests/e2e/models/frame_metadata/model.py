"""Frame metadata both ways: each emitted frame is tagged, each tagged webcam frame reported.

Every video frame goes out as `TrackPayload(picture, metadata={"n": N})`, N counting
from 1, painted the gray level `shade(N)`. Each webcam frame that arrives with metadata or a capture time is answered by
an `input_tagged` message carrying both (the metadata as text), so a client sees
what the model read.
"""

import numpy as np

from reactor_runtime import (
    FIFO,
    Input,
    ModelMessage,
    Output,
    ReactorModel,
    TrackPayload,
    Video,
)


def shade(n: int) -> int:
    """The gray level of frame `n`: mid-range, where a YUV round trip keeps it."""
    return 40 + n * 4 % 160


class Webcam(Input):
    webcam: Video


class Tagged(Output):
    main_video: Video


class InputTagged(ModelMessage):
    metadata: str
    capture_time_us: int


class FrameMetadataModel(ReactorModel):
    fps = 30
    input_type = Webcam
    output_type = Tagged

    def load(self, config: dict) -> None:
        self.n = 0

    async def run(self) -> None:
        while True:
            await self.connected.wait()
            while (frame := self.input.webcam.try_read(mode=FIFO)) is not None:
                if frame.metadata is not None or frame.capture_time_us is not None:
                    text = (frame.metadata or b"").decode(errors="replace")
                    await self.send(InputTagged(text, frame.capture_time_us or 0))
            self.n += 1
            picture = np.full((96, 128, 3), shade(self.n), np.uint8)
            await self.emit(Tagged(main_video=TrackPayload(picture, metadata={"n": self.n})))
