"""Reading a client's offer and its `track_mapping` (WIRE.md §2.9, §3) into a plan.

Tracks are identified by `mid` through `track_mapping`, never by m-line order. Every
problem is a `ValueError` whose message names the field to fix, so the signalling
route can fail fast with a 400 instead of leaving the client polling.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from aiortc import RTCRtpReceiver, RTCRtpSender, sdp
from aiortc.rtcrtpparameters import RTCRtpCodecCapability

Kind = Literal["video", "audio"]
Direction = Literal["recvonly", "sendonly"]
# What the client may offer for each direction the mapping gives (client's view).
_COMPATIBLE = {"recvonly": ("recvonly", "sendrecv"), "sendonly": ("sendonly", "sendrecv")}


@dataclass(frozen=True)
class MappedTrack:
    """One offered media section and the track it carries.

    Attributes:
        mid: The section's mid.
        index: Its m-line index in the offer.
        name: The track name from the session descriptor.
        kind: "video" or "audio".
        direction: The client's direction: "recvonly" (model output) or "sendonly" (input).
    """

    mid: str
    index: int
    name: str
    kind: Kind
    direction: Direction


@dataclass(frozen=True)
class OfferPlan:
    """The parsed offer: its media sections in order, and its data-channel section."""

    description: sdp.SessionDescription
    tracks: list[MappedTrack]
    has_application: bool
    ice_ufrag: str | None
    bundle_mid: str | None


def plan_offer(
    offer_sdp: Any,
    track_mapping: Any,
    outputs: dict[str, Kind],
    inputs: dict[str, Kind],
) -> OfferPlan:
    """Check an offer against the mapping and the session's tracks.

    Args:
        offer_sdp: The client's SDP offer.
        track_mapping: `[{mid, name, kind, direction}, ...]` as sent by the client.
        outputs: The session's output tracks (name to kind): client `recvonly`.
        inputs: The session's input tracks (name to kind): client `sendonly`.

    Raises:
        ValueError: The SDP does not parse, a mapping entry is malformed or names an
            unknown track or mid, or an offered audio/video section has no entry.
    """
    if not isinstance(offer_sdp, str) or "m=" not in offer_sdp:
        raise ValueError("sdp_offer: expected an SDP offer string with at least one m= line")
    try:
        description = sdp.SessionDescription.parse(offer_sdp)
    except Exception as exc:
        raise ValueError(f"sdp_offer: does not parse as SDP ({exc})") from None
    by_mid = {m.rtp.muxId: (i, m) for i, m in enumerate(description.media)}
    if any(not mid for mid in by_mid) or len(by_mid) != len(description.media):
        raise ValueError("sdp_offer: every m= section needs a distinct a=mid")
    entries = _entries(track_mapping)
    tracks: list[MappedTrack] = []
    seen_names: set[str] = set()
    for n, entry in enumerate(entries):
        where = f"track_mapping[{n}]"
        mid, name, kind, direction = (entry.get(k) for k in ("mid", "name", "kind", "direction"))
        if not isinstance(mid, str) or mid not in by_mid:
            raise ValueError(f"{where}.mid: {mid!r} is not a mid of the offer ({sorted(by_mid)})")
        index, media = by_mid[mid]
        if kind not in ("video", "audio") or media.kind != kind:
            raise ValueError(
                f"{where}.kind: {kind!r} but the offer's mid {mid!r} is {media.kind!r}"
            )
        if direction not in _COMPATIBLE:
            raise ValueError(
                f"{where}.direction: expected 'recvonly' or 'sendonly', got {direction!r}"
            )
        if media.direction not in _COMPATIBLE[direction]:
            raise ValueError(
                f"{where}.direction: {direction!r} but the offer's mid {mid!r} is "
                f"{media.direction!r}"
            )
        declared = outputs if direction == "recvonly" else inputs
        side = "output" if direction == "recvonly" else "input"
        if declared.get(name) != kind:  # type: ignore[arg-type]
            known = ", ".join(f"{k} ({v})" for k, v in declared.items()) or "none"
            raise ValueError(
                f"{where}.name: {name!r} is not a {kind} {side} track of this session "
                f"({side} tracks: {known})"
            )
        if name in seen_names or any(t.mid == mid for t in tracks):
            raise ValueError(f"{where}: track {name!r} / mid {mid!r} is mapped twice")
        seen_names.add(name)  # type: ignore[arg-type]
        tracks.append(MappedTrack(mid, index, name, kind, direction))  # type: ignore[arg-type]
    mapped = {t.mid for t in tracks}
    for i, media in enumerate(description.media):
        if media.kind in ("video", "audio") and media.rtp.muxId not in mapped and media.port:
            raise ValueError(
                f"track_mapping: no entry for the offer's {media.kind} section mid "
                f"{media.rtp.muxId!r} (m-line {i})"
            )
    tracks.sort(key=lambda t: t.index)
    bundle = next((g for g in description.group if g.semantic == "BUNDLE"), None)
    bundled = {str(mid) for mid in bundle.items} if bundle else set()
    if len(description.media) > 1 and not set(by_mid) <= bundled:
        # We run one transport for everything (see ice.configuration); so does every
        # WebRTC client, which always offers a single BUNDLE group.
        raise ValueError("sdp_offer: all m= sections must be in one a=group:BUNDLE")
    ufrag = next((m.ice.usernameFragment for m in description.media if m.ice), None)
    return OfferPlan(
        description=description,
        tracks=tracks,
        has_application=any(m.kind == "application" for m in description.media),
        ice_ufrag=ufrag,
        bundle_mid=bundle.items[0] if bundle and bundle.items else None,
    )


def _entries(track_mapping: Any) -> list[dict[str, Any]]:
    if not isinstance(track_mapping, list):
        raise ValueError(
            f"track_mapping: expected a list of {{mid, name, kind, direction}} objects, "
            f"got {type(track_mapping).__name__}"
        )
    for n, entry in enumerate(track_mapping):
        if not isinstance(entry, dict):
            raise ValueError(f"track_mapping[{n}]: expected an object, got {type(entry).__name__}")
    return track_mapping


def negotiated_codecs(answer_sdp: str) -> dict[str, str]:
    """The sending codec (lower-case name, e.g. "vp8", "opus") of each mid of an answer."""
    description = sdp.SessionDescription.parse(answer_sdp)
    return {
        m.rtp.muxId: m.rtp.codecs[0].name.lower()
        for m in description.media
        if m.kind in ("video", "audio") and m.rtp.codecs
    }


def codec_preferences(
    kind: str, direction: Direction, video_codec: str = "vp8"
) -> list[RTCRtpCodecCapability]:
    """Our codec order for a section the client offers with `direction`.

    Model output (client `recvonly`) goes out as pre-encoded Opus, and as VP8 first
    (both official clients need it) unless `video_codec` is "h264", with the other as
    a fallback. What the client sends us may be anything aiortc decodes, VP8 first.
    """
    sending = direction == "recvonly"
    codecs = (RTCRtpSender if sending else RTCRtpReceiver).getCapabilities(kind).codecs
    if kind == "audio":
        opus = [c for c in codecs if c.mimeType.lower() == "audio/opus"]
        return opus if sending else opus + [c for c in codecs if c not in opus]
    h264_first = sending and video_codec == "h264"
    order = {"video/vp8": 1, "video/h264": 0 if h264_first else 2, "video/rtx": 3}
    chosen = [c for c in codecs if c.mimeType.lower() in order]
    return sorted(chosen, key=lambda c: order[c.mimeType.lower()])
