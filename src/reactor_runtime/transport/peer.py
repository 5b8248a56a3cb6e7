"""`ViewerPeer`: one viewer's RTCPeerConnection, from offer to goodbye.

The client always offers (WIRE.md §3). We create one transceiver per offered media
section, in m-line order and of the same kind, *before* applying the offer: aiortc
then binds them to the offer's sections in that order, and our codec preferences and
directions are in force when it negotiates. The track each section carries comes
from `track_mapping` by mid, never from order. The answer carries every candidate
inline (no server trickle); the client's trickled candidates go through
`remote_candidates.RemoteCandidates`.

Liveness (`liveness.Liveness`): once connected, our own consent probes and every
inbound packet tell that the viewer is there; 4 s of silence (whatever its tracks)
ends the connection as "unresponsive".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal, get_args

from aiortc import RTCIceServer, RTCPeerConnection, RTCSessionDescription

from ..protocol import ModelOut, RuntimeNotice, SessionEnded
from .datachannel import ChannelRouter
from .encoders import START_BITRATE
from .frame_metadata import MAX_TRAILER, offer_declares, with_declaration
from .header_extensions import PLAYOUT_DELAY_MS, negotiate_playout_delay, negotiate_transport_cc
from .ice import configuration, use_host_addresses
from .input_reader import InputReader
from .limits import ChannelCounters, ChannelLimits
from .liveness import Liveness, LivenessSettings
from .metadata_sender import MESSAGES_SDP_LINE, H264Trailers, MetadataMessages, TrailerWriter
from .offer import MappedTrack, codec_preferences, negotiated_codecs, plan_offer
from .remote_candidates import RemoteCandidates
from .rtcp_sync import sync_sender
from .sctp_guard import guard_sctp
from .send_side import SendSideBandwidth
from .tracks import OutboundTrack
from .trailer_reader import TrailerReader

if TYPE_CHECKING:
    from aiortc import RTCRtpTransceiver

    from ..session import Session
    from .hub import MediaHub

log = logging.getLogger(__name__)

PeerState = Literal["new", "connecting", "connected", "closed"]

PlayoutDelay = Literal["auto", "zero", "off"]
"""What a viewer that offers the playout-delay extension is asked to buffer.

- ``auto``: a viewer that receives no audio is asked to show each frame at once (min =
  max = 0). A viewer with audio keeps its adaptive buffer, and the room its lip-sync
  needs to hold the picture back to the sound (with min = max = 0 Chromium shows the
  picture 35-50 ms ahead of its audio); the extension still carries the loss floor
  (`playout_floor`).
- ``zero``: every viewer is asked to show each frame at once, audio or not: the lowest
  latency, with the audio that far behind the picture.
- ``off``: the extension is not answered.
"""
PLAYOUT_DELAYS: tuple[PlayoutDelay, ...] = get_args(PlayoutDelay)

CLOSE_TIMEOUT = 3.0


class ViewerPeer:
    """One viewer's RTCPeerConnection.

    Attributes:
        state: "new", "connecting", "connected" or "closed".
        viewer_id: The id given to the session's `viewer_joined` / `viewer_left`.
    """

    def __init__(
        self,
        session: Session,
        hub: MediaHub,
        *,
        viewer_id: str,
        family: Literal["v0", "v1"] | None,
        ice_servers: list[RTCIceServer] | None = None,
        on_closed: Callable[[ViewerPeer], None] | None = None,
        host_addresses: Sequence[str] | None = None,
        liveness: LivenessSettings | None = None,
        channel_limits: ChannelLimits | None = None,
        channel_counters: ChannelCounters | None = None,
        max_trailer: int = MAX_TRAILER,
        transport_cc: bool = True,
        playout_delay: PlayoutDelay = "auto",
    ) -> None:
        """Prepare a peer; nothing happens on the network until `answer()`.

        Args:
            session: The session the viewer watches.
            hub: The session's media fan-out.
            viewer_id: This viewer's id in the session.
            family: The wire codec if the signalling route settles it, else None to
                detect it from the channels and the first frame.
            ice_servers: STUN/TURN servers; none by default (never a public one).
            on_closed: Called once when the peer has closed.
            host_addresses: Local addresses to gather host candidates on; by default
                aioice's choice plus 127.0.0.1 (for viewers on this machine).
            liveness: How fast a silent viewer is declared gone (default: 4 s).
            channel_limits: Bounds on what the viewer's data channels take in and hold.
            channel_counters: Where refusals and drops are counted (shared by a runtime).
            max_trailer: Largest frame-metadata trailer (bytes) read off the viewer's
                video; larger ones are dropped and counted (`reactor run --max-trailer`).
            transport_cc: Answer transport-cc when offered and estimate the viewer's
                path here (`send_side`); False leaves it to the viewer's REMB
                (`reactor run --bandwidth-estimate remb`).
            playout_delay: What the viewer is asked to buffer (`PlayoutDelay`;
                `reactor run --playout-delay`).
        """
        self.session = session
        self.hub = hub
        self.viewer_id = viewer_id
        self.on_closed = on_closed
        self.host_addresses = host_addresses
        self.max_trailer = max_trailer
        self.transport_cc = transport_cc
        if playout_delay not in PLAYOUT_DELAYS:
            raise ValueError(
                f"playout_delay: expected one of {', '.join(PLAYOUT_DELAYS)}, "
                f"got {playout_delay!r} (reactor run --playout-delay)"
            )
        self.playout_delay = playout_delay
        self.send_side: SendSideBandwidth | None = None
        """The send-side estimate of this viewer's path, when it negotiated transport-cc."""
        self.state: PeerState = "new"
        self.pc = RTCPeerConnection(configuration(ice_servers))
        self.router = ChannelRouter(
            session, viewer_id, family, self, channel_limits, channel_counters
        )
        self.liveness = Liveness(self.pc, self._on_silent, liveness)
        self.candidates = RemoteCandidates(self.pc, viewer_id)
        self.outbound: dict[str, OutboundTrack] = {}
        self.readers: dict[str, InputReader] = {}
        self.close_reason: str | None = None
        self._input_names = {t.name for t in session.input_tracks}
        self.frame_metadata = False
        """Whether the viewer's offer declared frame-metadata trailers (and we echoed it)."""
        self.metadata_messages = False
        """Whether it asked for `frameMetadata` messages instead (our page)."""
        self._metadata_senders: dict[str, TrailerWriter | H264Trailers | MetadataMessages] = {}
        self._answered = False
        self._joined = False
        self._join_task: asyncio.Task[None] | None = None
        self._close_task: asyncio.Task[None] | None = None
        self._unsubscribe: list[Callable[[], None]] = []
        self._background: set[asyncio.Task[Any]] = set()
        self.pc.on("connectionstatechange", self._on_connection_state)
        self.pc.on("datachannel", self.router.attach)

    # signalling ------------------------------------------------------------

    async def answer(self, offer_sdp: str, track_mapping: list[dict]) -> str:
        """Apply the client's offer and return our complete answer (all candidates inline).

        Raises:
            ValueError: The offer or the mapping is malformed; the message names the field.
            RuntimeError: `answer` was already called, or the peer is closed.
        """
        if self._answered or self.state == "closed":
            raise RuntimeError(f"viewer {self.viewer_id}: answer() works once, on a new peer")
        self._answered = True
        try:
            return await self._answer(offer_sdp, track_mapping)
        except BaseException:
            await self.close("offer rejected")
            raise

    async def _answer(self, offer_sdp: str, track_mapping: list[dict]) -> str:
        outputs = {t.name: t.kind for t in self.session.output_tracks}
        inputs = {t.name: t.kind for t in self.session.input_tracks}
        plan = plan_offer(offer_sdp, track_mapping, outputs, inputs)
        self.candidates.use(plan)
        transceivers = [self._add_transceiver(track) for track in plan.tracks]
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
        except Exception as exc:
            why = str(exc) or type(exc).__name__
            raise ValueError(f"sdp_offer: cannot be applied ({why})") from None
        for track, transceiver in zip(plan.tracks, transceivers, strict=True):
            if transceiver.mid != track.mid:
                raise ValueError(
                    f"sdp_offer: section mid {track.mid!r} was not matched as expected "
                    f"(got {transceiver.mid!r}); offer one section per mapped track"
                )
        if self.pc.sctp is not None:
            guard_sctp(self.pc.sctp, self.router.limits, self.router.counters)
        use_host_addresses(self.pc, self.host_addresses)
        with_audio = any(t.kind == "audio" and t.direction == "recvonly" for t in plan.tracks)
        if self.playout_delay != "off":
            zero = self.playout_delay == "zero" or not with_audio
            negotiate_playout_delay(plan, transceivers, PLAYOUT_DELAY_MS if zero else None)
        if self.transport_cc and negotiate_transport_cc(plan, transceivers):
            low, high = self.hub.min_bitrate, self.hub.max_bitrate
            self.send_side = SendSideBandwidth(
                min(max(START_BITRATE, low), high), low, high, totals=self.hub.loss
            )
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        answer_sdp = self.pc.localDescription.sdp
        self.frame_metadata = offer_declares(offer_sdp)
        self.metadata_messages = offer_declares(offer_sdp, MESSAGES_SDP_LINE)
        if self.frame_metadata:
            answer_sdp = with_declaration(answer_sdp)
        elif self.metadata_messages:
            answer_sdp = with_declaration(answer_sdp, MESSAGES_SDP_LINE)
        codecs = negotiated_codecs(answer_sdp)
        for track, transceiver in zip(plan.tracks, transceivers, strict=True):
            if track.direction == "recvonly":
                self._bind_outbound(track, transceiver, codecs.get(track.mid))
            else:
                self._start_reader(track, transceiver)
        self._unsubscribe = [
            self.session.on_message(
                lambda kind, data: self.router.send(ModelOut(kind, data)), self.viewer_id
            ),
            self.session.on_notice(lambda code, text: self.router.send(RuntimeNotice(code, text))),
        ]
        await self.candidates.add_held()
        return answer_sdp

    async def add_candidates(self, candidates: list[dict], is_final: bool) -> None:
        """Add client candidates (Python SDK trickle); held until the offer is applied.

        Garbage entries are skipped with a log line; stale ones (another ICE ufrag) dropped
        (`remote_candidates.RemoteCandidates`).
        """
        if self.state != "closed":
            await self.candidates.add(candidates, is_final)

    # tracks ----------------------------------------------------------------

    def _add_transceiver(self, track: MappedTrack) -> RTCRtpTransceiver:
        if track.direction == "recvonly":
            outbound = OutboundTrack(self.hub, track.name, track.kind)
            self.outbound[track.name] = outbound
            transceiver = self.pc.addTransceiver(outbound, direction="sendonly")
        else:
            transceiver = self.pc.addTransceiver(track.kind, direction="recvonly")
        transceiver.setCodecPreferences(
            codec_preferences(track.kind, track.direction, self.hub.video_codec)
        )
        return transceiver

    def _bind_outbound(self, track: MappedTrack, transceiver: Any, codec: str | None) -> None:
        outbound = self.outbound[track.name]
        # Sender reports of every track must map RTP time to one clock (lip-sync).
        sync_sender(transceiver.sender, self.hub.media_clock, track.kind)
        if track.kind == "video":
            outbound.bind("h264" if codec == "h264" else "vp8")
            # Encoded packets bypass aiortc's encoder: loss recovery, PLI/FIR, REMB and
            # loss reports are handled by our bridge (transport/rtp_sender.py) instead.
            outbound.attach_sender(
                transceiver.sender, self._metadata_sender(track, transceiver), self.send_side
            )
        else:
            outbound.bind(None)

    def _metadata_sender(
        self, track: MappedTrack, transceiver: Any
    ) -> TrailerWriter | H264Trailers | MetadataMessages | None:
        """How this viewer gets the frames' metadata, if it asked (after `bind`).

        Trailers go on VP8 frames only: a viewer that declared them but receives H.264
        gets none, each frame counted as a dropped trailer (`H264Trailers`), unless it
        also asked for messages.
        """
        sender: TrailerWriter | H264Trailers | MetadataMessages | None = None
        if self.frame_metadata and self.outbound[track.name].codec == "vp8":
            sender = TrailerWriter(self.hub.frame_metadata)
        elif self.metadata_messages:
            sender = MetadataMessages(
                track.name, transceiver.sender, self.router.send, self.hub.frame_metadata
            )
        elif self.frame_metadata:
            sender = H264Trailers(self.hub.frame_metadata)
        if sender is not None:
            self._metadata_senders[track.name] = sender
        return sender

    def _start_reader(self, track: MappedTrack, transceiver: Any) -> None:
        remote = transceiver.receiver.track
        if remote is None:
            return
        spec = next(t for t in self.session.input_tracks if t.name == track.name)
        channels = getattr(spec.type, "channels", 1)
        trailers = None
        if self.frame_metadata and track.kind == "video":
            trailers = TrailerReader(track.name, self.max_trailer, self.hub.frame_metadata)
            trailers.install(transceiver.receiver)
        reader = InputReader(
            self.session, self.hub, self.viewer_id, track.name, remote, channels, trailers
        )
        self.readers[track.name] = reader
        reader.start()

    # TrackControls (called by the router) -----------------------------------

    def set_paused(self, name: str, paused: bool) -> bool:
        """Pause or resume output track `name` for this viewer."""
        track = self.outbound.get(name)
        if track is None:
            return False
        track.set_paused(paused)
        return True

    def publish(self, name: str) -> tuple[str, str] | None:
        """Claim input track `name` for this viewer, or say why not."""
        if name not in self._input_names:
            known = ", ".join(sorted(self._input_names)) or "none"
            return ("publish_refused", f"{name!r} is not an input track (input tracks: {known})")
        if not self.hub.claim_input(name, self.viewer_id):
            return ("publish_refused", f"input track {name!r} is held by another viewer")
        return None

    def unpublish(self, name: str) -> None:
        """Release input track `name` if this viewer holds it."""
        reader = self.readers.get(name)
        if reader is not None:
            reader.release()
        elif self.hub.release_input(name, self.viewer_id):
            self.session.inputs[name].close()

    # lifecycle -------------------------------------------------------------

    def _on_connection_state(self) -> None:
        state = self.pc.connectionState
        if self.state == "closed":
            return
        if state == "connecting" and self.state == "new":
            self.state = "connecting"
        elif state == "connected":
            self.state = "connected"
            self.liveness.start()
            if not self._joined:
                self._joined = True
                self._join_task = self._spawn(self._join())
        elif state in ("failed", "closed"):
            self._spawn(self.close(f"connection {state}"))

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        # The loop keeps only weak references to tasks.
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def _join(self) -> None:
        try:
            await self.session.viewer_joined(self.viewer_id)
        except Exception:
            log.exception("viewer %s: viewer_joined failed", self.viewer_id)

    def _on_silent(self, silent: float) -> None:
        limit = self.liveness.settings.timeout
        log.info("viewer %s: nothing heard for %.1f s; closing", self.viewer_id, silent)
        self._spawn(self.close(f"viewer unresponsive for {limit:g} s"))

    async def close(self, reason: str | None = None) -> None:
        """Close the connection: `SessionEnded` first (best effort), then everything else.

        Safe to call several times and from several tasks; all wait for the one close.
        """
        if self._close_task is None:
            self.close_reason = reason
            self._close_task = asyncio.ensure_future(self._close(reason))
        await asyncio.shield(self._close_task)

    async def _close(self, reason: str | None) -> None:
        was = self.state
        self.state = "closed"
        if was != "new" and self.router.send(SessionEnded(reason or "connection closed")):
            await self.router.flush()
        for unsubscribe in self._unsubscribe:
            with contextlib.suppress(ValueError):
                unsubscribe()
        self.liveness.stop()
        for track in self.outbound.values():
            track.stop()
        for reader in self.readers.values():
            await reader.stop()
        await self.router.close()
        await self._abandon()
        if self._join_task is not None:
            with contextlib.suppress(Exception):
                await self._join_task
        if self._joined:
            try:
                await self.session.viewer_left(self.viewer_id)
            except Exception:
                log.exception("viewer %s: viewer_left failed", self.viewer_id)
        log.info("viewer %s closed (%s)", self.viewer_id, reason or "closed")
        if self.on_closed is not None:
            try:
                self.on_closed(self)
            except Exception:
                log.exception("viewer %s: on_closed callback failed", self.viewer_id)

    async def _abandon(self) -> None:
        try:
            await asyncio.wait_for(self.pc.close(), CLOSE_TIMEOUT)
        except Exception:
            log.warning("viewer %s: closing the connection failed", self.viewer_id, exc_info=True)

    def stats(self) -> dict[str, Any]:
        """This viewer's counters: state, tracks, data channels."""
        return {
            "state": self.state,
            "tracks": {
                n: t.stats()
                | ({"metadata": m.stats()} if (m := self._metadata_senders.get(n)) else {})
                for n, t in self.outbound.items()
            },
            "inputs": {
                n: {"frames": r.frames, "refused": r.refused}
                | ({"metadata": r.trailers.stats()} if r.trailers else {})
                for n, r in self.readers.items()
            },
            "channels": self.router.stats(),
            "liveness": self.liveness.stats(),
        } | ({"send_side": self.send_side.stats()} if self.send_side else {})
