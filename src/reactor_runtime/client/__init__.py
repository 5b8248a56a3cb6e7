"""A headless Python viewer of a reactor runtime (aiortc), used by tests and benchmarks.

It speaks what the official Python SDK speaks (wire v1: `/connections` routes,
protobuf on the `data` and `control` channels), never contacts a public STUN
server, and exposes the media as plain numpy arrays::

    from reactor_runtime.client import connect

    async with connect("http://127.0.0.1:8080") as session:
        print(session.descriptor["capabilities"]["commands"])
        async for frame in session.video():       # VideoFrame: .array (H, W, 3) RGB
            print(frame.pts, frame.array.shape, frame.metadata)  # the model's, if any
            break
        reply = await session.command("set_prompt", prompt="a forest")
        data = await session.wait_message("progress")

A viewer on this machine (a `127.0.0.1` / `localhost` URL) gathers its ICE candidates
on 127.0.0.1 only; the runtime offers a loopback candidate for that. Anything else
uses the host's ordinary interfaces (e.g. inside a test network namespace).
"""

from __future__ import annotations

from typing import Any

from .connection import Connector
from .media import VideoFrame
from .session import ClientSession
from .signalling import ConnectError
from .streams import Subscription
from .uploads import FileRef
from .wire import CommandFailed

__all__ = [
    "ClientSession",
    "CommandFailed",
    "ConnectError",
    "Connector",
    "FileRef",
    "Subscription",
    "VideoFrame",
    "connect",
]


def connect(
    url: str,
    *,
    video: bool = True,
    audio: bool = True,
    publish: list[str] | None = None,
    trickle: bool = False,
    stop_session: bool = False,
    timeout: float = 30.0,
    token: str | None = None,
    verify: Any = True,
) -> Connector:
    """Start (or join) the runtime's session and connect to it as a viewer.

    Use as `async with connect(url) as session:` (closed on exit) or
    `session = await connect(url)` (then `await session.close()`).

    Steps (WIRE.md §2): `POST /start_session` (idempotent: joins a running session;
    retried while the model loads), `GET T/ice_servers`, `POST T/connections`, an
    offer with one transceiver per wanted descriptor track (outputs `recvonly`,
    inputs `sendonly`) plus the `data` and `control` channels, then polling for the
    answer and waiting until the peer is connected and both channels are open.

    Args:
        url: The runtime's base URL, e.g. `http://127.0.0.1:8080`.
        video: Receive the model's video output tracks.
        audio: Receive the model's audio output tracks.
        publish: Input tracks (webcam, mic) to offer for sending; `session.publish()`
            then feeds them. None offers none.
        trickle: Send our ICE candidates through `ice_candidates` (as the official
            Python SDK does) instead of inline in the offer.
        stop_session: Make `close()` also `POST /stop_session`, ending the session.
        timeout: Seconds for the whole connect, model loading included.
        token: Sent as `Authorization: Bearer <token>` on every request, for a runtime
            started with `reactor run --token`.
        verify: TLS verification for an `https://` runtime: True (the system's CAs),
            a CA bundle path (e.g. the `--tls self-signed` certificate), or False.

    Returns:
        A `Connector`: await it or enter it to get the `ClientSession`.

    Raises:
        ConnectError: (when awaited) the session could not be started or connected.
        ValueError: (when awaited) `publish` names a track that is not an input.
    """
    options = {
        "video": video,
        "audio": audio,
        "publish": list(publish or []),
        "trickle": trickle,
        "stop_session": stop_session,
        "timeout": timeout,
        "token": token,
        "verify": verify,
    }
    return Connector(url, options)
