"""`reactor run` flags for per-frame metadata limits, VP8 temporal layering, low streams.

The defaults and their reasons live where the limits apply: `tracks.MAX_FRAME_METADATA`
(what `emit` takes per video frame), `transport.frame_metadata.MAX_TRAILER` (what is
read off a viewer's video per frame), `transport.pipelines` (temporal layers),
`transport.low_stream` (the second, smaller encode for viewers far below the others).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from ..tracks import MAX_FRAME_METADATA

FRAME_METADATA_CEILING = 192 * 1024
"""Highest `--max-frame-metadata`: base64-encoded, one frame's metadata travels in one
data-channel message to our page (`frameMetadata`), and 192 KiB become 256 KiB, the
largest message every browser's data channel takes."""
TRAILER_CEILING = 1 << 20
"""Highest `--max-trailer`: a trailer is held in memory per frame until its picture
is decoded (64 of them per track); a MiB is already ~700 RTP packets a frame."""


@dataclass(frozen=True)
class MediaOptions:
    """The parsed flags: `max_frame_metadata` goes to the `Session`, the rest to `Runtime`."""

    max_frame_metadata: int
    max_trailer: int
    temporal_layers: int | None = None
    low_stream: bool | None = None

    def runtime_options(self) -> dict[str, int | bool | None]:
        """`Runtime` keyword arguments (`max_trailer`, `temporal_layers`, `low_stream`)."""
        return {
            "max_trailer": self.max_trailer,
            "temporal_layers": self.temporal_layers,
            "low_stream": self.low_stream,
        }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the frame-metadata, layering and low-stream options of `reactor run` to `parser`."""
    group = parser.add_argument_group("video frames")
    group.add_argument(
        "--max-frame-metadata",
        type=int,
        default=MAX_FRAME_METADATA,
        metavar="BYTES",
        help="largest metadata one emitted video frame may carry, encoded; emit() refuses "
        f"more (MAX_FRAME_METADATA, {MAX_FRAME_METADATA}; at most {FRAME_METADATA_CEILING}); "
        "viewers reading trailers must accept as much",
    )
    group.add_argument(
        "--max-trailer",
        type=int,
        default=None,
        metavar="BYTES",
        help="largest frame-metadata trailer read off a viewer's video frame; larger are "
        "dropped and counted (MAX_TRAILER, --max-frame-metadata + 64)",
    )
    group.add_argument(
        "--temporal-layers",
        type=int,
        choices=(1, 2),
        help="VP8 temporal layers: 2 lets slow viewers get the base layer at half the "
        "frame rate, 1 sends one layer (transport.vp8_encoder.TEMPORAL_LAYERS, 2)",
    )
    group.add_argument(
        "--no-low-stream",
        dest="low_stream",
        action="store_false",
        default=None,
        help="no second, smaller encode for viewers far below the others "
        "(transport.low_stream); they get the VP8 base layer only instead",
    )


def from_args(args: argparse.Namespace) -> MediaOptions:
    """The `MediaOptions` of parsed `args`.

    Raises:
        ValueError: a value is out of range; the message names the flag, the range and
            the value.
    """
    from ..transport.frame_metadata import MAX_TRAILER

    metadata = args.max_frame_metadata
    if not 1 <= metadata <= FRAME_METADATA_CEILING:
        raise ValueError(
            f"--max-frame-metadata: expected 1..{FRAME_METADATA_CEILING} bytes, got {metadata}"
        )
    trailer = args.max_trailer
    if trailer is None:
        trailer = MAX_TRAILER - MAX_FRAME_METADATA + metadata
    elif not 1 <= trailer <= TRAILER_CEILING:
        raise ValueError(f"--max-trailer: expected 1..{TRAILER_CEILING} bytes, got {trailer}")
    return MediaOptions(metadata, trailer, args.temporal_layers, args.low_stream)
