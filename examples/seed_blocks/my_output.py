"""Seed block: declare an Audio track next to a Video track on an Output."""

# ruff: noqa: I001
from dataclasses import dataclass
from reactor_runtime import Audio, Output, Video

@dataclass
class MyOutput(Output):
    main_video: Video
    main_audio: Audio
