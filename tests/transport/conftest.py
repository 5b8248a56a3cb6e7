"""Real aiortc peers on loopback, a tiny model run through the real `Session`.

Everything a transport test needs comes from fixtures (no cross-module imports):
`session` (a started `Session` of `TinyModel`), `hub` (its started `MediaHub`),
`make_textured_hub` (hubs over `TexturedModel`, moving 720p texture, with options),
`make_peer` (server `ViewerPeer`s, closed at teardown) and `make_client`
(`Client`s: an aiortc peer that offers like the official SDKs do).
"""

from __future__ import annotations

import asyncio
import fractions
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import av
import numpy as np
import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from reactor_runtime import (
    Audio,
    CommandError,
    Input,
    InputField,
    ModelMessage,
    Output,
    ReactorModel,
    Video,
    event,
)
from reactor_runtime.session import Session
from reactor_runtime.transport import MediaHub, ViewerPeer
from reactor_runtime.transport.ice import configuration, use_host_addresses

WIDTH, HEIGHT = 160, 120
SAMPLES_PER_FRAME = 1600  # 1/30 s at 48 kHz


class TinyOutput(Output):
    main_video: Video
    main_audio: Audio


class TinyInput(Input):
    webcam: Video
    mic: Audio


class Echoed(ModelMessage):
    text: str


class TinyModel(ReactorModel):
    fps = 30
    output_type = TinyOutput
    input_type = TinyInput

    def load(self, config: dict) -> None:
        self.level = 40
        self.count = 0
        self.stall = 0.0

    async def run(self) -> None:
        tone = (np.sin(np.arange(SAMPLES_PER_FRAME) * 2 * np.pi * 440 / 48_000) * 8000).astype(
            np.int16
        )[np.newaxis]
        while True:
            await self.connected.wait()
            if self.stall:
                await asyncio.sleep(self.stall)
                self.stall = 0.0
            picture = np.full((HEIGHT, WIDTH, 3), self.level, dtype=np.uint8)
            picture[:, :, 0] = self.count % 256
            self.count += 1
            await self.emit(TinyOutput(main_video=picture, main_audio=tone))

    @event(description="Set the grey level")
    async def set_level(self, value: int = InputField(40, ge=0, le=255)) -> Echoed:
        self.level = value
        return Echoed(text=f"level {value}")

    @event(description="Broadcast a message")
    async def say(self, text: str) -> None:
        await self.send(Echoed(text=text))

    @event(description="Stop emitting for a while")
    async def stall_for(self, seconds: float) -> None:
        self.stall = seconds

    @event(description="Always refuses")
    async def refuse(self) -> None:
        raise CommandError("nope", "not today")


class Webcam(MediaStreamTrack):
    """A client camera: 160x120 frames at 30 fps."""

    kind = "video"

    def __init__(self) -> None:
        super().__init__()
        self.n = 0
        self.started: float | None = None

    async def recv(self) -> av.VideoFrame:
        if self.started is None:
            self.started = time.monotonic()
        self.n += 1
        await asyncio.sleep(max(0.0, self.started + self.n / 30 - time.monotonic()))
        frame = av.VideoFrame.from_ndarray(
            np.full((HEIGHT, WIDTH, 3), 90, dtype=np.uint8), format="rgb24"
        )
        frame.pts = self.n * 3000
        frame.time_base = fractions.Fraction(1, 90_000)
        return frame


class Mic(MediaStreamTrack):
    """A client microphone: a 440 Hz stereo tone in 20 ms frames, in real time."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self.n = 0
        self.started: float | None = None

    async def recv(self) -> av.AudioFrame:
        if self.started is None:
            self.started = time.monotonic()
        await asyncio.sleep(max(0.0, self.started + self.n * 0.02 - time.monotonic()))
        t = (self.n * 960 + np.arange(960)) / 48_000
        tone = (np.sin(2 * np.pi * 440 * t) * 6000).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(
            np.repeat(tone, 2)[np.newaxis], format="s16", layout="stereo"
        )
        frame.sample_rate = 48_000
        frame.pts = self.n * 960
        frame.time_base = fractions.Fraction(1, 48_000)
        self.n += 1
        return frame


class Client:
    """An aiortc viewer that offers one transceiver per track, then its data channels."""

    def __init__(
        self,
        *,
        outputs: tuple[tuple[str, str], ...] = (("main_video", "video"), ("main_audio", "audio")),
        webcam: bool = False,
        mic: bool = False,
        labels: tuple[str, ...] = ("data",),
    ) -> None:
        self.pc = RTCPeerConnection(configuration([]))
        self.outputs = outputs
        self.webcam = Webcam() if webcam else None
        self.mic = Mic() if mic else None
        self.labels = labels
        self.channels: dict[str, Any] = {}
        self.inbox: dict[str, asyncio.Queue[Any]] = defaultdict(asyncio.Queue)
        self.frames: dict[str, list[Any]] = defaultdict(list)
        self.mapping: list[dict[str, str]] = []
        self._readers: list[asyncio.Task[None]] = []
        self._by_mid: dict[str, str] = {}
        self._arrived = asyncio.Event()
        self.pc.on("track", self._on_track)

    async def offer(self, *, strip_candidates: bool = False) -> str:
        transceivers = [(n, self.pc.addTransceiver(k, "recvonly")) for n, k in self.outputs]
        if self.webcam is not None:
            transceivers.append(("webcam", self.pc.addTransceiver(self.webcam, "sendonly")))
        if self.mic is not None:
            transceivers.append(("mic", self.pc.addTransceiver(self.mic, "sendonly")))
        for label in self.labels:
            channel = self.pc.createDataChannel(label)
            self.channels[label] = channel
            channel.on("message", lambda m, label=label: self.inbox[label].put_nowait(m))
        use_host_addresses(self.pc, ["127.0.0.1"])
        await self.pc.setLocalDescription(await self.pc.createOffer())
        for name, t in transceivers:
            kind = t.kind
            direction = "sendonly" if name in ("webcam", "mic") else "recvonly"
            self.mapping.append({"mid": t.mid, "name": name, "kind": kind, "direction": direction})
            self._by_mid[t.mid] = name
        sdp = self.pc.localDescription.sdp
        if strip_candidates:
            sdp = "".join(
                line
                for line in sdp.splitlines(keepends=True)
                if not line.startswith(("a=candidate", "a=end-of-candidates"))
            )
        return sdp

    def candidates(self) -> list[dict[str, Any]]:
        """This client's candidates in the Python SDK's JSON shape, once per mid."""
        sdp = self.pc.localDescription.sdp
        lines = [ln[2:] for ln in sdp.splitlines() if ln.startswith("a=candidate:")]
        return [
            {"candidate": line, "sdp_mid": m["mid"], "sdp_mline_index": i}
            for i, m in enumerate(self.mapping)
            for line in dict.fromkeys(lines)
        ]

    async def connect(self, peer: ViewerPeer) -> str:
        answer = await peer.answer(await self.offer(), self.mapping)
        await self.accept(answer)
        return answer

    async def accept(self, answer: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))

    def _on_track(self, track: MediaStreamTrack) -> None:
        mid = next(t.mid for t in self.pc.getTransceivers() if t.receiver.track is track)
        self._readers.append(asyncio.ensure_future(self._read(self._by_mid.get(mid, mid), track)))

    async def _read(self, name: str, track: MediaStreamTrack) -> None:
        try:
            while True:
                self.frames[name].append(await track.recv())
                self._arrived.set()
        except MediaStreamError:
            pass

    async def wait_frames(self, name: str, count: int, timeout: float = 10.0) -> list[Any]:
        await until(lambda: len(self.frames[name]) >= count, timeout)
        return self.frames[name]

    async def next_message(self, label: str = "data", timeout: float = 5.0) -> Any:
        return await asyncio.wait_for(self.inbox[label].get(), timeout)

    async def wait_open(self, timeout: float = 10.0) -> None:
        await until(lambda: all(c.readyState == "open" for c in self.channels.values()), timeout)

    async def close(self) -> None:
        for task in self._readers:
            task.cancel()
        await self.pc.close()


async def until(predicate: Callable[[], bool], timeout: float = 5.0, step: float = 0.02) -> None:
    """Wait until `predicate()` holds; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(step)


@pytest.fixture
def wait_until() -> Callable[..., Any]:
    return until


@pytest.fixture
async def session():
    session = Session(TinyModel, name="tiny")
    await session.start()
    try:
        yield session
    finally:
        await session.stop()


@pytest.fixture
async def hub(session: Session):
    hub = MediaHub(session)
    hub.start()
    try:
        yield hub
    finally:
        hub.stop()


@pytest.fixture
async def make_peer(session: Session, hub: MediaHub):
    peers: list[ViewerPeer] = []

    def make(viewer_id: str = "viewer-1", family: str | None = "v0", **kwargs: Any) -> ViewerPeer:
        peer = ViewerPeer(
            session, kwargs.pop("hub", hub), viewer_id=viewer_id, family=family, **kwargs
        )
        peers.append(peer)
        return peer

    yield make
    await asyncio.gather(*(p.close("test over") for p in peers))


@pytest.fixture
async def make_client():
    clients: list[Client] = []

    def make(**kwargs: Any) -> Client:
        client = Client(**kwargs)
        clients.append(client)
        return client

    yield make
    await asyncio.gather(*(c.close() for c in clients))


class TexturedOutput(Output):
    main_video: Video


class TexturedModel(ReactorModel):
    """A moving 720p texture: ~10 packets a frame at 2.5 Mbit/s, so 128 packets last
    well under a second, and an encoder that meets the rates it is given."""

    fps = 30
    output_type = TexturedOutput

    def load(self, config: dict) -> None:
        rng = np.random.default_rng(7)
        y, x = np.mgrid[0:784, 0:1344]
        wave = 127 + 50 * np.sin(x / 6.0) * np.cos(y / 9.0) + rng.normal(0, 6, x.shape)
        gray = wave.clip(0, 255).astype(np.uint8)
        self.canvas = np.repeat(gray[:, :, None], 3, axis=2)

    async def run(self) -> None:
        n = 0
        while True:
            await self.connected.wait()
            dy, dx = (n * 2) % 64, (n * 3) % 64
            picture = np.ascontiguousarray(self.canvas[dy : dy + 720, dx : dx + 1280])
            await self.emit(TexturedOutput(main_video=picture))
            n += 1


@pytest.fixture
async def make_textured_hub():
    hubs: list[MediaHub] = []

    async def make(**options: Any) -> MediaHub:
        session = Session(TexturedModel, name="textured")
        await session.start()
        hub = MediaHub(session, **options)
        hub.start()
        hubs.append(hub)
        return hub

    yield make
    for hub in hubs:
        hub.stop()
        await hub.session.stop()
