"""`Vp8Encoder`: libvpx VP8 in real time, with two temporal layers by default.

The layering lets a viewer that cannot take the full rate be sent the base layer
alone from the same encode (`stream_policy`); `temporal_id` tells the packetizer which
layer each frame is in. Rate changes go to libvpx in place (`libvpx_rate`).
"""

from __future__ import annotations

import av

from .encoders import KEYFRAME_SECONDS, VideoCodec, VideoEncoder
from .libvpx_rate import LibvpxRate, layer_targets
from .rate_control import DEFAULT_MAX_BITRATE, DEFAULT_MIN_BITRATE

TEMPORAL_LAYERS = 2
"""VP8 temporal layers: frames alternate base (TID 0, every other frame, referenced by
the next ones) and enhancement (TID 1, referenced by none), so a viewer that cannot
take the full rate is sent the base layer alone, at half the frame rate, from the same
encode and without a keyframe (FACTS.md: ~62 % of the bits). 1 turns layering off."""
BASE_LAYER_SHARE = 0.6
"""Share of the rate libvpx gives the base layer with two layers (libwebrtc's split)."""
CPU_USED = -8
"""libvpx speed without layers (-16 fastest): ~4.7 ms per 720p frame here."""
LAYERED_CPU_USED = -6
"""libvpx speed with temporal layers (libwebrtc's desktop VP8 setting): at -7 and -8 the
layered encoder lost its rate control on a moving noise picture (100 kB frames, 21
Mbit/s for a 2.5 Mbit/s target), at -6 it keeps it, for ~0.3 ms more per 720p frame."""
AUTO_KEYFRAME_FACTOR = 4
"""libvpx's own keyframe interval, in units of `KEYFRAME_SECONDS`: a safety net only.
`Vp8Encoder` forces its periodic keyframes itself, because only a forced keyframe
restarts FFmpeg's temporal layer pattern (one libvpx placed itself would leave the
next frames' layer ids out of step with what we tell the packetizer)."""


class Vp8Encoder(VideoEncoder):
    """libvpx VP8 in real-time mode, constant bit rate scaled to the picture size.

    With `temporal_layers=2` (the default) it encodes in error-resilient mode with
    FFmpeg's two-layer pattern (`ts_layering_mode=2`): base (TID 0) and enhancement
    (TID 1) frames alternate from each keyframe on; a base frame references only the
    previous base frame, and no frame references an enhancement frame, so the base
    layer decodes alone. `temporal_id` says which layer the last frame was in.
    """

    codec_name = "libvpx"
    name: VideoCodec = "vp8"

    def __init__(
        self,
        fps: float = 30.0,
        min_bitrate: int = DEFAULT_MIN_BITRATE,
        max_bitrate: int = DEFAULT_MAX_BITRATE,
        cpu_used: int | None = None,
        temporal_layers: int = TEMPORAL_LAYERS,
        keyframe_seconds: float = KEYFRAME_SECONDS,
    ) -> None:
        """Prepare a VP8 encoder; `cpu_used` trades quality for speed (-16 fastest).

        `cpu_used` defaults to `LAYERED_CPU_USED` with layers, else `CPU_USED`.

        Raises:
            ValueError: `temporal_layers` is not 1 or 2 (the message says which).
        """
        if temporal_layers not in (1, 2):
            raise ValueError(f"temporal_layers: expected 1 or 2, got {temporal_layers}")
        super().__init__(fps, min_bitrate, max_bitrate, keyframe_seconds)
        if cpu_used is None:
            cpu_used = LAYERED_CPU_USED if temporal_layers > 1 else CPU_USED
        self.cpu_used = cpu_used
        self.temporal_layers = temporal_layers
        self.layer_shares: tuple[float, ...] = (
            (BASE_LAYER_SHARE, 1.0) if temporal_layers == 2 else (1.0,)
        )
        """Cumulative share of the rate up to each layer (libvpx's `ts_target_bitrate`)."""
        self.gop = max(1, round(fps * keyframe_seconds))
        self._rate: LibvpxRate | None = None
        self._layer_index = 0
        self._since_keyframe = 0

    def encode(self, frame: av.VideoFrame, pts: int, keyframe: bool = False) -> list[av.Packet]:
        """Encode one frame (see `VideoEncoder.encode`); a keyframe every `gop` frames."""
        if self._since_keyframe >= self.gop - 1:
            keyframe = True
        packets = super().encode(frame, pts, keyframe)
        if any(p.is_keyframe for p in packets):
            self._since_keyframe = 0
        else:
            self._since_keyframe += 1
        return packets

    def _next_temporal_id(self, keyframe: bool) -> int:
        # Mirrors FFmpeg's libvpxenc: a forced keyframe restarts the pattern, and every
        # encode call advances it (tests/transport/test_encoders.py checks it against
        # the decoder: the base layer alone decodes without an error).
        if self.temporal_layers == 1:
            return 0
        if keyframe:
            self._layer_index = 0
        temporal_id = self._layer_index % 2
        self._layer_index += 1
        return temporal_id

    def _opened(self, context: av.VideoCodecContext) -> None:
        self._layer_index = 0
        self._rate = LibvpxRate.attach(context, self.layer_shares)

    def _change_rate(self, context: av.VideoCodecContext, bitrate: int) -> bool:
        if self._rate is None:
            return False
        self._rate.set(bitrate)
        return True

    def _configure(self, context: av.VideoCodecContext) -> None:
        rate = str(context.bit_rate)
        context.qmin = 2
        context.qmax = 56
        context.gop_size = self.gop * AUTO_KEYFRAME_FACTOR
        options = {
            "deadline": "realtime",
            "cpu-used": str(self.cpu_used),
            "lag-in-frames": "0",
            # minrate = maxrate = bit_rate selects CBR, as libwebrtc runs VP8; a one
            # second buffer lets keyframes overshoot without starving the next frames.
            "minrate": rate,
            "maxrate": rate,
            "bufsize": rate,
            "undershoot-pct": "100",
            "overshoot-pct": "15",
            # A keyframe may take at most 3x an average frame, so it does not stall
            # the stream for several frame times at the receiver.
            "max-intra-rate": "300",
            "static-thresh": "1",
            "noise-sensitivity": "0",
        }
        if self.temporal_layers == 2:
            targets = ",".join(str(k) for k in layer_targets(context.bit_rate, self.layer_shares))
            # Without error resilience the base layer alone does not decode (FACTS.md).
            options["error-resilient"] = "default"
            # ts_layering_mode last: it sets the pattern over what came before it.
            options["ts-parameters"] = (
                f"ts_number_layers=2:ts_target_bitrate={targets}:ts_layering_mode=2"
            )
        context.options = options
