import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from reactor_runtime.media.av_split import split_emit


def test_batch_of_three_frames_gets_three_frames_with_a_third_of_the_audio_each():
    video = {"v": np.arange(3, dtype=np.uint8).reshape(3, 1, 1, 1).repeat(3, axis=3)}
    audio = {"a": np.arange(4800, dtype=np.int16)[np.newaxis]}
    frames = split_emit(video, audio)
    assert [f.video["v"][0, 0, 0] for f in frames] == [0, 1, 2]
    assert [f.audio["a"].shape for f in frames] == [(1, 1600)] * 3
    assert frames[1].audio["a"][0, 0] == 1600


@given(
    emits=st.lists(
        st.tuples(st.integers(1, 7), st.integers(0, 5000), st.integers(1, 2)),
        min_size=1,
        max_size=20,
    )
)
def test_batch_audio_is_split_sample_exact(emits):
    """Across any sequence of emits no sample is lost, duplicated or reordered."""
    rng = np.random.default_rng(0)
    for n, samples, channels in emits:
        video = {"v": np.zeros((n, 2, 2, 3), np.uint8)}
        audio = rng.integers(-32768, 32767, (channels, samples), dtype=np.int16)
        frames = split_emit(video, {"a": audio})
        assert len(frames) == n
        joined = np.concatenate([f.audio["a"] for f in frames], axis=1)
        assert np.array_equal(joined, audio)
        lengths = [f.audio["a"].shape[1] for f in frames]
        assert max(lengths) - min(lengths) <= 1


def test_audio_only_emit_is_one_frame():
    frames = split_emit({}, {"a": np.zeros((1, 960), np.int16)})
    assert len(frames) == 1 and frames[0].audio_samples() == 960


def test_video_tracks_disagreeing_on_batch_size_are_refused():
    with pytest.raises(ValueError, match=r"same batch size.*'a': 2, 'b': 3"):
        split_emit(
            {"a": np.zeros((2, 2, 2, 3), np.uint8), "b": np.zeros((3, 2, 2, 3), np.uint8)}, {}
        )
