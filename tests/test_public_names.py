"""The 3.x generation's public names that only rename ours are the same objects."""

import reactor_runtime
from reactor_runtime.media.output_buffer import OutputBuffer
from reactor_runtime.tracks import Audio, Input, Track, Video


def test_renamed_3x_names_are_aliases_not_copies():
    assert reactor_runtime.MediaInput is Input
    assert reactor_runtime.OutputStream is OutputBuffer
    assert reactor_runtime.Track is Track and issubclass(Video, Track) and issubclass(Audio, Track)
    assert reactor_runtime.BufferClosed is reactor_runtime.InputClosed
    assert isinstance(reactor_runtime.InputField(1, ge=0), reactor_runtime.FieldInfo)


def test_every_exported_name_exists():
    missing = [n for n in reactor_runtime.__all__ if not hasattr(reactor_runtime, n)]
    assert missing == []
