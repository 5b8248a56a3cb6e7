"""`reactor run` flags for each viewer's peer: data-channel limits, vanish detection, playout.

The defaults and their reasons live with the limits (`transport.limits`,
`transport.liveness`); the flags tune the few an operator may need to move, and the
bursts follow them so that a maximal message always fits.
"""

from __future__ import annotations

import argparse
from typing import Any

DEFAULT_MAX_MESSAGE = 262_144
DEFAULT_RATE = 50.0
DEFAULT_BYTE_RATE = 1_048_576
DEFAULT_VIEWER_TIMEOUT = 4.0
MIN_VIEWER_TIMEOUT = 2.0
"""Seconds: below this a host busy for a moment (GC, a model step) loses healthy viewers."""
PLAYOUT_DELAYS = ("auto", "zero", "off")
"""`--playout-delay` choices (`transport.peer.PlayoutDelay`; not imported from there:
parsing the command line must not load aiortc)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the data-channel and liveness options of `reactor run` to `parser`."""
    group = parser.add_argument_group("viewer connections")
    group.add_argument(
        "--dc-max-message",
        type=int,
        default=DEFAULT_MAX_MESSAGE,
        metavar="BYTES",
        help=f"largest data-channel message a viewer may send ({DEFAULT_MAX_MESSAGE})",
    )
    group.add_argument(
        "--dc-rate",
        type=float,
        default=DEFAULT_RATE,
        metavar="MESSAGES",
        help=f"data-channel messages per second per viewer before refusals ({DEFAULT_RATE:g})",
    )
    group.add_argument(
        "--dc-byte-rate",
        type=float,
        default=DEFAULT_BYTE_RATE,
        metavar="BYTES",
        help=f"data-channel bytes per second per viewer before refusals ({DEFAULT_BYTE_RATE})",
    )
    group.add_argument(
        "--viewer-timeout",
        type=float,
        default=DEFAULT_VIEWER_TIMEOUT,
        metavar="SECONDS",
        help="a viewer silent this long (no packet, no answer to our probes) is gone "
        f"({DEFAULT_VIEWER_TIMEOUT:g})",
    )
    group.add_argument(
        "--playout-delay",
        choices=PLAYOUT_DELAYS,
        default="auto",
        help="what viewers are asked to buffer: auto (default) asks a viewer with no "
        "audio to show each frame at once and leaves a viewer with audio its buffer, "
        "for lip-sync; zero asks every viewer to show frames at once (lowest latency; "
        "audio then plays some 50 ms behind the picture); off asks nothing",
    )


def from_args(args: argparse.Namespace) -> dict[str, Any]:
    """`Runtime` keyword arguments (`channel_limits`, `liveness`, `playout_delay`).

    Raises:
        ValueError: a value is out of range; the message names the setting.
    """
    from ..transport.limits import BYTE_BURST, FRAME_BURST, ChannelLimits
    from ..transport.liveness import PROBE_INTERVAL, LivenessSettings

    max_message = args.dc_max_message
    if max_message < 1:
        raise ValueError(f"--dc-max-message: expected >= 1 byte, got {max_message}")
    for flag, value in (("--dc-rate", args.dc_rate), ("--dc-byte-rate", args.dc_byte_rate)):
        if not value > 0:
            raise ValueError(f"{flag}: expected > 0, got {value:g}")
    if not args.viewer_timeout >= MIN_VIEWER_TIMEOUT:
        raise ValueError(
            f"--viewer-timeout: expected >= {MIN_VIEWER_TIMEOUT:g} s (shorter reaps viewers "
            f"on a busy host), got {args.viewer_timeout:g}"
        )
    limits = ChannelLimits(
        max_message_bytes=max_message,
        frames_per_second=args.dc_rate,
        frame_burst=max(FRAME_BURST, round(2 * args.dc_rate)),
        bytes_per_second=args.dc_byte_rate,
        byte_burst=max(BYTE_BURST, 2 * max_message),
        max_sctp_backlog=max(ChannelLimits.max_sctp_backlog, 2 * max_message),
        sctp_bytes_per_second=2 * args.dc_byte_rate,
    )
    timeout = args.viewer_timeout
    interval = min(PROBE_INTERVAL, timeout / 4)
    return {
        "channel_limits": limits,
        "liveness": LivenessSettings(interval, timeout),
        "playout_delay": getattr(args, "playout_delay", "auto"),
    }
