"""The transport a `Runtime` serves with unless given another: aiortc peers and the hub.

aiortc and the transport package are imported when the factories are made (as the
model loads), so a runtime given factories of its own (tests) never imports them.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from ..session import Session
from .connections import Peer

PeerFactory = Callable[..., Peer]
HubFactory = Callable[[Session], Any]


def default_transport(
    video_codec: str, peer_options: dict[str, Any], hub_options: dict[str, Any] | None = None
) -> tuple[PeerFactory, HubFactory]:
    """Factories of `transport.ViewerPeer` and `transport.MediaHub` for a runtime.

    Args:
        video_codec: the hub's preferred video codec, "vp8" or "h264".
        peer_options: keyword arguments every peer gets (channel limits, liveness).
        hub_options: keyword arguments the hub gets (its video bit rate range).

    Returns:
        The peer factory (it takes WIRE.md §2.5 ICE server dicts) and the hub factory.
    """
    from aiortc import RTCIceServer

    from ..transport import MediaHub, ViewerPeer

    accepted = inspect.signature(MediaHub).parameters

    def hub(session: Session) -> Any:
        options = {"video_codec": video_codec, "fps": float(session.model_class.fps)}
        options.update(hub_options or {})
        return MediaHub(session, **{k: v for k, v in options.items() if k in accepted})

    def peer(*args: Any, ice_servers: list[dict[str, Any]], **kwargs: Any) -> Peer:
        # Clients get WIRE.md §2.5 dicts; aiortc wants its own objects.
        servers = [
            RTCIceServer(
                urls=entry["uris"],
                username=entry.get("credentials", {}).get("username"),
                credential=entry.get("credentials", {}).get("password"),
            )
            for entry in ice_servers
        ]
        return ViewerPeer(*args, ice_servers=servers, **peer_options, **kwargs)

    return peer, hub
