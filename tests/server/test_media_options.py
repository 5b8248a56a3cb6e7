"""`reactor run --max-frame-metadata / --max-trailer / --temporal-layers / --no-low-stream`
reach where they apply."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from reactor_runtime import Output, ReactorModel, TrackPayload, Video
from reactor_runtime.server.factories import default_transport
from reactor_runtime.server.main import add_arguments
from reactor_runtime.server.media_options import from_args
from reactor_runtime.server.runtime import Runtime
from reactor_runtime.session import Session
from reactor_runtime.tracks import MAX_FRAME_METADATA
from reactor_runtime.transport.frame_metadata import (
    MAX_TRAILER,
    FrameMetadata,
    TrailerError,
    encode_trailer,
    split_trailer,
)


class Picture(Output):
    main_video: Video


class StillModel(ReactorModel):
    fps = 10
    output_type = Picture

    def load(self, config: dict) -> None:
        pass

    async def run(self) -> None:
        pass


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(["--port", "0", *argv])


def test_the_defaults_are_the_named_constants() -> None:
    options = from_args(parse())
    assert (options.max_frame_metadata, options.max_trailer) == (MAX_FRAME_METADATA, MAX_TRAILER)
    assert options.runtime_options() == {
        "max_trailer": MAX_TRAILER,
        "temporal_layers": None,
        "low_stream": None,
    }
    # The inbound limit follows the emit limit unless given.
    assert from_args(parse("--max-frame-metadata", "1000")).max_trailer == 1064


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (("--max-frame-metadata", "0"), "--max-frame-metadata: expected 1..196608 bytes, got 0"),
        (("--max-frame-metadata", "300000"), "--max-frame-metadata: expected 1..196608"),
        (("--max-trailer", "-1"), "--max-trailer: expected 1..1048576 bytes, got -1"),
    ],
)
def test_an_out_of_range_value_is_refused_naming_the_flag(argv: tuple[str, ...], says: str):
    with pytest.raises(ValueError, match=says):
        from_args(parse(*argv))


def test_temporal_layers_takes_only_1_or_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse("--temporal-layers", "3")
    assert "--temporal-layers: invalid choice: 3" in capsys.readouterr().err


async def test_the_emit_limit_reaches_the_session_and_its_error_names_the_flag() -> None:
    options = from_args(parse("--max-frame-metadata", "8"))
    session = Session(StillModel, max_frame_metadata=options.max_frame_metadata)
    await session.start()
    try:
        emitter = session.model._emitter  # type: ignore[union-attr]
        picture = np.zeros((16, 16, 3), np.uint8)
        emitter.validate(Picture(main_video=TrackPayload(picture, metadata=b"12345678")))
        with pytest.raises(ValueError, match=r"9 bytes .* limit of 8 .*--max-frame-metadata"):
            emitter.validate(Picture(main_video=TrackPayload(picture, metadata=b"123456789")))
    finally:
        await session.stop()
    with pytest.raises(ValueError, match=r"max_frame_metadata: expected bytes >= 1, got 0"):
        Session(StillModel, max_frame_metadata=0)


async def test_the_trailer_limit_reaches_each_peer_and_the_layer_options_the_hub() -> None:
    argv = ("--max-trailer", "100", "--temporal-layers", "1", "--no-low-stream")
    options = from_args(parse(*argv))
    session = Session(StillModel)
    runtime = Runtime(session, **options.runtime_options())
    make_peer, make_hub = default_transport("vp8", runtime._peer_options(), runtime.hub_options)
    await session.start()
    hub = make_hub(session)
    try:
        assert hub.temporal_layers == 1 and hub.low_stream is False
        peer = make_peer(session, hub, viewer_id="v", family="v1", ice_servers=[])
        assert peer.max_trailer == 100
        await peer.close("test over")
    finally:
        await session.stop()
    big = encode_trailer(FrameMetadata(user_data=b"u" * 200))
    with pytest.raises(TrailerError, match=r"over the limit of 100 bytes .*--max-trailer"):
        split_trailer(b"vp8" + big, peer.max_trailer)


async def test_the_playout_delay_flag_reaches_each_peer_and_a_bad_one_is_a_usage_error() -> None:
    from reactor_runtime.server.peer_options import PLAYOUT_DELAYS
    from reactor_runtime.server.peer_options import from_args as peer_options
    from reactor_runtime.transport.peer import PLAYOUT_DELAYS as ANSWERED

    assert PLAYOUT_DELAYS == ANSWERED, "the flag's choices are the peer's (copied: no aiortc)"
    assert peer_options(parse())["playout_delay"] == "auto"
    session = Session(StillModel)
    runtime = Runtime(session, **peer_options(parse("--playout-delay", "zero")))
    make_peer, make_hub = default_transport("vp8", runtime._peer_options(), runtime.hub_options)
    await session.start()
    try:
        peer = make_peer(session, make_hub(session), viewer_id="v", family="v1", ice_servers=[])
        assert peer.playout_delay == "zero"
        await peer.close("test over")
    finally:
        await session.stop()
    with pytest.raises(SystemExit):
        parse("--playout-delay", "sometimes")
