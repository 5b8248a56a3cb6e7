"""`RemoteCandidates`: a viewer's trickled ICE candidates, onto its one transport.

The Python SDK trickles its candidates (WIRE.md §3), possibly before its offer has
been applied, and once per media section. Here they are held until the offer is
applied, then each is added once: garbage entries
are skipped with a log line, candidates of another ICE ufrag (stale) are dropped,
duplicates ignored, and every candidate is put on the bundle's first section, the
only one aiortc listens to with BUNDLE.
"""

from __future__ import annotations

import logging
from typing import Any

from aiortc import RTCPeerConnection

from .ice import candidate_key, candidate_ufrag, parse_candidate
from .offer import OfferPlan

log = logging.getLogger(__name__)


class RemoteCandidates:
    """The candidates one viewer trickled, added to its connection once the offer is applied."""

    def __init__(self, pc: RTCPeerConnection, viewer_id: str) -> None:
        """Add candidates to `pc`; `viewer_id` names the viewer in log lines."""
        self.pc = pc
        self.viewer_id = viewer_id
        self._plan: OfferPlan | None = None
        self._pending: list[dict[str, Any]] = []
        self._seen: set[tuple[Any, ...]] = set()

    def use(self, plan: OfferPlan) -> None:
        """Map candidates onto the sections of `plan` (call before applying its offer)."""
        self._plan = plan

    async def add(self, candidates: list[dict], is_final: bool) -> None:
        """Add client candidates; held while the connection has no remote description.

        Garbage entries are skipped with a log line; stale ones (another ICE ufrag) dropped.
        """
        entries = [c for c in (candidates or []) if isinstance(c, dict)]
        for bad in (c for c in (candidates or []) if not isinstance(c, dict)):
            log.info("viewer %s: skipping candidate %r: not an object", self.viewer_id, bad)
        if is_final:
            entries.append({"_final": True})
        if self.pc.remoteDescription is None:
            self._pending.extend(entries)
            return
        await self._apply(entries)

    async def add_held(self) -> None:
        """Add the candidates held before the offer was applied (once it is)."""
        pending, self._pending = self._pending, []
        await self._apply(pending)

    async def _apply(self, entries: list[dict[str, Any]]) -> None:
        plan = self._plan
        assert plan is not None
        primary = plan.bundle_mid or next((m.rtp.muxId for m in plan.description.media), None)
        index = next((i for i, m in enumerate(plan.description.media) if m.rtp.muxId == primary), 0)
        for entry in entries:
            if entry.get("_final"):
                await self.pc.addIceCandidate(None)
                continue
            ufrag = candidate_ufrag(entry)
            if ufrag is not None and plan.ice_ufrag is not None and ufrag != plan.ice_ufrag:
                log.debug("viewer %s: dropping stale candidate (ufrag %s)", self.viewer_id, ufrag)
                continue
            try:
                candidate = parse_candidate(entry, primary)
            except ValueError as exc:
                log.info("viewer %s: skipping candidate: %s", self.viewer_id, exc)
                continue
            key = candidate_key(candidate)
            if key in self._seen:
                continue
            self._seen.add(key)
            # With BUNDLE there is one transport; aiortc ignores candidates that name
            # a bundled (non-first) section, and clients send them once per section.
            candidate.sdpMid, candidate.sdpMLineIndex = primary, index
            try:
                await self.pc.addIceCandidate(candidate)
            except Exception as exc:
                log.info("viewer %s: candidate rejected: %r", self.viewer_id, exc)
