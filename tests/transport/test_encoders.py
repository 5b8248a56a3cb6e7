"""Our encoders alone: options libav accepted, rate changes in place (no keyframe)."""

from __future__ import annotations

from reactor_runtime.transport.encoders import OpusEncoder


def test_opus_is_opened_with_in_band_fec_which_libopus_accepts():
    encoder = OpusEncoder(2)
    # libav removes each option it used from the dict: anything left was not understood.
    assert encoder.context.options == {}
