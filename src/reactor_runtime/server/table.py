"""The connections of one session: the flat slot, connection-scoped ones, their limits.

A slot is *pending* from its creation until its peer is ICE and DTLS connected.
Pending slots are what an unauthenticated stranger can make for free, so they are
bounded twice: per client address (`max_pending_per_ip`, so one address cannot take
every slot), and in time (a slot without an offer after `offer_timeout`, or not
connected `connect_timeout` after its offer, is reaped: removed here, its peer
closed by the `on_reap` callback).
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Callable

from .connections import Connection, Peer
from .errors import ApiError
from .limits import PENDING_RETRY_AFTER, LimitExceeded, Limits

CID_RANGE = (1002, 9999)
"""Connection ids minted by `POST T/connections` (1001 was the flat route's in 2.10.1)."""

REAP_REASONS = ("no_offer", "not_connected")
"""Why a slot is reaped: no offer within `offer_timeout`, or its peer not connected
within `connect_timeout` of the offer."""

FULL_RETRY_AFTER = 10
"""Seconds a client refused by `max_connections` is told to wait."""

UNKNOWN_CLIENT = "unknown"
"""The address of clients the server cannot name (a Unix socket): they share one cap."""

IPV6_PREFIX = 64
"""IPv6 clients are counted by network: one host is routinely given a whole /64."""

Reaper = Callable[[Connection, str], None]


class ConnectionTable:
    """Flat (`cid` None) and connection-scoped signalling slots, at most `limit` live."""

    def __init__(
        self, limit: int, limits: Limits | None = None, on_reap: Reaper | None = None
    ) -> None:
        """An empty table admitting `limit` live connections.

        Args:
            limit: Live connections at most (`max_connections`).
            limits: The per-address cap and the reaping timeouts.
            on_reap: Called with a slot just removed for being overdue and the reason
                (one of `REAP_REASONS`); it must close the slot's peer.
        """
        self.limit = limit
        self.limits = limits or Limits()
        self.on_reap = on_reap
        self.flat: Connection | None = None
        self.scoped: dict[int, Connection] = {}

    def all(self) -> list[Connection]:
        """Every connection, flat first."""
        return [c for c in (self.flat, *self.scoped.values()) if c is not None]

    @property
    def live(self) -> int:
        """Connections not failed (failed ones are kept only to report why)."""
        return sum(1 for c in self.all() if c.failure is None)

    def pending_for(self, client: str) -> int:
        """Live connections counted under `client` (a `client_key`), not connected yet."""
        return sum(
            1 for c in self.all() if c.client == client and c.failure is None and not c.connected
        )

    def clear(self) -> list[Connection]:
        """Forget every connection; returns them (for the caller to close)."""
        connections = self.all()
        self.flat, self.scoped = None, {}
        for conn in connections:
            conn.cancel_deadline()
        return connections

    def mint(self, client: str | None = None) -> int:
        """A new connection for `client` with a random id, unique in the table.

        Raises:
            LimitExceeded: 503 past `max_connections` or `max_pending_per_ip`.
            ApiError: 503 when the id space is exhausted.
        """
        key = self._check_room(client)
        low, high = CID_RANGE
        if len(self.scoped) > (high - low) // 2:
            free = [i for i in range(low, high + 1) if i not in self.scoped]
            if not free:
                raise ApiError(
                    503, "connection ids exhausted", {"Retry-After": str(FULL_RETRY_AFTER)}
                )
            cid = random.choice(free)
        else:
            cid = random.randint(low, high)
            while cid in self.scoped:
                cid = random.randint(low, high)
        self.scoped[cid] = self._new(cid, key)
        return cid

    def get(self, cid: int | None, *, adopt: bool = False, client: str | None = None) -> Connection:
        """The flat connection (`cid` None) or connection `cid`.

        With `adopt`, a missing one is created for `client`.

        Raises:
            ApiError: 404 for an unknown `cid` unless `adopt`.
            LimitExceeded: 503 when adopting past `max_connections` or `max_pending_per_ip`.
        """
        if cid is None:
            if self.flat is None:
                if not adopt:
                    raise ApiError(404, "no offer was made on this session's flat sdp_params")
                self.flat = self._new(None, self._check_room(client))
            return self.flat
        conn = self.scoped.get(cid)
        if conn is None:
            if not adopt:
                raise ApiError(404, f"unknown connection {cid}; create one with POST connections")
            conn = self.scoped[cid] = self._new(cid, self._check_room(client))
        return conn

    def peer_closed(self, conn: Connection, peer: Peer) -> None:
        """`peer` closed by itself: free its connection unless it was replaced or is pending."""
        # While negotiating, the answer task records the outcome (a rejected offer closes
        # its peer before answer() raises); the connection must stay for the GET to see it.
        if conn.peer is not peer or conn.pending or conn.failure is not None:
            return
        conn.peer = None
        self._remove(conn)

    def _new(self, cid: int | None, client: str) -> Connection:
        conn = Connection(cid, client=client, limits=self.limits, on_overdue=self._overdue)
        conn.expect_offer()
        return conn

    def _overdue(self, conn: Connection, reason: str) -> None:
        if self._remove(conn) and self.on_reap is not None:
            self.on_reap(conn, reason)

    def _remove(self, conn: Connection) -> bool:
        """Drop `conn` if this table still holds it; True if it did."""
        conn.cancel_deadline()
        if conn is self.flat:
            self.flat = None
            return True
        if conn.cid is not None and self.scoped.get(conn.cid) is conn:
            del self.scoped[conn.cid]
            return True
        return False

    def _check_room(self, client: str | None) -> str:
        """Room for one more connection of `client`; returns the address it is counted under."""
        failed = [c for c in self.scoped.values() if c.failure is not None]
        # Keep the last few failures for their GET; older ones only cost memory.
        for conn in failed[: max(len(failed) - self.limit, 0)]:
            self._remove(conn)
        if self.live >= self.limit:
            raise LimitExceeded(
                503,
                "max_connections",
                f"connection limit reached ({self.limit} peers; limit max_connections)",
                {"Retry-After": str(FULL_RETRY_AFTER)},
            )
        key = client_key(client)
        cap = self.limits.max_pending_per_ip
        if self.pending_for(key) >= cap:
            raise LimitExceeded(
                503,
                "max_pending_per_ip",
                f"{cap} connections of this client address are still connecting; finish or "
                "abandon one first (limit max_pending_per_ip)",
                {"Retry-After": str(PENDING_RETRY_AFTER)},
            )
        return key


def client_key(client: str | None) -> str:
    """What `max_pending_per_ip` counts a client address under.

    An IPv4 address (also IPv4-mapped IPv6) as itself, an IPv6 address by its
    `IPV6_PREFIX` network, anything else (no address, a name) as given.
    """
    if not client:
        return UNKNOWN_CLIENT
    try:
        address = ipaddress.ip_address(client)
    except ValueError:
        return client
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/{IPV6_PREFIX}", strict=False))
    return str(address)
