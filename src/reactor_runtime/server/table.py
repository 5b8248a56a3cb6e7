"""The connections of one session: the flat slot, connection-scoped ones, their limits."""

from __future__ import annotations

import random

from .connections import Connection, Peer
from .errors import ApiError

CID_RANGE = (1002, 9999)
"""Connection ids minted by `POST T/connections` (1001 was the flat route's in 2.10.1)."""


class ConnectionTable:
    """Flat (`cid` None) and connection-scoped signalling slots, at most `limit` live."""

    def __init__(self, limit: int) -> None:
        """An empty table admitting `limit` live connections."""
        self.limit = limit
        self.flat: Connection | None = None
        self.scoped: dict[int, Connection] = {}

    def all(self) -> list[Connection]:
        """Every connection, flat first."""
        return [c for c in (self.flat, *self.scoped.values()) if c is not None]

    @property
    def live(self) -> int:
        """Connections not failed (failed ones are kept only to report why)."""
        return sum(1 for c in self.all() if c.failure is None)

    def clear(self) -> list[Connection]:
        """Forget every connection; returns them (for the caller to close)."""
        connections = self.all()
        self.flat, self.scoped = None, {}
        return connections

    def mint(self) -> int:
        """A new connection with a random id, unique in the table.

        Raises:
            ApiError: 503 when the limit or the id space is exhausted.
        """
        self._check_room()
        low, high = CID_RANGE
        if len(self.scoped) > (high - low) // 2:
            free = [i for i in range(low, high + 1) if i not in self.scoped]
            if not free:
                raise ApiError(503, "connection ids exhausted")
            cid = random.choice(free)
        else:
            cid = random.randint(low, high)
            while cid in self.scoped:
                cid = random.randint(low, high)
        self.scoped[cid] = Connection(cid)
        return cid

    def get(self, cid: int | None, *, adopt: bool = False) -> Connection:
        """The flat connection (`cid` None) or connection `cid`.

        Raises:
            ApiError: 404 for an unknown `cid` unless `adopt`; 503 when full.
        """
        if cid is None:
            if self.flat is None:
                if not adopt:
                    raise ApiError(404, "no offer was made on this session's flat sdp_params")
                self._check_room()
                self.flat = Connection(None)
            return self.flat
        conn = self.scoped.get(cid)
        if conn is None:
            if not adopt:
                raise ApiError(404, f"unknown connection {cid}; create one with POST connections")
            self._check_room()
            conn = self.scoped[cid] = Connection(cid)
        return conn

    def peer_closed(self, conn: Connection, peer: Peer) -> None:
        """`peer` closed by itself: free its connection unless it was replaced or is pending."""
        # While negotiating, the answer task records the outcome (a rejected offer closes
        # its peer before answer() raises); the connection must stay for the GET to see it.
        if conn.peer is not peer or conn.pending or conn.failure is not None:
            return
        conn.peer = None
        if conn is self.flat:
            self.flat = None
        elif conn.cid is not None and self.scoped.get(conn.cid) is conn:
            del self.scoped[conn.cid]

    def _check_room(self) -> None:
        failed = [cid for cid, c in self.scoped.items() if c.failure is not None]
        # Keep the last few failures for their GET; older ones only cost memory.
        for cid in failed[: max(len(failed) - self.limit, 0)]:
            del self.scoped[cid]
        if self.live >= self.limit:
            raise ApiError(503, f"connection limit reached ({self.limit} peers)")
