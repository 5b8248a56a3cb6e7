import sys
import textwrap
import types
from dataclasses import dataclass

import numpy as np
import pytest

from reactor_runtime import Audio, Input, Output, TrackPayload, Video
from reactor_runtime.model import declared_tracks
from reactor_runtime.tracks import merge_tracks


class Audio16k(Audio):
    sample_rate = 16_000


class Stereo(Audio):
    channels = 2


@dataclass
class AV(Output):
    main_video: Video
    main_audio: Audio16k


class Plain(Output):
    main_video: Video


def test_output_fields_become_tracks_in_declaration_order():
    assert [(t.name, t.kind, t.type) for t in AV.tracks()] == [
        ("main_video", "video", Video),
        ("main_audio", "audio", Audio16k),
    ]


def test_dataclass_decorator_is_optional():
    out = Plain(main_video=np.zeros((2, 2, 3), np.uint8))
    assert out.main_video.shape == (2, 2, 3)
    assert [t.name for t in Plain.tracks()] == ["main_video"]


def test_a_field_that_is_not_a_track_is_refused_with_its_name():
    class Bad(Input):
        webcam: int

    with pytest.raises(TypeError, match=r"Bad\.webcam.*Video or Audio"):
        Bad.tracks()


def test_single_video_frame_becomes_a_batch_of_one():
    out = Video.validate("v", np.zeros((4, 6, 3), np.uint8))
    assert out.shape == (1, 4, 6, 3)


def test_video_with_wrong_dtype_names_track_and_dtypes():
    with pytest.raises(TypeError, match=r"track 'main_video'.*uint8.*float32"):
        Video.validate("main_video", np.zeros((4, 4, 3), np.float32))


def test_video_with_wrong_shape_names_track_and_shapes():
    with pytest.raises(ValueError, match=r"track 'main_video'.*\(H, W, 3\).*\(4, 4, 4\)"):
        Video.validate("main_video", np.zeros((4, 4, 4), np.uint8))


def test_video_that_is_not_an_array_names_the_type():
    with pytest.raises(TypeError, match=r"track 'v'.*got str"):
        Video.validate("v", "not a frame")


def test_objects_with_array_interface_are_accepted():
    class Tensorish:
        def __array__(self, dtype=None, copy=None):
            return np.ones((2, 2, 3), np.uint8)

    assert Video.validate("v", Tensorish()).shape == (1, 2, 2, 3)


def test_audio_float_is_converted_to_int16():
    out = Audio.validate("a", np.array([[0.0, 1.0, -1.0, 2.0]], np.float32))
    assert out.dtype == np.int16
    assert out.tolist() == [[0, 32767, -32767, 32767]]


def test_audio_with_wrong_channel_count_names_expected_and_actual():
    with pytest.raises(ValueError, match=r"track 'main_audio'.*2 channel.*\(1, 100\)"):
        Stereo.validate("main_audio", np.zeros((1, 100), np.int16))


def test_audio_transposed_gets_a_hint():
    with pytest.raises(ValueError, match="transpose"):
        Stereo.validate("a", np.zeros((100, 2), np.int16))


def test_audio_with_wrong_dtype_names_it():
    with pytest.raises(TypeError, match=r"track 'a'.*int16.*int32"):
        Audio.validate("a", np.zeros((1, 10), np.int32))


def test_mono_audio_accepts_a_flat_array():
    assert Audio.validate("a", np.zeros(10, np.int16)).shape == (1, 10)


def model_module(source: str):
    """A model module defined from `source`, as `reactor run` would import it."""
    module = types.ModuleType(f"m3x_{abs(hash(source))}")
    sys.modules[module.__name__] = module
    exec(textwrap.dedent(source), module.__dict__)
    return module


def test_several_output_and_input_classes_on_one_model_merge_their_tracks():
    module = model_module(
        """
        from reactor_runtime import Audio, Input, Output, ReactorModel, Video
        class Picture(Output):
            main_video: Video
        class Sound(Output):
            main_audio: Audio
            main_video: Video
        class Camera(Input):
            webcam: Video
        class Mic(Input):
            mic: Audio
        class Both(ReactorModel):
            pass
        """
    )
    outputs, inputs = declared_tracks(module.Both)

    assert [(t.name, t.kind) for t in outputs] == [("main_video", "video"), ("main_audio", "audio")]
    assert [(t.name, t.kind) for t in inputs] == [("webcam", "video"), ("mic", "audio")]


def test_a_track_name_declared_in_both_directions_is_refused():
    module = model_module(
        """
        from reactor_runtime import Input, Output, ReactorModel, Video
        class Out(Output):
            camera: Video
        class In(Input):
            camera: Video
        class Loop(ReactorModel):
            pass
        """
    )
    with pytest.raises(TypeError, match=r"Loop: track\(s\) camera declared both as output and"):
        declared_tracks(module.Loop)


def test_a_track_name_declared_with_two_kinds_is_refused():
    class First(Output):
        main: Video

    class Second(Output):
        main: Audio

    with pytest.raises(TypeError, match=r"'main': declared as Video in First and as Audio in"):
        merge_tracks([First, Second])


def test_track_payload_metadata_is_one_encoded_value_per_frame():
    batch = np.zeros((2, 2, 2, 3), np.uint8)

    assert TrackPayload(batch, metadata=[{"i": 0}, b"\x01"]).encode("v", Video, 2) == [
        b'{"i":0}',
        b"\x01",
    ]
    assert TrackPayload(batch[0], metadata={"seed": 7}).encode("v", Video, 1) == [b'{"seed":7}']
    assert TrackPayload(batch[0]).encode("v", Video, 1) is None


@pytest.mark.parametrize(
    ("payload", "kind", "frames", "problem"),
    [
        (TrackPayload(np.zeros((1, 8)), metadata={}), Audio, 1, r"'a': audio carries no frame"),
        (TrackPayload(np.zeros((2, 1, 1, 3)), metadata=[{}]), Video, 2, r"one metadata value per"),
        (TrackPayload(np.zeros((2, 1, 1, 3)), metadata={}), Video, 2, r"takes a list of 2"),
        (TrackPayload(np.zeros((1, 1, 3)), metadata={"x": {1, 2}}), Video, 1, r"JSON-serial"),
    ],
)
def test_unusable_metadata_is_refused_naming_the_track(payload, kind, frames, problem):
    with pytest.raises(ValueError, match=problem):
        payload.encode("a" if kind is Audio else "v", kind, frames)
