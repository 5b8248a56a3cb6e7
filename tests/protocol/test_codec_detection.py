"""Codec choice per connection (WIRE.md §1.2, checklist 23-24)."""

import pytest

from reactor_runtime.protocol import (
    CodecLatch,
    V0Codec,
    V1Codec,
    codec_for,
    sniff_frame,
    version_for_route,
)


def test_flat_routes_settle_v0_and_connection_routes_settle_nothing():
    assert version_for_route("flat") == "v0"
    assert version_for_route("connections") is None


@pytest.mark.parametrize(
    ("frame", "version"),
    [
        ('{"scope":"runtime"}', "v0"),
        ("", "v0"),
        ("garbage text", "v0"),
        (b'{"scope":"runtime"}', "v0"),
        (b" \r\n\t[1]", "v0"),
        (bytes.fromhex("10038a010c0a0a6d61696e5f766964656f"), "v1"),
        (bytes.fromhex("10035200"), "v1"),
        (b"", "v1"),
        (b"   ", "v1"),
        (b"\x00{", "v1"),
    ],
)
def test_first_frame_sniffing_tells_json_from_protobuf(frame, version):
    assert sniff_frame(frame) == version


def test_codec_for_returns_a_fresh_codec_per_call():
    assert isinstance(codec_for("v0"), V0Codec)
    assert isinstance(codec_for("v1"), V1Codec)
    assert codec_for("v1") is not codec_for("v1")
    with pytest.raises(ValueError, match="v2"):
        codec_for("v2")


def test_latch_is_undetermined_until_decided_so_nothing_may_be_sent():
    latch = CodecLatch(route="connections")
    assert not latch.decided
    assert latch.version is None
    assert latch.codec is None
    assert latch.on_channel("data") is None
    assert not latch.decided


def test_flat_route_latches_v0_at_once():
    latch = CodecLatch(route="flat")
    assert latch.decided
    assert latch.version == "v0"
    assert isinstance(latch.codec, V0Codec)
    assert latch.on_channel("control") == "v0"
    assert latch.on_frame(b"\x10\x03R\x00") == "v0"


def test_control_channel_latches_v1():
    latch = CodecLatch(route="connections")
    assert latch.on_channel("control") == "v1"
    assert isinstance(latch.codec, V1Codec)


def test_text_first_frame_selects_v0_and_stays_latched():
    latch = CodecLatch()
    assert latch.on_frame('{"scope":"runtime","data":{"type":"ping","data":{}}}') == "v0"
    assert latch.on_frame(bytes.fromhex("10035200")) == "v0"
    assert latch.on_channel("control") == "v0"
    assert latch.version == "v0"


def test_binary_protobuf_first_frame_selects_v1():
    latch = CodecLatch(route="connections")
    assert latch.on_frame(bytes.fromhex("10038a010c0a0a6d61696e5f766964656f")) == "v1"
    assert latch.on_frame("{}") == "v1"


def test_codec_instance_is_kept_across_decisions():
    latch = CodecLatch()
    latch.decide("v1")
    codec = latch.codec
    latch.decide("v0")
    assert latch.codec is codec
    assert latch.version == "v1"
