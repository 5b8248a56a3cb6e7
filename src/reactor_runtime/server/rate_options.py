"""`reactor run` flags for video rate control: the range viewers' estimates move it in.

Each video stream starts at 2.5 Mbit/s at 720p (scaled by picture size) and then
follows its slowest viewer's estimate (`transport.rate_control`) within this range.
"""

from __future__ import annotations

import argparse
import re
from typing import Any

_UNITS = {"": 1, "k": 1_000, "m": 1_000_000}
BANDWIDTH_ESTIMATES = ("send-side", "remb")


def parse_bitrate(text: str) -> int:
    """Bits per second from "300000", "300k" or "2.5M".

    Raises:
        argparse.ArgumentTypeError: not a positive rate in that form.
    """
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmM]?)\s*", text)
    rate = round(float(match.group(1)) * _UNITS[match.group(2).lower()]) if match else 0
    if rate <= 0:
        raise argparse.ArgumentTypeError(
            f"expected a positive bit rate such as 300k or 2.5M, got {text!r}"
        )
    return rate


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the video rate options of `reactor run` to `parser`."""
    group = parser.add_argument_group("video rate")
    group.add_argument(
        "--min-bitrate",
        type=parse_bitrate,
        metavar="RATE",
        help="lowest video rate viewers' estimates may lead to, bit/s (300k)",
    )
    group.add_argument(
        "--max-bitrate",
        type=parse_bitrate,
        metavar="RATE",
        help="highest video rate of any stream, bit/s (10M)",
    )
    group.add_argument(
        "--bandwidth-estimate",
        choices=BANDWIDTH_ESTIMATES,
        default="send-side",
        help="who estimates each viewer's path: send-side, from the viewer's transport-cc "
        "feedback, with probing (default; viewers that do not offer transport-cc use "
        "REMB); or remb, the viewer's own estimate",
    )


def from_args(args: argparse.Namespace) -> dict[str, Any]:
    """`Runtime` keyword arguments (bit rate range, `transport_cc`) from parsed `args`.

    Raises:
        ValueError: the range is empty; the message names both flags and values.
    """
    # Imported here: parsing the command line must not load aiortc and PyAV.
    from ..transport.rate_control import DEFAULT_MAX_BITRATE, DEFAULT_MIN_BITRATE

    low = DEFAULT_MIN_BITRATE if args.min_bitrate is None else args.min_bitrate
    high = DEFAULT_MAX_BITRATE if args.max_bitrate is None else args.max_bitrate
    if low > high:
        raise ValueError(f"--min-bitrate ({low}) must not be above --max-bitrate ({high})")
    transport_cc = getattr(args, "bandwidth_estimate", "send-side") == "send-side"
    return {"min_bitrate": low, "max_bitrate": high, "transport_cc": transport_cc}
