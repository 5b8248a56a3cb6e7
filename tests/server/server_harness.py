"""A real uvicorn server on 127.0.0.1 (random port) in a thread, plus a fake transport.

The fake peer keeps the transport's contract (`ViewerPeer`): `answer()` returns an
SDP (or raises ValueError), the viewer joins the session once answered and leaves
on `close()`, and `on_closed` fires when it goes. It lets the runtime's signalling
logic be tested precisely and fast; tests with real aiortc peers live elsewhere.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from reactor_runtime.config import load_project
from reactor_runtime.server import Runtime, create_app
from reactor_runtime.session import Session

SAMPLE_DIR = Path(__file__).parent / "sample_model"
SID = "00000000-0000-0000-0000-000000000000"
T = f"/sessions/{SID}/transport/webrtc"


def fake_offer(ufrag: str = "abcd", mids: tuple[str, ...] = ("0", "1", "2")) -> str:
    """A syntactically plausible offer: video, audio, application, one ufrag."""
    kinds = ["video 9 UDP/TLS/RTP/SAVPF 96", "audio 9 UDP/TLS/RTP/SAVPF 111"]
    lines = ["v=0", "o=- 1 1 IN IP4 0.0.0.0", "s=-", "t=0 0", f"a=group:BUNDLE {' '.join(mids)}"]
    lines.append("a=fingerprint:sha-256 " + ":".join(["AB"] * 32))
    for i, mid in enumerate(mids):
        media = kinds[i] if i < len(kinds) else "application 9 UDP/DTLS/SCTP webrtc-datachannel"
        lines += [f"m={media}", "c=IN IP4 0.0.0.0", f"a=mid:{mid}", f"a=ice-ufrag:{ufrag}"]
        lines += ["a=ice-pwd:0123456789012345678901", "a=recvonly" if i < 2 else "a=sctp-port:5000"]
    return "\r\n".join(lines) + "\r\n"


SAMPLE_MAPPING = [
    {"mid": "0", "name": "main_video", "kind": "video", "direction": "recvonly"},
    {"mid": "1", "name": "main_audio", "kind": "audio", "direction": "recvonly"},
]


def offer_body(ufrag: str = "abcd") -> dict[str, Any]:
    return {
        "sdp_offer": fake_offer(ufrag),
        "client_info": {"sdk_version": "test", "sdk_type": "python"},
        "track_mapping": SAMPLE_MAPPING,
    }


class FakePeer:
    """Records what the runtime asks of it; see the module docstring."""

    answer_delay = 0.05

    def __init__(self, session, hub, *, viewer_id, family, ice_servers=None, on_closed=None):
        self.session = session
        self.viewer_id = viewer_id
        self.family = family
        self.ice_servers = ice_servers
        self.on_closed = on_closed
        self.candidates: list[dict[str, Any]] = []
        self.finals = 0
        self.closed_with: list[str | None] = []
        self.offer: str | None = None
        self.state = "new"
        FakePeer.created.append(self)

    created: list[FakePeer] = []

    async def answer(self, offer_sdp: str, track_mapping: list[dict[str, Any]]) -> str:
        await asyncio.sleep(self.answer_delay)
        if "a=x-fail" in offer_sdp:
            raise ValueError("the offer is broken on purpose")
        self.offer = offer_sdp
        self.mapping = track_mapping
        self.state = "connected"
        await self.session.viewer_joined(self.viewer_id)
        return f"v=0\r\na=answer-for:{self.viewer_id}\r\n"

    async def add_candidates(self, candidates: list[dict[str, Any]], is_final: bool) -> None:
        assert self.offer is not None, "candidates applied before the remote description"
        self.candidates += candidates
        self.finals += is_final

    async def close(self, reason: str | None = None) -> None:
        self.closed_with.append(reason)
        if self.state != "closed":
            self.state = "closed"
            await self.session.viewer_left(self.viewer_id)
            if self.on_closed:
                self.on_closed(self)

    async def drop(self) -> None:
        """Simulate the viewer going away on its own (ICE failure, tab closed)."""
        await self.close(None)


class FakeHub:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.running = False

    def start(self) -> None:
        self.running = True

    def stop(self) -> None:
        self.running = False


class ServedRuntime:
    """A runtime behind a real uvicorn server in a background thread."""

    def __init__(self, runtime: Runtime, **app_options: Any) -> None:
        """`app_options` go to `create_app` (tokens, cors)."""
        self.runtime = runtime
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        app = create_app(runtime, **app_options)
        config = uvicorn.Config(app, log_config=None, lifespan="on")
        self.server = uvicorn.Server(config)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.loop.run_until_complete(self.server.serve(sockets=[self.sock]))

    def start(self, wait_loaded: bool = True) -> ServedRuntime:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.01)
        while wait_loaded and not self.runtime.loaded:
            assert self.runtime.load_error is None, self.runtime.load_error
            assert time.monotonic() < deadline, "model did not load"
            time.sleep(0.01)
        return self

    def call(self, coro: Any, timeout: float = 10) -> Any:
        """Run a coroutine on the server's loop (to poke the runtime like the transport would)."""
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(15)
        self.sock.close()
        assert not self.thread.is_alive(), "server did not stop"


def sample_runtime(
    *, fake: bool = True, model_class: type | None = None, **options: Any
) -> Runtime:
    """The sample model (or `model_class`) in a runtime; fake peers unless `fake` is False."""
    if model_class is None:
        project = load_project(SAMPLE_DIR)
        session = Session(project.model_class, project.config, project.name)
        options.setdefault("model_name", project.name)
    else:
        session = Session(model_class)
    if fake:
        options.setdefault("peer_factory", FakePeer)
        options.setdefault("hub_factory", FakeHub)
    return Runtime(session, **options)


def wait_for(predicate: Any, timeout: float = 6.0, interval: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(interval)
