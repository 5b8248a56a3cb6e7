from dataclasses import dataclass

import numpy as np
import pytest

from reactor_runtime import Audio, Input, Output, Video


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
