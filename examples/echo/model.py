"""Webcam echo: the viewer's camera comes back with an effect, their voice comes back late.

Open the page `reactor run examples/echo` serves, switch on the webcam and the mic, and
try `set_effect` and `set_voice`. With no webcam frame in the last half second the model
shows a test pattern instead, so the stream never freezes.

The media helpers (`apply_effect`, `placeholder`, `VoiceEcho`, `PitchShifter`) are plain
functions and classes of numpy arrays, testable without a session.
"""

from __future__ import annotations

import time
from typing import ClassVar

import numpy as np

from reactor_runtime import (
    FIFO,
    Audio,
    Input,
    InputField,
    ModelMessage,
    Output,
    ReactorModel,
    Video,
    connected,
    disconnected,
    event,
)

RATE = 48_000
EFFECTS = ["none", "invert", "edges", "mirror", "pixelate"]
PLACEHOLDER_SIZE = (480, 640)
STALE_AFTER = 0.5
"""Seconds without a webcam frame before the test pattern replaces the last picture."""
PIXEL_BLOCK = 16
BARS = np.array(
    [
        [191, 191, 191],
        [191, 191, 0],
        [0, 191, 191],
        [0, 191, 0],
        [191, 0, 191],
        [191, 0, 0],
        [0, 0, 191],
    ],
    dtype=np.uint8,
)
"""75 % colour bars (white, yellow, cyan, green, magenta, red, blue): unmistakably "no camera"."""


class EchoInput(Input):
    """What the viewer sends: a webcam and a microphone."""

    webcam: Video
    mic: Audio


class EchoOutput(Output):
    """What the viewer gets back."""

    main_video: Video
    main_audio: Audio


class EchoStatus(ModelMessage):
    """The echo's settings and whether the viewer's webcam and mic are coming in."""

    effect: str
    delay_ms: int
    semitones: float
    webcam: bool
    mic: bool


# --------------------------------------------------------------------------- pictures


def apply_effect(picture: np.ndarray, effect: str) -> np.ndarray:
    """Return `picture` (`(H, W, 3)` uint8 RGB) with `effect` applied; same shape and dtype.

    Raises:
        ValueError: `effect` is not one of `EFFECTS`.
    """
    if effect == "none":
        return picture
    if effect == "invert":
        return 255 - picture
    if effect == "mirror":
        return np.ascontiguousarray(picture[:, ::-1])
    if effect == "pixelate":
        return _pixelate(picture, PIXEL_BLOCK)
    if effect == "edges":
        return _edges(picture)
    raise ValueError(f"effect: expected one of {', '.join(EFFECTS)}, got {effect!r}")


def _pixelate(picture: np.ndarray, block: int) -> np.ndarray:
    h, w = (picture.shape[0] // block) * block, (picture.shape[1] // block) * block
    out = picture.copy()
    if h and w:
        cells = picture[:h, :w].reshape(h // block, block, w // block, block, 3).mean(axis=(1, 3))
        out[:h, :w] = np.repeat(np.repeat(cells.astype(np.uint8), block, axis=0), block, axis=1)
    return out


def _edges(picture: np.ndarray) -> np.ndarray:
    luma = picture.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    magnitude = np.zeros_like(luma)
    magnitude[:, 1:] += np.abs(np.diff(luma, axis=1))
    magnitude[1:, :] += np.abs(np.diff(luma, axis=0))
    glow = np.clip(magnitude * 3.0, 0, 255)
    # A cyan tint reads as "an effect" at a glance, unlike plain grey edges.
    tint = np.array([0.35, 1.0, 0.9], dtype=np.float32)
    return (glow[..., np.newaxis] * tint).astype(np.uint8)


def placeholder(step: int, size: tuple[int, int] = PLACEHOLDER_SIZE) -> np.ndarray:
    """The "no webcam" test pattern at animation `step`: colour bars over a moving block.

    The top two thirds are static bars (what tests and eyes recognise); the bottom third
    is dark grey with a white block sweeping across it, so the stream is visibly live.
    """
    height, width = size
    picture = np.empty((height, width, 3), dtype=np.uint8)
    split = height * 2 // 3
    columns = np.arange(width) * len(BARS) // width
    picture[:split] = BARS[columns][np.newaxis]
    picture[split:] = 40
    block = width // 10
    left = (step * 8) % (width - block)
    picture[split + 20 : height - 20, left : left + block] = 235
    return picture


# --------------------------------------------------------------------------- voice


class PitchShifter:
    """Shift pitch by a ratio, keeping duration: two crossfaded, sliding delay-line taps.

    Each tap reads the input through a delay that slides by `1 - ratio` samples per
    sample (so it plays back at `ratio` speed) and wraps within `window` samples; the
    taps are half a window apart and triangularly weighted, which hides the wraps.
    State (history, phase) carries across blocks, so block edges do not click.
    """

    def __init__(self, window: int = 2400) -> None:
        """Create a shifter with a `window`-sample delay range (50 ms at 48 kHz)."""
        self.window = window
        self.history = np.zeros(window + 2, dtype=np.float32)
        self.phase = 0.0

    def process(self, block: np.ndarray, ratio: float) -> np.ndarray:
        """Shift mono float32 `block` by `ratio` (2.0 is an octave up); same length out."""
        n = len(block)
        buffer = np.concatenate([self.history, block.astype(np.float32)])
        held = len(self.history)
        self.history = buffer[-held:]
        if ratio == 1.0:
            return block.astype(np.float32)
        t = np.arange(n)
        phases = self.phase + (1.0 - ratio) / self.window * (t + 1)
        self.phase = float(phases[-1] % 1.0)
        out = np.zeros(n, dtype=np.float32)
        for offset in (0.0, 0.5):
            p = (phases + offset) % 1.0
            position = held + t - p * self.window
            base = np.floor(position).astype(np.int64)
            frac = (position - base).astype(np.float32)
            after = np.minimum(base + 1, held + t)
            sample = buffer[base] * (1 - frac) + buffer[after] * frac
            out += (1.0 - np.abs(2.0 * p - 1.0)).astype(np.float32) * sample
        return out


class VoiceEcho:
    """The mic, played back `delay_ms` later (and optionally pitch-shifted).

    Mic samples arrive in network-sized chunks, output leaves in video-frame-sized ones;
    a queue between them starts with `delay` samples of silence. A backlog beyond the
    delay plus `slack` (the sender's clock running fast) is trimmed; an empty queue
    plays silence and re-primes the delay when the mic comes back.
    """

    def __init__(self, delay_ms: int = 300, semitones: float = 0.0, slack: float = 0.2) -> None:
        """Echo with `delay_ms` delay and a `semitones` pitch shift."""
        self.delay = round(delay_ms * RATE / 1000)
        self.semitones = semitones
        self.slack = round(slack * RATE)
        self.queue = np.zeros(0, dtype=np.int16)
        self.primed = False
        self.shifter = PitchShifter()
        self.last_input_at = 0.0

    def set(self, delay_ms: int, semitones: float) -> None:
        """Change the delay (re-primed on the next input) and the pitch shift."""
        delay = round(delay_ms * RATE / 1000)
        if delay != self.delay:
            self.delay = delay
            self.queue, self.primed = np.zeros(0, dtype=np.int16), False
        self.semitones = semitones

    def feed(self, samples: np.ndarray) -> None:
        """Queue mic samples, `(1, n)` or `(n,)` int16 at 48 kHz."""
        mono = np.asarray(samples, dtype=np.int16).reshape(-1)
        if not self.primed:
            self.queue = np.zeros(self.delay, dtype=np.int16)
            self.primed = True
        self.queue = np.concatenate([self.queue, mono])
        excess = len(self.queue) - (self.delay + self.slack)
        if excess > 0:
            self.queue = self.queue[excess:]
        self.last_input_at = time.monotonic()

    def take(self, n: int) -> np.ndarray:
        """The next `n` output samples as `(1, n)` int16 (silence where the queue ran dry)."""
        out = np.zeros(n, dtype=np.int16)
        got = min(n, len(self.queue))
        out[:got] = self.queue[:got]
        self.queue = self.queue[got:]
        if got < n and self.primed:
            self.primed = False
        if self.semitones:
            shifted = self.shifter.process(out.astype(np.float32), 2.0 ** (self.semitones / 12))
            out = np.clip(shifted, -32768, 32767).astype(np.int16)
        return out[np.newaxis]


# --------------------------------------------------------------------------- model


class EchoModel(ReactorModel):
    """Echo the viewer's webcam with an effect and their mic with a delay or pitch shift."""

    fps: ClassVar[float] = 30
    output_type: ClassVar[type[Output] | None] = EchoOutput
    input_type: ClassVar[type[Input] | None] = EchoInput

    def load(self, config: dict) -> None:
        """Read `effect`, `delay_ms` and `semitones` defaults from `config`."""
        self.effect = str(config.get("effect", "none"))
        if self.effect not in EFFECTS:
            raise ValueError(f"effect: expected one of {', '.join(EFFECTS)}, got {self.effect!r}")
        self.voice = VoiceEcho(int(config.get("delay_ms", 300)), float(config.get("semitones", 0)))
        self._samples = round(RATE / self.fps)
        self._picture: np.ndarray | None = None
        self._picture_at = 0.0
        self._step = 0
        self._reported: tuple[bool, bool] | None = None

    def status(self) -> EchoStatus:
        """The current settings and input presence as a message."""
        webcam, mic = self._inputs_live()
        delay_ms = round(self.voice.delay * 1000 / RATE)
        return EchoStatus(self.effect, delay_ms, self.voice.semitones, webcam, mic)

    def _inputs_live(self) -> tuple[bool, bool]:
        now = time.monotonic()
        webcam = self._picture is not None and now - self._picture_at < STALE_AFTER
        return webcam, now - self.voice.last_input_at < STALE_AFTER

    @connected
    async def on_connect(self) -> None:
        """Tell the new viewer the settings."""
        await self.send(self.status())

    @disconnected
    async def on_disconnect(self) -> None:
        """Forget the last viewer's picture so the next one starts from the test pattern."""
        self._picture = None
        self._reported = None

    @event(name="set_effect", description="Choose the effect applied to your webcam")
    async def set_effect(
        self, effect: str = InputField("none", choices=EFFECTS, description="picture effect")
    ) -> EchoStatus:
        """Apply `effect` to the webcam from the next frame on."""
        self.effect = effect
        return self.status()

    @event(name="set_voice", description="Change how your microphone comes back")
    async def set_voice(
        self,
        delay_ms: int = InputField(300, ge=60, le=2000, description="echo delay in ms"),
        semitones: float = InputField(0, ge=-12, le=12, description="pitch shift; 0 keeps it"),
    ) -> EchoStatus:
        """Echo the mic `delay_ms` later, shifted by `semitones`."""
        self.voice.set(delay_ms, semitones)
        return self.status()

    def next_picture(self) -> np.ndarray:
        """The newest webcam frame with the effect applied, or the test pattern."""
        frame = self.input.webcam.try_read()
        if frame is not None:
            self._picture, self._picture_at = frame.data, time.monotonic()
        self._step += 1
        if self._picture is None or time.monotonic() - self._picture_at > STALE_AFTER:
            return placeholder(self._step)
        return apply_effect(self._picture, self.effect)

    def next_sound(self) -> np.ndarray:
        """One frame's worth of echoed mic audio, `(1, samples)` int16."""
        # Every buffered chunk, oldest first: skipping any would cut holes in the voice.
        while (chunk := self.input.mic.try_read(mode=FIFO)) is not None:
            self.voice.feed(chunk.data)
        return self.voice.take(self._samples)

    async def run(self) -> None:
        """Emit the echoed picture and sound per frame while a viewer watches."""
        while True:
            await self.connected.wait()
            while self.connected.is_set():
                await self.emit(EchoOutput(self.next_picture(), self.next_sound()))
                live = self._inputs_live()
                if live != self._reported:
                    self._reported = live
                    await self.send(self.status())
