"""`Signalling`: the viewer connections of the running session, from id to closed peer.

It mints connection ids, answers offers with peers it is handed a factory for,
applies trickled candidates, reaps slots that stall (see `table`) and closes
everything when the session ends. It knows neither the model nor the session
epochs: `Runtime` checks the session id first and names the epoch a viewer
belongs to.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable
from typing import Any

from ..protocol import version_for_route
from .connections import Connection, Peer, close_peer
from .counters import LimitCounter
from .errors import ApiError
from .ice import with_public_ip
from .limits import Limits
from .table import ConnectionTable

log = logging.getLogger(__name__)

MakePeer = Callable[..., Peer]
"""Builds a viewer's peer: `make_peer(viewer_id=, family=, on_closed=)`."""


class Signalling:
    """The flat and connection-scoped signalling slots of one session, and their peers."""

    def __init__(
        self,
        max_connections: int,
        limits: Limits,
        limit_counts: LimitCounter,
        public_ip: str | None = None,
    ) -> None:
        """No connection yet; at most `max_connections` live ones, held to `limits`.

        Args:
            max_connections: concurrent peers before 503.
            limits: request and connection bounds.
            limit_counts: where reaps are counted.
            public_ip: the address host candidates in answers carry (NAT 1:1), if any.
        """
        self.limits = limits
        self.limit_counts = limit_counts
        self.public_ip = public_ip
        self.table = ConnectionTable(max_connections, limits, on_reap=self._reaped)
        self.viewer_ids: set[str] = set()
        """Viewers of the peers made in this session, reported gone or not."""
        self._viewer_seq = itertools.count(1)
        self._background: set[asyncio.Task[Any]] = set()

    @property
    def live(self) -> int:
        """Live connections (flat and scoped)."""
        return self.table.live

    def mint(self, client: str | None = None) -> int:
        """Mint a connection id (random in 1002-9999, unique in the session) for `client`.

        Raises:
            ApiError: 503 when the connection limit, `client`'s pending connections
                or the id space are exhausted.
        """
        return self.table.mint(client)

    def offer(
        self,
        cid: int | None,
        offer_sdp: str,
        track_mapping: list[dict[str, Any]],
        client: str | None,
        *,
        epoch: int,
        make_peer: MakePeer,
    ) -> None:
        """Start answering an offer in the background; a previous peer there is replaced.

        Raises:
            ApiError: 503 when full (for `client`, when adopting a new connection).
        """
        conn = self.table.get(cid, adopt=True, client=client)
        viewer_id = f"s{epoch}-{cid if cid is not None else 'flat'}-{next(self._viewer_seq)}"
        holder: list[Peer] = []
        peer = make_peer(
            viewer_id=viewer_id,
            family=version_for_route("flat" if cid is None else "connections"),
            on_closed=lambda *_: self.table.peer_closed(conn, holder[0]),
        )
        holder.append(peer)
        self.viewer_ids.add(viewer_id)
        old = conn.offer(peer, viewer_id, offer_sdp, track_mapping, self._negotiation_failed)
        if old is not None:
            self._spawn(close_peer(old, None))

    def answer(self, cid: int | None) -> str | None:
        """The answer SDP of a connection, or None while it is being negotiated.

        Raises:
            ApiError: 404 for an unknown connection or one without an offer; the
                negotiation's own status (4xx/504) if answering failed.
        """
        conn = self.table.get(cid)
        if not conn.has_offer:
            raise ApiError(404, "no offer was received on this connection yet")
        if conn.failure is not None:
            raise ApiError(conn.failure.status, conn.failure.detail)
        if conn.answer_sdp is not None and self.public_ip:
            return with_public_ip(conn.answer_sdp, self.public_ip)
        return conn.answer_sdp

    async def add_candidates(
        self,
        cid: int | None,
        candidates: list[dict[str, Any]],
        is_final: bool,
        client: str | None = None,
    ) -> None:
        """Apply (or buffer until the offer) a batch of client ICE candidates.

        Raises:
            ApiError: 503 when adopting a new connection past a limit; 400 past
                `max_candidates_per_connection`.
        """
        conn = self.table.get(cid, adopt=True, client=client)
        await conn.add_candidates(candidates, is_final)

    async def close_all(self, reason: str) -> set[str]:
        """Close every connection, telling its peer `reason`.

        Returns:
            The viewers of the session's peers (for the caller to make sure they left).
        """
        connections = self.table.clear()
        await asyncio.gather(*(c.close(reason) for c in connections))
        viewers, self.viewer_ids = self.viewer_ids, set()
        return viewers

    def _negotiation_failed(self, peer: Peer) -> None:
        self._spawn(close_peer(peer, None))

    def _reaped(self, conn: Connection, reason: str) -> None:
        self.limit_counts.reaped[reason] += 1
        if reason == "no_offer":
            why = f"no offer within {self.limits.offer_timeout:g} s"
        else:
            why = f"not connected within {self.limits.connect_timeout:g} s of the offer"
        log.info("connection %s of %s reaped: %s", conn.cid or "flat", conn.client, why)
        self._spawn(conn.close(why))

    def _spawn(self, coro: Any) -> None:
        # The loop keeps only weak references to tasks; hold fire-and-forget ones here.
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
