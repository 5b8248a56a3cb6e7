"""`reactor run` flags for the request and connection limits an operator may move.

The defaults and their reasons live in `limits`; the bounds that follow from the
wire protocol (JSON depth, SDP size, m-lines, candidates) are tunable only through
`Limits`, for an embedding program.
"""

from __future__ import annotations

import argparse

from .limits import (
    CONNECT_TIMEOUT,
    MAX_BODY_BYTES,
    MAX_PENDING_PER_IP,
    MAX_SESSION_UPLOAD_BYTES,
    MAX_UPLOAD_BYTES,
    MAX_UPLOADS,
    OFFER_TIMEOUT,
    Limits,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the limit options of `reactor run` to `parser`."""
    group = parser.add_argument_group("request and connection limits")
    group.add_argument(
        "--max-body",
        type=int,
        default=MAX_BODY_BYTES,
        metavar="BYTES",
        help=f"largest request body before 413 ({MAX_BODY_BYTES})",
    )
    group.add_argument(
        "--max-pending-per-ip",
        type=int,
        default=MAX_PENDING_PER_IP,
        metavar="N",
        help="connections one client address may hold before they connect; more get 503 "
        f"({MAX_PENDING_PER_IP})",
    )
    group.add_argument(
        "--offer-timeout",
        type=float,
        default=OFFER_TIMEOUT,
        metavar="SECONDS",
        help=f"close a connection that got no offer this long after it was made; 0 never "
        f"({OFFER_TIMEOUT:g})",
    )
    group.add_argument(
        "--connect-timeout",
        type=float,
        default=CONNECT_TIMEOUT,
        metavar="SECONDS",
        help="close a connection whose peer is not ICE and DTLS connected this long after "
        f"its offer; 0 never ({CONNECT_TIMEOUT:g})",
    )
    group.add_argument(
        "--max-upload",
        type=int,
        default=MAX_UPLOAD_BYTES,
        metavar="BYTES",
        help=f"largest file a viewer may upload; larger get 413 ({MAX_UPLOAD_BYTES})",
    )
    group.add_argument(
        "--max-session-uploads",
        type=int,
        default=MAX_SESSION_UPLOAD_BYTES,
        metavar="BYTES",
        help=f"bytes all uploads of a session may take on disk ({MAX_SESSION_UPLOAD_BYTES})",
    )
    group.add_argument(
        "--max-uploads",
        type=int,
        default=MAX_UPLOADS,
        metavar="N",
        help=f"uploads one session may make; more get 429 ({MAX_UPLOADS})",
    )


def from_args(args: argparse.Namespace) -> Limits:
    """The `Limits` of parsed `args`.

    Raises:
        ValueError: a value is out of range; the message names the flag.
    """
    flags = {
        "max_body_bytes": ("--max-body", args.max_body),
        "max_pending_per_ip": ("--max-pending-per-ip", args.max_pending_per_ip),
        "offer_timeout": ("--offer-timeout", args.offer_timeout),
        "connect_timeout": ("--connect-timeout", args.connect_timeout),
        "max_upload_bytes": ("--max-upload", args.max_upload),
        "max_session_upload_bytes": ("--max-session-uploads", args.max_session_uploads),
        "max_uploads": ("--max-uploads", args.max_uploads),
    }
    try:
        return Limits(**{field: value for field, (_, value) in flags.items()})
    except ValueError as exc:
        field, _, problem = str(exc).partition(": ")
        flag = flags[field][0] if field in flags else field
        raise ValueError(f"{flag}: {problem}") from None
