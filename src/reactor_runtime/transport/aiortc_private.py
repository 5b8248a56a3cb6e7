"""`require`: the check made wherever aiortc (or its aioice) is bent.

aiortc offers no hook for several things we need (a longer retransmission history,
our own packetizer, trailers stripped before decoding, a guarded SCTP receive path,
...), so a few modules read or replace its private attributes. Each such module
declares every private name it relies on in one tuple constant, `AIORTC_PRIVATE`,
spelt `"Class.attribute"` (name-mangled ones in full:
`"RTCRtpSender._RTCRtpSender__rtt"`), and calls `require` on the object before
bending it, so an aiortc upgrade that moves a name fails at once with a message
naming it, rather than somewhere downstream.

`tests/transport/test_aiortc_private_names.py` scans the package for private aiortc
names and checks that each is declared in some module's tuple, and that every
declared name exists in the installed aiortc.
"""

from __future__ import annotations

from importlib.metadata import version
from typing import Any


def require(obj: Any, owner: str, declared: tuple[str, ...], where: str) -> None:
    """Check that `obj` has every name `declared` for class `owner`.

    Args:
        obj: The aiortc object (or class) about to be bent.
        owner: Its aiortc class name, as spelt in `declared` (e.g. "RTCRtpSender").
        declared: The bending module's `AIORTC_PRIVATE`; entries of other classes are
            skipped.
        where: The bending module, named in the error (e.g. "transport/rtp_sender.py").

    Raises:
        RuntimeError: A declared name is missing; the message names it, the class and
            the aiortc version.
    """
    prefix = owner + "."
    names = [n.removeprefix(prefix) for n in declared if n.startswith(prefix)]
    missing = [name for name in names if not hasattr(obj, name)]
    if missing:
        raise RuntimeError(
            f"aiortc {version('aiortc')}'s {owner} has no {', '.join(missing)}: "
            f"{where} must follow this aiortc version"
        )
