"""The built-in demo model: a scrolling colour gradient, a moving disc and a sine tone.

`reactor run` serves it when no model is given. It costs well under 5 ms per
640x360 frame on one core: the gradient is computed once and only sliced per
frame, the disc is a precomputed mask painted into a small window.
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np

from .config import Project
from .events import InputField, connected, event
from .messages import ModelMessage
from .model import ReactorModel
from .tracks import TRANSPORT_SAMPLE_RATE, Audio, Output, Video

WIDTH, HEIGHT = 640, 360
RADIUS = 44
COLORS: dict[str, tuple[int, int, int]] = {
    "orange": (255, 140, 0),
    "red": (230, 30, 40),
    "green": (40, 220, 80),
    "blue": (30, 90, 255),
    "purple": (150, 50, 220),
    "white": (255, 255, 255),
}


class DemoOutput(Output):
    """The demo's tracks: one picture, one mono tone."""

    main_video: Video
    main_audio: Audio


class DemoStatus(ModelMessage):
    """The demo's settings, sent when a viewer connects and after each command."""

    color: str
    speed: float
    frequency: float
    mute: bool


def _gradient(width: int, height: int) -> np.ndarray:
    """A hue sweep across two periods of `width`, darkening towards the bottom."""
    hue = (np.arange(2 * width) % width) / width * 2 * np.pi
    rgb = np.stack([np.sin(hue + shift) for shift in (0, 2.094, 4.189)], axis=-1) * 0.5 + 0.5
    shade = np.linspace(1.0, 0.35, height)[:, np.newaxis, np.newaxis]
    return np.ascontiguousarray((rgb[np.newaxis] * shade * 220).astype(np.uint8))


def _disc(radius: int) -> np.ndarray:
    y, x = np.mgrid[-radius:radius, -radius:radius]
    return (x * x + y * y) < radius * radius


class DemoModel(ReactorModel):
    """A moving, colourful picture and a continuous tone, steered by four commands."""

    fps: ClassVar[float] = 30
    output_type: ClassVar[type[Output] | None] = DemoOutput

    def load(self, config: dict) -> None:
        """Precompute the picture's parts; `config` may set `color`, `speed`, `frequency`."""
        self.color = str(config.get("color", "orange"))
        if self.color not in COLORS:
            raise ValueError(f"color: expected one of {', '.join(COLORS)}, got {self.color!r}")
        self.speed = float(config.get("speed", 1.0))
        self.frequency = float(config.get("frequency", 440.0))
        self.mute = bool(config.get("mute", False))
        self._background = _gradient(WIDTH, HEIGHT)
        self._mask = _disc(RADIUS)
        self._position = 0.0
        self._phase = 0.0
        self._samples = round(TRANSPORT_SAMPLE_RATE / self.fps)

    def status(self) -> DemoStatus:
        """The current settings as a message."""
        return DemoStatus(self.color, self.speed, self.frequency, self.mute)

    @connected
    async def on_connect(self) -> None:
        """Tell the new viewer the current settings."""
        await self.send(self.status())

    @event(name="set_color", description="Change the colour of the disc")
    async def set_color(
        self, color: str = InputField("orange", choices=list(COLORS), description="disc colour")
    ) -> None:
        """Paint the disc in `color`."""
        self.color = color
        await self.send(self.status())

    @event(name="set_speed", description="Change how fast the picture moves")
    async def set_speed(
        self, speed: float = InputField(1.0, ge=0, le=5, description="1 is normal, 0 stops")
    ) -> None:
        """Scale the motion of the gradient and the disc."""
        self.speed = speed
        await self.send(self.status())

    @event(name="set_tone", description="Change the tone's pitch, or mute it")
    async def set_tone(
        self,
        frequency: float = InputField(440, ge=50, le=2000, description="pitch in Hz"),
        mute: bool = False,
    ) -> None:
        """Play a sine at `frequency` (silence when `mute`)."""
        self.frequency = frequency
        self.mute = mute
        await self.send(self.status())

    def next_picture(self) -> np.ndarray:
        """Advance the motion by one frame and draw it: `(HEIGHT, WIDTH, 3)` uint8."""
        self._position += 4.0 * self.speed
        offset = int(self._position) % WIDTH
        frame = self._background[:, offset : offset + WIDTH].copy()
        t = self._position / 120.0
        cx = int(WIDTH / 2 + (WIDTH / 2 - RADIUS - 8) * math.sin(t))
        cy = int(HEIGHT / 2 + (HEIGHT / 2 - RADIUS - 8) * math.sin(1.7 * t))
        window = frame[cy - RADIUS : cy + RADIUS, cx - RADIUS : cx + RADIUS]
        window[self._mask] = COLORS[self.color]
        return frame

    def next_tone(self) -> np.ndarray:
        """The next frame's worth of the tone: `(1, samples)` int16, phase-continuous."""
        if self.mute:
            return np.zeros((1, self._samples), dtype=np.int16)
        step = 2 * np.pi * self.frequency / TRANSPORT_SAMPLE_RATE
        phases = self._phase + step * np.arange(1, self._samples + 1)
        # Keep the phase small so float error never builds up over hours.
        self._phase = float(phases[-1] % (2 * np.pi))
        return (np.sin(phases) * 0.25 * 32767).astype(np.int16)[np.newaxis]

    async def run(self) -> None:
        """Emit one picture and its tone per frame while a viewer watches."""
        while True:
            await self.connected.wait()
            while self.connected.is_set():
                await self.emit(DemoOutput(self.next_picture(), self.next_tone()))


def project() -> Project:
    """The demo as a loadable project (what `reactor run` serves with no model given)."""
    return Project(DemoModel, "demo", {})
