"""One signalling connection: its current peer, the answer in progress, buffered ICE.

A connection outlives its peers: a `PUT` on the same connection replaces the peer
(a reconnect) while the connection id stays. Each offer starts a new *generation*;
results of an older generation (a late answer, candidates of an old ICE session)
are dropped.

A connection keeps one deadline at a time: for its offer, then for its peer to be
connected. Missing one calls `on_overdue` (the table removes the connection and has
its peer closed); a connected peer is left alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Callable
from typing import Any, Protocol

from .limits import LimitExceeded, Limits

log = logging.getLogger(__name__)

ANSWER_DEADLINE = 15.0
"""Seconds an answer may take before the connection reports failure instead of 202."""

_UFRAG_IN_SDP = re.compile(r"^a=ice-ufrag:(\S+)", re.MULTILINE)
_UFRAG_IN_CANDIDATE = re.compile(r"\bufrag (\S+)")


class Peer(Protocol):
    """What the runtime needs of a viewer peer (`reactor_runtime.transport.ViewerPeer`).

    Attributes:
        state: "connected" once ICE and DTLS are (any other value: not yet, or no more).
    """

    state: str

    async def answer(self, offer_sdp: str, track_mapping: list[dict[str, Any]]) -> str:
        """Apply the offer and return the answer SDP (all candidates inline)."""
        ...

    async def add_candidates(self, candidates: list[dict[str, Any]], is_final: bool) -> None:
        """Apply remote ICE candidates."""
        ...

    async def close(self, reason: str | None = None) -> None:
        """Close the peer, telling the viewer `reason` first when given."""
        ...


def offer_ufrags(sdp: str) -> set[str]:
    """The ICE username fragments an offer declares."""
    return set(_UFRAG_IN_SDP.findall(sdp))


def candidate_ufrag(candidate: dict[str, Any]) -> str | None:
    """The `ufrag` a libwebrtc candidate line names, if any (aiortc's lines carry none)."""
    found = _UFRAG_IN_CANDIDATE.search(candidate.get("candidate", ""))
    return found.group(1) if found else None


class NegotiationFailed(Exception):
    """The offer could not be answered; `status` is the HTTP status for the next GET."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class Connection:
    """A client's signalling slot: flat (`cid` None) or connection-scoped."""

    def __init__(
        self,
        cid: int | None,
        *,
        client: str | None = None,
        limits: Limits | None = None,
        on_overdue: Callable[[Connection, str], None] | None = None,
    ) -> None:
        """Create an empty slot; `offer()` gives it a peer.

        Args:
            cid: The connection id, None for the flat slot.
            client: The address of the client that made it.
            limits: Its candidate budget and deadlines.
            on_overdue: Called with the slot and "no_offer" or "not_connected" when
                a deadline passes; without it, no deadline is kept.
        """
        self.cid = cid
        self.client = client
        self.limits = limits or Limits()
        self.on_overdue = on_overdue
        self.peer: Peer | None = None
        self.viewer_id: str | None = None
        self.generation = 0
        self.answer_sdp: str | None = None
        self.failure: NegotiationFailed | None = None
        self._task: asyncio.Task[None] | None = None
        self._ufrags: set[str] = set()
        self._remote_set = False
        self._pending: list[dict[str, Any]] = []
        self._pending_final = False
        self._posted = 0
        self._deadline: asyncio.TimerHandle | None = None
        self._lock = asyncio.Lock()

    @property
    def has_offer(self) -> bool:
        """True once an offer was received on this connection."""
        return self.generation > 0

    @property
    def pending(self) -> bool:
        """True while the current offer is being answered."""
        return self.has_offer and self.answer_sdp is None and self.failure is None

    @property
    def connected(self) -> bool:
        """True while the current peer is ICE and DTLS connected."""
        return self.peer is not None and getattr(self.peer, "state", None) == "connected"

    def expect_offer(self) -> None:
        """Start the `offer_timeout` deadline (the table calls it on a new slot)."""
        self._arm(self.limits.offer_timeout, "no_offer")

    def cancel_deadline(self) -> None:
        """Drop the current deadline, if any."""
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _arm(self, seconds: float, reason: str) -> None:
        self.cancel_deadline()
        if self.on_overdue is not None and seconds > 0:
            loop = asyncio.get_running_loop()
            self._deadline = loop.call_later(seconds, self._expire, reason)

    def _expire(self, reason: str) -> None:
        self._deadline = None
        # A failed offer is kept only to report why, and no longer holds a slot.
        if self.connected or self.failure is not None or self.on_overdue is None:
            return
        self.on_overdue(self, reason)

    def offer(
        self,
        peer: Peer,
        viewer_id: str,
        offer_sdp: str,
        track_mapping: list[dict[str, Any]],
        on_failed: Callable[[Peer], None],
    ) -> Peer | None:
        """Start answering `offer_sdp` with `peer` in the background.

        Returns:
            The previous peer, which the caller must close.
        """
        old = self.peer
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self.peer, self.viewer_id = peer, viewer_id
        self.generation += 1
        self.answer_sdp, self.failure = None, None
        self._remote_set = False
        self._ufrags = offer_ufrags(offer_sdp)
        # Candidates buffered under another ufrag belong to a replaced ICE session.
        self._pending = [c for c in self._pending if self._fits(c)]
        self._posted = len(self._pending)
        if old is not None:
            self._pending_final = False
        self._arm(self.limits.connect_timeout, "not_connected")
        self._task = asyncio.create_task(
            self._negotiate(peer, self.generation, offer_sdp, track_mapping, on_failed),
            name=f"answer:{self.cid if self.cid is not None else 'flat'}",
        )
        return old

    async def _negotiate(
        self,
        peer: Peer,
        generation: int,
        offer_sdp: str,
        track_mapping: list[dict[str, Any]],
        on_failed: Callable[[Peer], None],
    ) -> None:
        try:
            answer = await asyncio.wait_for(peer.answer(offer_sdp, track_mapping), ANSWER_DEADLINE)
        except asyncio.CancelledError:
            raise
        except TimeoutError:
            failure = NegotiationFailed(
                504, f"the answer was not ready within {ANSWER_DEADLINE:g} s; send a new offer"
            )
        except ValueError as exc:
            failure = NegotiationFailed(400, f"invalid offer: {exc}")
        except Exception as exc:
            # A client only sees a status; 4xx tells it the offer, not the server, must change.
            log.exception("answering an offer failed")
            failure = NegotiationFailed(400, f"could not answer the offer: {exc!r}")
        else:
            if generation != self.generation:
                return
            self.answer_sdp = answer
            await self._apply_pending(peer)
            return
        if generation == self.generation:
            self.failure = failure
            on_failed(peer)

    async def _apply_pending(self, peer: Peer) -> None:
        async with self._lock:
            self._remote_set = True
            batch, final = self._pending, self._pending_final
            self._pending = []
            if batch or final:
                await self._apply(peer, batch, final)

    async def add_candidates(self, candidates: list[dict[str, Any]], is_final: bool) -> None:
        """Apply candidates to the answered peer, or keep them until its offer is answered.

        Raises:
            LimitExceeded: 400 past `max_candidates_per_connection` since the last offer
                (none of this batch is kept).
        """
        budget = self.limits.max_candidates_per_connection
        if self._posted + len(candidates) > budget:
            raise LimitExceeded(
                400,
                "max_candidates_per_connection",
                f"candidates: {self._posted + len(candidates)} on this connection since its "
                f"offer, more than {budget} (limit max_candidates_per_connection)",
            )
        self._posted += len(candidates)
        async with self._lock:
            if self.peer is not None and self._remote_set:
                fresh = [c for c in candidates if self._fits(c)]
                later = [c for c in candidates if not self._fits(c)]
                # A ufrag the peer does not know may announce the next offer (a PUT to come).
                self._keep(later, False)
                if fresh or is_final:
                    await self._apply(self.peer, fresh, is_final)
            else:
                self._keep(candidates, is_final)

    def _keep(self, candidates: list[dict[str, Any]], is_final: bool) -> None:
        # Bounded: what is kept was posted since the last offer, within the budget.
        self._pending.extend(candidates)
        self._pending_final = self._pending_final or is_final

    def _fits(self, candidate: dict[str, Any]) -> bool:
        ufrag = candidate_ufrag(candidate)
        return ufrag is None or not self._ufrags or ufrag in self._ufrags

    @staticmethod
    async def _apply(peer: Peer, candidates: list[dict[str, Any]], is_final: bool) -> None:
        try:
            await peer.add_candidates(candidates, is_final)
        except Exception as exc:
            # A bad candidate costs only that path; the client already got its 202.
            log.warning("ICE candidates rejected: %r", exc)

    async def close(self, reason: str | None) -> None:
        """Stop negotiating and close the peer (telling the viewer `reason` when given)."""
        self.cancel_deadline()
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        peer, self.peer = self.peer, None
        if peer is not None:
            await close_peer(peer, reason)


async def close_peer(peer: Peer, reason: str | None, timeout: float = 5.0) -> None:
    """Close `peer`, logging (never raising) failures; waits at most `timeout` seconds."""
    try:
        await asyncio.wait_for(peer.close(reason), timeout)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.warning("closing a viewer peer failed: %r", exc)
