"""The one place where aiortc is bent to answer and write RTP header extensions it lacks.

aiortc answers only the header extensions it knows (for video: ``sdes:mid`` and
``abs-send-time``) and writes only those. Two more matter to us:

- **playout-delay** (`PLAYOUT_DELAY_URI`): libwebrtc receivers (Chromium, both
  official SDKs) otherwise hold each frame in an adaptive jitter buffer that grows
  with any jitter it once saw and shrinks slowly; a sender may bound it per frame.
  ``min = max = 0`` asks the receiver to render each frame as soon as it is decoded,
  which is what an interactive model wants (FACTS.md "Networks").

`enable_playout_delay` is called between ``setRemoteDescription`` and
``createAnswer``: when the client's offer carries the extension on a section we send
video on, the answer carries it back with the client's id and the section's sender
gets a `SenderExtensionMap`, which writes the extension on every packet it sends
(retransmissions included; 4 bytes each). A client that does not offer it gets
nothing. Which viewers get it is `ViewerPeer`'s choice: only those that receive no
audio, because min = max = 0 also takes away the room the receiver's lip-sync needs
to hold video back to its audio (Chromium then shows video ~50 ms ahead). A bounded
form for them (min = 0, max = 100 ms: libwebrtc's lip-sync raises the video's minimum
delay, the frame's maximum caps it) cut Chromium's receive-to-display time from
151/260 to 16/48 ms (p50/p95) at 720p, but left video ~170 ms ahead of its audio
(`bench/avsync.py`, 2026-12-05: Chromium's audio buffer held 175-188 ms on a loaded
machine), so viewers with audio get nothing written by default. Every viewer that
offers the extension has it answered, though: on a lossy path `playout_floor` asks for
a minimum delay that covers a repair (min = floor, no max), which keeps lip-sync's
room and lets repaired frames play on time.

- **transport-cc** (`transport_feedback.TRANSPORT_CC_URI` and ``a=rtcp-fb:<pt>
  transport-cc``): with it every video packet carries a transport-wide sequence
  number and the viewer reports when each one arrived, so the sender runs the
  bandwidth estimate itself (`send_side`) and can probe for more; without it the
  viewer's REMB rises ~1 % a second after a drop. aiortc knows the extension's URI
  but never offers it, answers it or numbers packets. `enable_transport_cc` answers
  both halves when both are offered; the sender's `SenderExtensionMap` writes a
  placeholder number that `pacing.PacedTransport` fills in as the packet leaves.

One that aiortc writes is written at the wrong time: **abs-send-time**, the send time
a libwebrtc receiver's delay-based estimate (what it reports as REMB) compares with
each packet's arrival. aiortc stamps it when it serializes a packet, before the
packet waits in our pacer (`pacing.py`), and a retransmission keeps the stamp of the
original. `rewrite_extension` and `abs_send_time` let the pacer stamp the time the
packet really leaves, so a wait in our own queue does not read as one on the path.

`tests/transport/test_header_extensions.py` pins the answer and the bytes a real
aiortc receiver gets, so an aiortc upgrade that moves these private names fails
there.
"""

from __future__ import annotations

from dataclasses import replace

from aiortc import RTCRtpSender, RTCRtpTransceiver, clock
from aiortc.rtcrtpparameters import (
    RTCRtcpFeedback,
    RTCRtpHeaderExtensionParameters,
    RTCRtpParameters,
)
from aiortc.rtp import HeaderExtensions, HeaderExtensionsMap, pack_header_extensions
from aiortc.rtp import unpack_header_extensions as _unpack
from aiortc.sdp import MediaDescription

from .aiortc_private import require
from .offer import OfferPlan
from .transport_feedback import TRANSPORT_CC_URI

PLAYOUT_DELAY_URI = "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay"
PLAYOUT_DELAY_MS = (0, 0)
"""(min, max) playout delay asked of the viewer: render every frame at once."""
PLAYOUT_DELAY_UNIT_MS = 10
"""The extension counts in 10 ms units, 12 bits each: at most 40.95 s."""
PLAYOUT_DELAY_LIMIT_MS = 4095 * PLAYOUT_DELAY_UNIT_MS
ABS_SEND_TIME_URI = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
AIORTC_PRIVATE = (
    "HeaderExtensionsMap._HeaderExtensionsMap__ids",
    "RTCRtpSender._RTCRtpSender__rtp_header_extensions_map",
    "RTCRtpTransceiver._codecs",
    "RTCRtpTransceiver._headerExtensions",
)
"""The private aiortc names this module reads or replaces (`aiortc_private.require`)."""
_WHERE = "transport/header_extensions.py"
# The sender's header extension map, and the map's own table of negotiated ids.
_MAP_ATTRIBUTE = "_RTCRtpSender__rtp_header_extensions_map"
_IDS_ATTRIBUTE = "_HeaderExtensionsMap__ids"
require(HeaderExtensionsMap(), "HeaderExtensionsMap", AIORTC_PRIVATE, _WHERE)


def encode_playout_delay(min_ms: int, max_ms: int) -> bytes:
    """The 3-byte value of the extension: min and max in 10 ms units, 12 bits each.

    Raises:
        ValueError: A bound is negative, above `PLAYOUT_DELAY_LIMIT_MS`, or min > max.
    """
    for name, value in (("min_ms", min_ms), ("max_ms", max_ms)):
        if not 0 <= value <= PLAYOUT_DELAY_LIMIT_MS:
            raise ValueError(
                f"playout delay {name}: expected 0..{PLAYOUT_DELAY_LIMIT_MS} ms "
                f"(PLAYOUT_DELAY_LIMIT_MS), got {value!r}"
            )
    if min_ms > max_ms:
        raise ValueError(f"playout delay: min_ms {min_ms} is above max_ms {max_ms}")
    low, high = min_ms // PLAYOUT_DELAY_UNIT_MS, max_ms // PLAYOUT_DELAY_UNIT_MS
    return ((low << 12) | high).to_bytes(3, "big")


def decode_playout_delay(value: bytes) -> tuple[int, int]:
    """(min_ms, max_ms) of a 3-byte extension value."""
    word = int.from_bytes(value, "big")
    return (word >> 12) * PLAYOUT_DELAY_UNIT_MS, (word & 0xFFF) * PLAYOUT_DELAY_UNIT_MS


def abs_send_time() -> bytes:
    """The 3-byte abs-send-time of now: NTP seconds in 6.18 fixed point, mod 64 s."""
    return ((clock.current_ntp_time() >> 14) & 0xFFFFFF).to_bytes(3, "big")


def abs_send_time_id(sender: RTCRtpSender) -> int | None:
    """The id `sender` writes abs-send-time under, None while not negotiated."""
    ids = getattr(getattr(sender, _MAP_ATTRIBUTE, None), _IDS_ATTRIBUTE, None)
    return getattr(ids, "abs_send_time", None)


def transport_cc_id(sender: RTCRtpSender) -> int | None:
    """The id `sender` writes the transport-wide sequence number under, None if not."""
    ids = getattr(getattr(sender, _MAP_ATTRIBUTE, None), _IDS_ATTRIBUTE, None)
    return getattr(ids, "transport_sequence_number", None)


def rewrite_extension(data: bytes, extension_id: int, value: bytes) -> bytes:
    """`data`, an RTP packet, with the value of extension `extension_id` replaced.

    Only a value of the same length is replaced (either header form of RFC 8285); a
    packet without that extension comes back unchanged.
    """
    if len(data) < 12 or not data[0] & 0x10:
        return data
    start = 12 + 4 * (data[0] & 0x0F)
    if len(data) < start + 4:
        return data
    profile = int.from_bytes(data[start : start + 2], "big")
    end = min(len(data), start + 4 + 4 * int.from_bytes(data[start + 2 : start + 4], "big"))
    two_byte = profile & 0xFFF0 == 0x1000
    if profile != 0xBEDE and not two_byte:
        return data
    i = start + 4
    while i < end:
        if data[i] == 0:  # padding
            i += 1
            continue
        if two_byte:
            if i + 1 >= end:
                break
            x_id, length, i = data[i], data[i + 1], i + 2
        else:
            x_id, length, i = data[i] >> 4, (data[i] & 0x0F) + 1, i + 1
            if x_id == 15:  # reserved: stop reading
                break
        if x_id == extension_id:
            if length != len(value) or i + length > end:
                return data
            return data[:i] + value + data[i + length :]
        i += length
    return data


def unpack_header_extensions(profile: int, data: bytes) -> list[tuple[int, bytes]]:
    """The ``(id, value)`` pairs of a packet's extension block (``[]`` when empty)."""
    return _unpack(profile, data) if data else []


class SenderExtensionMap(HeaderExtensionsMap):
    """aiortc's extension map, plus what it lacks: playout-delay and transport-cc.

    Playout-delay (once `enable_playout` ran and the id is negotiated): `delay_ms` is
    written while no floor is set (None: nothing is written then); `set_floor` asks for a
    minimum delay instead, with no maximum, and None goes back (see `playout_floor`).

    Transport-cc (once negotiated): every packet carries a 2-byte transport-wide
    sequence number, written here as 0 and given its real value when the packet leaves
    (`pacing.PacedTransport`), so numbers follow the order packets are really sent in.
    """

    def __init__(self) -> None:
        """A map writing aiortc's extensions only, until a feature is enabled."""
        super().__init__()
        self.base: bytes | None = None
        self.value: bytes | None = None
        self.floor_ms: int | None = None
        self.extension_id: int | None = None
        self.playout = False
        self.transport_cc = False

    def enable_playout(self, delay_ms: tuple[int, int] | None) -> None:
        """Write playout-delay `delay_ms` (min, max) on every packet; None: only floors."""
        self.playout = True
        self.base = None if delay_ms is None else encode_playout_delay(*delay_ms)
        self.value = self.base

    def set_floor(self, floor_ms: int | None) -> None:
        """Ask for at least `floor_ms` of playout delay from the next packet; None: back."""
        if floor_ms == self.floor_ms:
            return
        self.floor_ms = floor_ms
        if floor_ms is None:
            self.value = self.base
        else:
            self.value = encode_playout_delay(floor_ms, PLAYOUT_DELAY_LIMIT_MS)

    def configure(self, parameters: RTCRtpParameters) -> None:
        """Learn the negotiated ids (aiortc's, playout-delay's, transport-cc's)."""
        super().configure(parameters)
        for extension in parameters.headerExtensions:
            if extension.uri == PLAYOUT_DELAY_URI:
                self.extension_id = extension.id
            elif extension.uri == TRANSPORT_CC_URI:
                self.transport_cc = True

    def set(self, values: HeaderExtensions) -> tuple[int, bytes]:
        """The extensions aiortc writes for `values`, then playout-delay (if any now)."""
        if self.transport_cc:
            values = replace(values, transport_sequence_number=0)
        profile, data = super().set(values)
        if self.extension_id is None or self.value is None:
            return profile, data
        pairs = unpack_header_extensions(profile, data)
        pairs.append((self.extension_id, self.value))
        return pack_header_extensions(pairs)


def sender_extension_map(sender: RTCRtpSender) -> SenderExtensionMap:
    """The `SenderExtensionMap` of `sender`, put in place of aiortc's map if not yet."""
    require(sender, "RTCRtpSender", AIORTC_PRIVATE, _WHERE)
    extension_map = getattr(sender, _MAP_ATTRIBUTE)
    if not isinstance(extension_map, SenderExtensionMap):
        extension_map = SenderExtensionMap()
        setattr(sender, _MAP_ATTRIBUTE, extension_map)
    return extension_map


def playout_map(sender: RTCRtpSender) -> SenderExtensionMap | None:
    """The `SenderExtensionMap` of `sender` if playout-delay was negotiated, else None."""
    extension_map = getattr(sender, _MAP_ATTRIBUTE, None)
    if not isinstance(extension_map, SenderExtensionMap) or not extension_map.playout:
        return None
    return extension_map


def offered_extension_id(media: MediaDescription, uri: str) -> int | None:
    """The id the offer's section `media` gives extension `uri`, or None if not offered."""
    return next((x.id for x in media.rtp.headerExtensions if x.uri == uri), None)


def enable_playout_delay(
    transceiver: RTCRtpTransceiver,
    media: MediaDescription,
    delay_ms: tuple[int, int] | None = PLAYOUT_DELAY_MS,
) -> bool:
    """Answer and write playout-delay on `transceiver` if its offered section `media` has it.

    Call after ``setRemoteDescription`` and before ``createAnswer``.

    Args:
        transceiver: A transceiver that sends video (others are left alone).
        media: The offer's section matched to it.
        delay_ms: (min, max) playout delay in ms, multiples of 10; None writes nothing
            until a floor is set (`SenderExtensionMap.set_floor`).

    Returns:
        True if the extension is now negotiated and will be written.

    Raises:
        RuntimeError: This aiortc lacks a name in `AIORTC_PRIVATE` (named).
    """
    offered = offered_extension_id(media, PLAYOUT_DELAY_URI)
    if offered is None or transceiver.kind != "video" or transceiver.direction == "recvonly":
        return False
    require(transceiver, "RTCRtpTransceiver", AIORTC_PRIVATE, _WHERE)
    require(transceiver.sender, "RTCRtpSender", AIORTC_PRIVATE, _WHERE)
    extensions = transceiver._headerExtensions
    if not any(x.uri == PLAYOUT_DELAY_URI for x in extensions):
        extensions.append(RTCRtpHeaderExtensionParameters(id=offered, uri=PLAYOUT_DELAY_URI))
    sender_extension_map(transceiver.sender).enable_playout(delay_ms)
    return True


def negotiate_playout_delay(
    plan: OfferPlan,
    transceivers: list[RTCRtpTransceiver],
    delay_ms: tuple[int, int] | None = PLAYOUT_DELAY_MS,
) -> list[str]:
    """`enable_playout_delay` on every section of `plan` we send video on.

    Args:
        plan: The parsed offer.
        transceivers: One per `plan.tracks` entry, in the same order.
        delay_ms: (min, max) playout delay in ms; None until a floor is set.

    Returns:
        The mids where the extension is negotiated.
    """
    return [
        track.mid
        for track, transceiver in zip(plan.tracks, transceivers, strict=True)
        if track.direction == "recvonly"
        and enable_playout_delay(transceiver, plan.description.media[track.index], delay_ms)
    ]


TRANSPORT_CC_FEEDBACK = "transport-cc"
"""The `a=rtcp-fb` value that asks the receiver for transport-wide feedback."""


def enable_transport_cc(transceiver: RTCRtpTransceiver, media: MediaDescription) -> bool:
    """Answer transport-cc on `transceiver` if its offered section `media` has it.

    Both halves must be offered: the header extension and ``a=rtcp-fb:<pt>
    transport-cc`` on the codecs; the answer then carries both, for the codecs that
    had it, and the sender writes a transport-wide sequence number on every packet.
    Call after ``setRemoteDescription`` and before ``createAnswer``.

    Returns:
        True if transport-cc is now negotiated.

    Raises:
        RuntimeError: This aiortc lacks a name in `AIORTC_PRIVATE` (named).
    """
    offered = offered_extension_id(media, TRANSPORT_CC_URI)
    if offered is None or transceiver.kind != "video" or transceiver.direction == "recvonly":
        return False
    with_feedback = {
        codec.payloadType
        for codec in media.rtp.codecs
        if any(f.type == TRANSPORT_CC_FEEDBACK for f in codec.rtcpFeedback)
    }
    require(transceiver, "RTCRtpTransceiver", AIORTC_PRIVATE, _WHERE)
    codecs = [c for c in transceiver._codecs if c.payloadType in with_feedback]
    if not codecs:
        return False
    for codec in codecs:
        if not any(f.type == TRANSPORT_CC_FEEDBACK for f in codec.rtcpFeedback):
            codec.rtcpFeedback.append(RTCRtcpFeedback(type=TRANSPORT_CC_FEEDBACK))
    extensions = transceiver._headerExtensions
    if not any(x.uri == TRANSPORT_CC_URI for x in extensions):
        extensions.append(RTCRtpHeaderExtensionParameters(id=offered, uri=TRANSPORT_CC_URI))
    sender_extension_map(transceiver.sender)
    return True


def negotiate_transport_cc(plan: OfferPlan, transceivers: list[RTCRtpTransceiver]) -> list[str]:
    """`enable_transport_cc` on every section of `plan` we send video on; their mids."""
    return [
        track.mid
        for track, transceiver in zip(plan.tracks, transceivers, strict=True)
        if track.direction == "recvonly"
        and enable_transport_cc(transceiver, plan.description.media[track.index])
    ]
