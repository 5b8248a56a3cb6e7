"""Where a Chromium sender's own RTCP sender reports put its flashes and clicks.

Run inside the private network as `python labels.py ADDRESS PORT`: an aiortc peer
that receives the floor's stream (the page sends the floor's tracks to it on a
second connection, `avsync.labelFloor`) and maps each flash (first bright picture)
and click (first loud sample) through that track's latest sender report to the
sender's NTP clock. `GET /labels` returns those times in seconds.

Why: the floor stands for a perfect sender, but Chromium labels its own media
imperfectly. Its Opus packets play one encoder look-ahead (6.5 ms) after their
label, and the floor's canvas flash is drawn when the audio thread renders the
click's 10 ms block, not at the click's own sample. A receiver plays each track by
its labels, so "click label - flash label" is the floor's own skew at the source,
and the harness takes it out of the floor's figures (see `harness.compare`). Our
runtime's labels are exact by construction (`tests/transport/test_rtcp_sync.py`).

aiortc's receiver keeps no sender reports and rebases RTP timestamps; both are
worked around on private attributes, as in that test.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import uvicorn
from aiortc import RTCPeerConnection, RTCSessionDescription
from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware

from reactor_runtime.transport.ice import configuration, use_host_addresses

TWO_32 = 1 << 32
NTP_UNIX_OFFSET = 2_208_988_800
LOUD = 8000
BRIGHT = 128


class _Identity:
    """Keeps raw RTP timestamps on decoded frames (aiortc rebases them to the first one)."""

    def map(self, timestamp: int) -> int:
        return timestamp


class LabelReceiver:
    """One received floor stream: flash and click RTP times, and each track's reports."""

    def __init__(self) -> None:
        self.reports: dict[str, list[tuple[int, int]]] = {"audio": [], "video": []}
        self.flashes: list[int] = []
        self.clicks: list[int] = []
        self.peers: list[RTCPeerConnection] = []
        self._lit = False
        self._quiet_until = -1

    async def answer(self, offer: str, address: str) -> str:
        pc = RTCPeerConnection(configuration([]))
        self.peers.append(pc)
        pc.on("track", lambda track: asyncio.ensure_future(self._consume(track)))
        await pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
        for transceiver in pc.getTransceivers():
            receiver = transceiver.receiver
            receiver._RTCRtpReceiver__timestamp_mapper = _Identity()
            self._record(receiver, self.reports[transceiver.kind])
        use_host_addresses(pc, [address])
        await pc.setLocalDescription(await pc.createAnswer())
        return pc.localDescription.sdp

    def labels(self) -> dict[str, Any]:
        """Flash and click times on the sender's clock (Unix seconds), and report counts."""
        video, audio = self.reports["video"], self.reports["audio"]
        return {
            "flashes": [_unix(t, video[-1], 90_000) for t in self.flashes] if video else [],
            "clicks": [_unix(t, audio[-1], 48_000) for t in self.clicks] if audio else [],
            "reports": {kind: len(r) for kind, r in self.reports.items()},
        }

    @staticmethod
    def _record(receiver: Any, reports: list[tuple[int, int]]) -> None:
        original = receiver._handle_rtcp_packet

        async def handle(packet: Any) -> None:
            info = getattr(packet, "sender_info", None)
            if info is not None and info.packet_count:
                reports.append((info.ntp_timestamp, info.rtp_timestamp))
            await original(packet)

        receiver._handle_rtcp_packet = handle

    async def _consume(self, track: Any) -> None:
        while True:
            frame = await track.recv()
            if track.kind == "video":
                lit = frame.to_ndarray(format="gray").mean() > BRIGHT
                if lit and not self._lit:
                    self.flashes.append(frame.pts)
                self._lit = lit
                continue
            samples = frame.to_ndarray().reshape(-1, frame.layout.nb_channels)[:, 0]
            for index in np.flatnonzero(np.abs(samples.astype(np.int32)) > LOUD):
                at = frame.pts + int(index)
                if at > self._quiet_until:
                    self.clicks.append(at)
                self._quiet_until = at + 24_000


def _unix(rtp: int, report: tuple[int, int], rate: int) -> float:
    ntp, report_rtp = report
    delta = (rtp - report_rtp + (1 << 31)) % TWO_32 - (1 << 31)
    return ntp / TWO_32 + delta / rate - NTP_UNIX_OFFSET


def app(address: str) -> FastAPI:
    """The label receiver's HTTP face: `POST /offer` ({sdp} -> {sdp}), `GET /labels`.

    Each offer replaces the previous stream (the page reconnected).
    """
    current = [LabelReceiver()]

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        print("serving labels", flush=True)
        yield

    api = FastAPI(lifespan=lifespan)
    api.add_middleware(
        CORSMiddleware, allow_origins=["*"], allow_methods=["*"], allow_headers=["*"]
    )

    @api.post("/offer")
    async def offer(request: Request) -> dict[str, str]:
        body = await request.json()
        for pc in current[0].peers:
            await pc.close()
        current[0] = LabelReceiver()  # a new page connection: a new stream
        return {"sdp": await current[0].answer(body["sdp"], address)}

    @api.get("/labels")
    async def labels() -> dict[str, Any]:
        return {**current[0].labels(), "now": time.time()}

    return api


if __name__ == "__main__":
    host, port = sys.argv[1], int(sys.argv[2])
    uvicorn.run(app(host), host=host, port=port, log_level="warning")
