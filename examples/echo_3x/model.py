"""Webcam echo, 3.x style: the viewer's camera and mic come back, in batches, with metadata.

Written with what the 3.x generation adds to the seed's API, all served by this
runtime: `self.output.emit(...)`, several frames per emit with one
`TrackPayload` metadata value per frame, `MessageField` descriptions and a
message `name`, `@session_started`, a `client: ClientInfo` parameter whose
`send` reaches that viewer alone, a command taking an `UploadedFile`, the
input tracks bound as `devices: Devices` (reads return lists of frames), and
the nested manifest. The seed-style webcam echo is `examples/echo`.

`set_overlay` takes a picture the viewer uploaded (`session.upload()` of our
client, the official SDK's `upload_file`, or `{at, upload: FILE}` in a
`reactor render` script). Each frame's metadata reaches the viewer with
that frame (the official Python SDK's `on_frame` `user_data`, our client's
`VideoFrame.metadata`, our page's caption).
"""

from __future__ import annotations

import io
import time

import av
import numpy as np

from reactor_runtime import (
    FIFO,
    Audio,
    ClientInfo,
    Input,
    InputField,
    MessageField,
    ModelMessage,
    Output,
    ReactorModel,
    TrackPayload,
    UploadedFile,
    Video,
    connected,
    event,
    session_started,
)

RATE = 48_000
BATCH = 2
"""Frames per emit: the echo is produced two frames at a time, as a batched model would."""
EFFECTS = ["none", "invert", "mirror", "gray"]
PATTERN_SIZE = (240, 320)


class Devices(Input):
    webcam: Video
    mic: Audio


class Echo(Output):
    main_video: Video
    main_audio: Audio


class EchoStatus(ModelMessage):
    """The echo's settings."""

    name = "echo_status"
    effect: str = MessageField(description="effect applied to the webcam")
    overlay: bool = MessageField(False, description="whether an uploaded picture is laid over")
    viewer: str = MessageField("", description="the viewer this status was sent to, if one")


class OverlaySet(ModelMessage):
    """An uploaded picture is now laid over the echo."""

    width: int
    height: int


def apply_effect(picture: np.ndarray, effect: str) -> np.ndarray:
    """`picture` (uint8 RGB) with `effect` applied; same shape."""
    if effect == "invert":
        return 255 - picture
    if effect == "mirror":
        return np.ascontiguousarray(picture[:, ::-1])
    if effect == "gray":
        luma = picture @ np.array([0.299, 0.587, 0.114], np.float32)
        return np.repeat(luma.astype(np.uint8)[..., np.newaxis], 3, axis=2)
    return picture


def pattern(step: int) -> np.ndarray:
    """The "no webcam" picture: a dark frame with a bar sweeping across it."""
    height, width = PATTERN_SIZE
    picture = np.full((height, width, 3), 60, np.uint8)
    left = (step * 6) % (width - 20)
    picture[:, left : left + 20] = 220
    return picture


def decode_picture(upload: UploadedFile) -> np.ndarray:
    """The first picture of an uploaded image file (PNG, JPEG, ...) as uint8 RGB."""
    with av.open(io.BytesIO(upload.data)) as container:
        frame = next(container.decode(video=0))
    return frame.to_ndarray(format="rgb24")


def lay_over(picture: np.ndarray, overlay: np.ndarray, opacity: float) -> np.ndarray:
    """`overlay` stretched (nearest pixel) over `picture` and blended at `opacity`."""
    height, width = picture.shape[:2]
    rows = np.arange(height) * overlay.shape[0] // height
    cols = np.arange(width) * overlay.shape[1] // width
    stretched = overlay[rows][:, cols].astype(np.float32)
    mixed = picture.astype(np.float32) * (1 - opacity) + stretched * opacity
    return mixed.astype(np.uint8)


class WebcamEcho(ReactorModel):
    fps = 30
    output_type = Echo
    devices: Devices

    def load(self, config_path=None) -> None:
        self.samples = RATE // self.fps
        self.reset()

    def reset(self) -> None:
        self.effect = "none"
        self.overlay: np.ndarray | None = None
        self.opacity = 0.5
        self.heard = np.zeros(0, np.int16)
        self.picture: np.ndarray | None = None
        self.step = 0

    def status(self, client: ClientInfo | None = None) -> EchoStatus:
        return EchoStatus(self.effect, self.overlay is not None, client.id if client else "")

    @session_started
    def fresh_session(self) -> None:
        self.reset()

    @connected
    async def greet(self, client: ClientInfo) -> None:
        await client.send(self.status(client))

    @event(description="Choose the effect applied to your webcam")
    def set_effect(self, effect: str = InputField("none", choices=EFFECTS)) -> EchoStatus:
        self.effect = effect
        return self.status()

    @event(description="Lay an uploaded picture over the echo")
    def set_overlay(
        self, image: UploadedFile, opacity: float = InputField(0.5, ge=0, le=1)
    ) -> OverlaySet:
        self.overlay, self.opacity = decode_picture(image), opacity
        return OverlaySet(width=self.overlay.shape[1], height=self.overlay.shape[0])

    def next_picture(self) -> tuple[np.ndarray, str]:
        frames = self.devices.webcam.try_read(mode=FIFO)
        if frames is not None:
            self.picture = frames[0].data
        self.step += 1
        source = "pattern" if self.picture is None else "webcam"
        picture = apply_effect(
            pattern(self.step) if self.picture is None else self.picture, self.effect
        )
        if self.overlay is not None:
            picture = lay_over(picture, self.overlay, self.opacity)
        return picture, source

    def next_sound(self, samples: int) -> np.ndarray:
        while (chunks := self.devices.mic.try_read(mode=FIFO)) is not None:
            self.heard = np.concatenate([self.heard, chunks[0].data[0]])
        out = np.zeros(samples, np.int16)
        got = min(samples, len(self.heard))
        out[:got], self.heard = self.heard[:got], self.heard[got:]
        return out[np.newaxis]

    async def run(self) -> None:
        while True:
            await self.connected.wait()
            while self.connected.is_set():
                started = time.perf_counter()
                pictures, sources = zip(*(self.next_picture() for _ in range(BATCH)), strict=True)
                if len({p.shape for p in pictures}) > 1:
                    pictures = (pictures[-1],) * BATCH
                metadata = [
                    {"step": self.step - BATCH + i + 1, "source": s, "effect": self.effect}
                    for i, s in enumerate(sources)
                ]
                batch = TrackPayload(np.stack(pictures), metadata=metadata)
                audio = self.next_sound(self.samples * BATCH)
                await self.output.emit(
                    Echo(main_video=batch, main_audio=audio),
                    compute_time=time.perf_counter() - started,
                )
