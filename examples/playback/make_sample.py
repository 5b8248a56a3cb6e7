"""Make `sample.mp4`: 4 s of 640x360@30 H.264 + 48 kHz AAC with a flash and a click each second.

The flashes (a white frame) and the clicks (a 10 ms 2 kHz burst) start
together at 0.5 s, 1.5 s, ..., so the file shows A/V sync at a glance (and to
a detector). Run it from anywhere: `python examples/playback/make_sample.py`.
"""

from __future__ import annotations

import argparse
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

WIDTH, HEIGHT, FPS, RATE = 640, 360, 30, 48_000


def picture(index: int) -> np.ndarray:
    """A diagonal colour ramp scrolling right, with a bar sweeping down."""
    x = np.arange(WIDTH, dtype=np.int32)[np.newaxis, :]
    y = np.arange(HEIGHT, dtype=np.int32)[:, np.newaxis]
    shift = index * 8
    image = np.empty((HEIGHT, WIDTH, 3), dtype=np.uint8)
    image[..., 0] = ((x + shift) // 2) % 256
    image[..., 1] = (y * 255) // HEIGHT
    image[..., 2] = (96 + (x + y + shift) // 4) % 256
    top = (index * 6) % HEIGHT
    image[top : top + 24] //= 3
    return image // 2 + 20  # stay well below the flash's white


def click(samples: int = RATE // 100, frequency: float = 2000.0) -> np.ndarray:
    """A short tone burst: AAC keeps its onset sharp, unlike a one-sample impulse."""
    t = np.arange(samples) / RATE
    return (0.8 * 32767 * np.sin(2 * np.pi * frequency * t)).astype(np.int16)


def make(path: Path, seconds: float = 4.0, events: tuple[float, ...] | None = None) -> None:
    """Write `seconds` of the pattern with a flash and a click at each time in `events`."""
    events = events if events is not None else tuple(k + 0.5 for k in range(int(seconds)))
    frames = round(seconds * FPS)
    flash_frames = {round(t * FPS) for t in events}
    audio = np.zeros(round(seconds * RATE), dtype=np.int16)
    burst = click()
    for t in events:
        start = round(t * RATE)
        audio[start : start + burst.size] = burst[: audio.size - start]
    # A quiet hum under the clicks keeps the track audibly alive between them.
    hum = 0.03 * 32767 * np.sin(2 * np.pi * 220 * np.arange(audio.size) / RATE)
    audio = np.clip(audio + hum, -32768, 32767).astype(np.int16)
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=FPS, options={"preset": "medium", "crf": "30"})
        video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        sound = container.add_stream("aac", rate=RATE, layout="mono")
        sound.bit_rate = 64_000
        for index in range(frames):
            image = np.full((HEIGHT, WIDTH, 3), 255, np.uint8) if index in flash_frames else None
            frame = av.VideoFrame.from_ndarray(
                picture(index) if image is None else image, format="rgb24"
            )
            frame.pts, frame.time_base = index, Fraction(1, FPS)
            container.mux(video.encode(frame))
        for start in range(0, audio.size, 1024):
            chunk = audio[np.newaxis, start : start + 1024]
            frame = av.AudioFrame.from_ndarray(chunk, format="s16", layout="mono")
            frame.sample_rate, frame.pts, frame.time_base = RATE, start, Fraction(1, RATE)
            container.mux(sound.encode(frame))
        container.mux(video.encode(None))
        container.mux(sound.encode(None))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=Path(__file__).with_name("sample.mp4"))
    parser.add_argument("--seconds", type=float, default=4.0)
    options = parser.parse_args()
    make(options.output, options.seconds)
    print(f"wrote {options.output} ({options.output.stat().st_size // 1024} KB)")
