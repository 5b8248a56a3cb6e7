"""A video track's low stream: the same pictures encoded again, smaller, for far slower viewers.

One encode cannot serve 1 Mbit/s and 2.5 Mbit/s viewers at once: two temporal layers
split the bits about 60/40, so the slow viewer either drags the stream down or gets
every other frame. When `stream_policy` puts a viewer down, the track's pictures are
also encoded by a second encoder of the same codec, the low stream, still once for
all the viewers on it: its rate is the lowest of their estimates (clamped to the
operator's minimum and the size's ceiling, moved as `rate_control.StreamRate` moves
any stream), and its size follows its own `Ladder` for that rate (540p or 360p at
about 1 Mbit/s for a 720p model). It is made when the first viewer goes down to it
(its first frame is a keyframe) and dropped once none is left on it and the main
stream has made the keyframe the last one back was waiting for: no CPU cost otherwise.

`LowStreams` keeps each codec's low stream of one track and says which keyframes the
switches it sees need: a viewer going down to an existing low stream needs one of it,
a viewer going back up one of the main stream. A viewer's track switches streams at
such a keyframe (`tracks.OutboundTrack`), so it sees one continuous stream whose size
changes at a keyframe.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import Any

import av

from .encoded import EncodedVideo
from .encoders import VideoCodec, VideoEncoder
from .ladder import Ladder, scaled_size
from .rate_control import StreamRate


class LowStream:
    """The low stream of one codec of one video track.

    Attributes:
        encoder: Its encoder (the second one of the codec).
        ladder: Its resolution ladder step.
        rate: Its rate decision, over exactly the viewers down to it.
    """

    def __init__(self, encoder: VideoEncoder) -> None:
        """A low stream encoding with `encoder` (not yet opened), with no viewer."""
        self.encoder = encoder
        self.ladder = Ladder()
        self.rate = StreamRate()

    def follow(self, viewers: set[Any]) -> None:
        """Make `viewers` (their `ViewerEstimate`s) exactly the ones this stream serves."""
        for gone in self.rate.viewers - viewers:
            self.rate.discard(gone)
        for viewer in viewers - self.rate.viewers:
            self.rate.add(viewer)

    def encode(
        self, frame: av.VideoFrame, sized: dict[tuple[int, int], av.VideoFrame], pts: int, key: bool
    ) -> list[av.Packet]:
        """Encode `frame` at this stream's rate and ladder size (a keyframe if `key`).

        `sized` holds `frame` at the sizes already made for this picture (keyed by
        width, height); a size made here is added to it.
        """
        encoder = self.encoder
        context = encoder.context
        if context is None:
            # Open at the viewers' rate, not the 720p start rate: the first keyframe
            # must already fit the links that made this stream.
            encoder.bitrate = self.rate.lowest() or encoder.bitrate
        elif encoder.bitrate is not None:
            low, high = encoder.bounds(context.width, context.height)
            wanted = self.rate.decide(encoder.bitrate, low, high)
            if wanted is not None:
                encoder.set_bitrate(wanted)
        size = frame.width, frame.height
        if encoder.bitrate is not None:
            size = scaled_size(*size, self.ladder.update(encoder.bitrate, *size))
        if size not in sized:
            sized[size] = frame.reformat(width=size[0], height=size[1])
        return encoder.encode(sized[size], pts, keyframe=key)


class LowStreams:
    """Each codec's low stream of one video track, made and dropped as viewers switch.

    Called from the track's encoder thread only; `stats` may be read from any thread.

    Attributes:
        streams: The low stream of each codec that has one.
        made: Low streams made, per codec.
        pictures: Pictures the low streams encoded.
        encode_seconds: Time they spent encoding them.
    """

    def __init__(self, make_encoder: Callable[[VideoCodec], VideoEncoder]) -> None:
        """No low stream yet; `make_encoder(codec)` gives a fresh encoder for one."""
        self.make_encoder = make_encoder
        self.streams: dict[VideoCodec, LowStream] = {}
        self.made: dict[VideoCodec, int] = {}
        self.pictures = 0
        self.encode_seconds = 0.0
        self._keyframes_before: dict[VideoCodec, int] = {}
        self._down: dict[VideoCodec, set[Hashable]] = {}
        self._awaiting_main: set[VideoCodec] = set()

    def update(
        self, codec: VideoCodec, down: set[Hashable], viewers: set[Hashable]
    ) -> tuple[bool, bool]:
        """Follow `codec`'s viewers `down` now (of all its `viewers`).

        Makes the low stream when the first viewer goes down, drops it when none is
        left and no viewer going back up waits for a main keyframe.

        Returns:
            Whether a keyframe of the main stream, and one of the low stream, is needed
            (a viewer went back up; a viewer went down to a low stream already running).
        """
        before = self._down.get(codec, set())
        self._down[codec] = set(down)
        went_up = any(v in viewers for v in before - down)
        if went_up:
            self._awaiting_main.add(codec)
        stream = self.streams.get(codec)
        low_key = False
        if down:
            if stream is None:
                stream = self.streams[codec] = LowStream(self.make_encoder(codec))
                self.made[codec] = self.made.get(codec, 0) + 1
            else:
                low_key = bool(down - before)
            stream.follow(set(down))
        elif stream is not None and codec not in self._awaiting_main:
            self.drop(codec)
        return went_up, low_key

    def main_keyframe(self, codec: VideoCodec) -> None:
        """The main stream of `codec` made a keyframe: viewers back up have switched."""
        self._awaiting_main.discard(codec)

    def drop(self, codec: VideoCodec) -> None:
        """Drop `codec`'s low stream, if any (its counters stay in the totals)."""
        stream = self.streams.pop(codec, None)
        self._down.pop(codec, None)
        self._awaiting_main.discard(codec)
        if stream is not None:
            kept = self._keyframes_before.get(codec, 0)
            self._keyframes_before[codec] = kept + stream.encoder.keyframes

    def encode(
        self,
        codec: VideoCodec,
        frame: av.VideoFrame,
        sized: dict[tuple[int, int], av.VideoFrame],
        pts: int,
        key: bool,
        metadata: bytes | None = None,
    ) -> list[EncodedVideo]:
        """Encode `frame` on `codec`'s low stream; no frames when it has none.

        `metadata`, the model's for this picture, goes with its frames.
        """
        stream = self.streams.get(codec)
        if stream is None:
            return []
        started = time.perf_counter()
        packets = stream.encode(frame, sized, pts, key)
        self.encode_seconds += time.perf_counter() - started
        self.pictures += 1
        layer = stream.encoder.temporal_id
        return [EncodedVideo(p, layer, metadata, low=True) for p in packets]

    def stats(self) -> dict[str, Any]:
        """Low streams made, their keyframes, rates and scales, and mean encode time (ms)."""
        streams = list(self.streams.items())  # the encoder thread may change the dict
        keyframes = dict(self._keyframes_before)
        for codec, stream in streams:
            keyframes[codec] = keyframes.get(codec, 0) + stream.encoder.keyframes
        return {
            "low_made": dict(self.made),
            "low_keyframes": keyframes,
            "low_bitrate": {c: s.encoder.bitrate for c, s in streams},
            "low_scale": {c: s.ladder.scale for c, s in streams},
            "low_encode_ms": round(self.encode_seconds / max(self.pictures, 1) * 1000, 2),
        }
