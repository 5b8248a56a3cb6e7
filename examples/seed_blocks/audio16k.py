"""Seed block: a 16 kHz audio track, resampled to 48 kHz by the runtime."""

# ruff: noqa: I001
# What the page's block takes from its first block:
from dataclasses import dataclass
from reactor_runtime import Output, Video

from reactor_runtime import Audio

class Audio16k(Audio):
    sample_rate = 16_000

@dataclass
class MyOutput(Output):
    main_video: Video
    main_audio: Audio16k
