"""Our Opus encoder: 960-sample int16 frames in, one `av.Packet` each out.

aiortc's own Opus encoder is set up for speech ("voip"); a model's output is music and
effects as often as speech, and a lossy link deserves libopus's in-band FEC, which
every client offers (`useinbandfec=1`).
"""

from __future__ import annotations

import av
import numpy as np

from .encoders import AUDIO_RATE, AUDIO_TIME_BASE

OPUS_FRAME = 960
"""Samples per Opus packet: 20 ms at 48 kHz."""
OPUS_EXPECTED_LOSS = 10
"""Loss (percent) libopus prepares its in-band FEC for; the clients offer
`useinbandfec=1` and libwebrtc's NetEq decodes a lost packet from the next one's FEC.
libopus adds the redundancy in its SILK and hybrid modes (speech-like content)."""


class OpusEncoder:
    """libopus at 48 kHz: 960-sample int16 frames in, one packet each out.

    Mono tracks are sent as mono Opus (every Opus decoder, including a stereo one,
    plays it), stereo as stereo.
    """

    def __init__(self, channels: int) -> None:
        """Open an encoder for `channels` (1 or 2) channels."""
        if channels not in (1, 2):
            raise ValueError(f"Opus carries 1 or 2 channels here, got {channels}")
        self.channels = channels
        self.layout = "mono" if channels == 1 else "stereo"
        context = av.CodecContext.create("libopus", "w")
        context.sample_rate = AUDIO_RATE
        context.format = "s16"
        context.layout = self.layout
        context.bit_rate = 64_000 * channels
        context.time_base = AUDIO_TIME_BASE
        # "audio" (not aiortc's "voip"): model output is music and effects as often as speech.
        context.options = {
            "application": "audio",
            "fec": "1",
            "packet_loss": str(OPUS_EXPECTED_LOSS),
        }
        context.open()
        self.context = context

    def encode(self, samples: np.ndarray, pts: int) -> list[av.Packet]:
        """Encode `(channels, 960)` int16 samples whose first sample is at `pts` (1/48000 s).

        Returns:
            The packets. Their pts is libopus's, i.e. shifted back by the encoder's
            look-ahead, so that the RTP timestamp labels the audio actually decoded.
        """
        interleaved = np.ascontiguousarray(samples.T).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(interleaved, format="s16", layout=self.layout)
        frame.sample_rate = AUDIO_RATE
        frame.pts = pts
        frame.time_base = AUDIO_TIME_BASE
        packets = self.context.encode(frame)
        for packet in packets:
            packet.time_base = AUDIO_TIME_BASE
        return packets
