"""Drive a fuzz run against a live runtime and print one JSON report line (see test_fuzz.py).

Runs where the runtime's URL is reachable (inside the test's network namespace):

    python fuzz_driver.py --url http://10.77.0.1:PORT --pid SERVER_PID --seed 7

While a viewer (our client, wire v1) receives video, three phases run one after the
other: hostile HTTP on every route (sent from 127.0.0.1, another client address than
the viewer's, so per-address limits apply to the fuzzer alone), hostile v1 frames on
both channels of a second v1 peer, and hostile v0 frames on the `data` channel of a
raw peer negotiated on the flat route (as the JS SDK does). Frames are sent below
aiortc's channel API, straight to the SCTP association: a hostile peer honours no
`max-message-size` and may send text frames that are not UTF-8.

The report holds every status seen, each unacceptable answer (described, never the
whole body), hangs, the server's RSS over time, and the viewer's frame arrival gaps.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.rtcsctptransport import WEBRTC_BINARY, WEBRTC_STRING

sys.path.insert(0, str(Path(__file__).resolve().parent))
import itertools

from hostile import NIL, T, http_requests, v0_frames, v1_frames

from reactor_runtime.client import connect
from reactor_runtime.client.wire import ClientCodec

REQUEST_TIMEOUT = 10.0
"""An answer slower than this is a hang."""
CONCURRENCY = 6


def rss_mb(pid: int) -> float:
    """Resident set size of `pid` in MB (0 once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class Watch:
    """The viewer's frame arrivals and the server's RSS, sampled while the phases run."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.arrivals: list[float] = []
        self.rss: list[tuple[float, float]] = []
        self.phases: dict[str, tuple[float, float]] = {}

    async def count_frames(self, session: Any) -> None:
        async for _frame in session.video():
            self.arrivals.append(time.monotonic())

    async def sample_rss(self) -> None:
        while True:
            self.rss.append((time.monotonic(), rss_mb(self.pid)))
            await asyncio.sleep(0.25)

    def frames_between(self, start: float, end: float) -> int:
        return sum(1 for t in self.arrivals if start <= t < end)

    def max_gap(self, start: float, end: float) -> float:
        inside = [t for t in self.arrivals if start <= t <= end]
        edges = [start, *inside, end]
        return max(b - a for a, b in itertools.pairwise(edges))


async def http_phase(url: str, rng: random.Random, count: int, sdp: str, tracks: list) -> dict:
    statuses: Counter[str] = Counter()
    bad: list[str] = []
    hangs: list[str] = []
    refused_by_client = 0
    transport = httpx.AsyncHTTPTransport(local_address="127.0.0.1")
    limit = asyncio.Semaphore(CONCURRENCY)
    async with httpx.AsyncClient(
        base_url=url, timeout=REQUEST_TIMEOUT, transport=transport
    ) as http:

        async def one(req: Any) -> None:
            nonlocal refused_by_client
            async with limit:
                try:
                    request = http.build_request(
                        req.method,
                        url,
                        headers=req.headers,
                        content=req.body,
                        extensions={"target": req.path.encode("utf-8", "surrogateescape")},
                    )
                    response = await http.send(request)
                except httpx.TimeoutException:
                    hangs.append(req.describe())
                    return
                except (httpx.LocalProtocolError, UnicodeEncodeError, ValueError):
                    refused_by_client += 1  # httpx would not send it: nothing to judge
                    return
                except httpx.TransportError as exc:
                    bad.append(f"{req.describe()} -> transport error {exc!r}")
                    return
            status = response.status_code
            statuses[str(status)] += 1
            fine = status < 500 or status == 501
            if status == 503 and "retry-after" in response.headers:
                fine = True
            if not fine:
                bad.append(f"{req.describe()} -> {status} {response.text[:200]!r}")

        await asyncio.gather(*(one(r) for r in http_requests(rng, count, sdp, tracks)))
    return {
        "statuses": dict(statuses),
        "bad": bad,
        "hangs": hangs,
        "refused_by_client": refused_by_client,
    }


async def sample_offer(tracks: list[dict[str, str]]) -> str:
    """A real offer (candidates included) for the runtime's output tracks, to mangle."""
    pc = RTCPeerConnection()
    for track in tracks:
        if track["direction"] == "recvonly":
            pc.addTransceiver(track["kind"], direction="recvonly")
    pc.createDataChannel("data")
    await pc.setLocalDescription(await pc.createOffer())
    sdp = pc.localDescription.sdp
    await pc.close()
    return sdp


async def send_raw(channel: Any, frame: str | bytes) -> None:
    """Send `frame` straight to the association: no size check, any bytes as text."""
    sctp = channel.transport
    if isinstance(frame, str):
        await sctp._send(channel.id, WEBRTC_STRING, frame.encode("utf-8", "surrogatepass"))
    else:
        await sctp._send(channel.id, WEBRTC_BINARY, frame)


async def send_invalid_text(channel: Any) -> None:
    await channel.transport._send(channel.id, WEBRTC_STRING, b"\xff\xfe\xc3(" * 10)


async def v1_phase(url: str, rng: random.Random, count: int, seconds: float) -> dict:
    codec = ClientCodec()
    valid = [
        codec.command("echo", {"text": "x"})[1],
        codec.command("echo", {"text": 5})[1],
        codec.command("nope", {})[1],
        codec.command("fail", {})[1],
        codec.request_schema()[1],
        codec.publish_track("webcam")[1],
        codec.publish_track("main_video")[1],
        ClientCodec.track_notice("pause_track", "nope"),
        ClientCodec.track_notice("resume_track", "main_video"),
        ClientCodec.ping(),
    ]
    frames = v1_frames(rng, count, valid)
    received: Counter[str] = Counter()
    async with connect(url, video=False, audio=False, timeout=20) as hostile:
        for label in ("data", "control"):
            hostile._channels[label].on("message", lambda _f, label=label: received.update([label]))
        pause = seconds / max(len(frames), 1)
        for i, (label, frame) in enumerate(frames):
            channel = hostile._channels[label]
            await (send_invalid_text(channel) if i % 25 == 0 else send_raw(channel, frame))
            await asyncio.sleep(pause)
        # A fresh, well-formed command still gets its reply after the flood.
        reply = await asyncio.wait_for(hostile.command("echo", text="after the flood"), 15)
        errors = len(hostile.errors)
    return {
        "sent": len(frames),
        "frames_received": dict(received),
        "errors_noticed": errors,
        "reply_after": reply[1] if reply else None,
    }


async def v0_phase(url: str, rng: random.Random, count: int, seconds: float) -> dict:
    """A raw peer on the flat routes (the JS SDK's family) flooding its `data` channel."""
    async with httpx.AsyncClient(base_url=url, timeout=REQUEST_TIMEOUT) as http:
        descriptor = (await http.post("/start_session", json={})).json()
        tracks = descriptor["capabilities"]["tracks"]
        pc = RTCPeerConnection()
        mapping = []
        for track in tracks:
            if track["direction"] == "recvonly":
                transceiver = pc.addTransceiver(track["kind"], direction="recvonly")
                mapping.append((transceiver, track))
        channel = pc.createDataChannel("data")
        opened = asyncio.Event()
        channel.on("open", opened.set)
        received = Counter()
        channel.on("message", lambda _f: received.update(["data"]))
        await pc.setLocalDescription(await pc.createOffer())
        track_mapping = [
            {"mid": t.mid, "name": m["name"], "kind": m["kind"], "direction": m["direction"]}
            for t, m in mapping
        ]
        route = T.format(sid=descriptor.get("session_id", NIL)) + "/sdp_params"
        posted = await http.post(
            route, json={"sdp_offer": pc.localDescription.sdp, "track_mapping": track_mapping}
        )
        assert posted.status_code in (200, 202), posted.text
        deadline = time.monotonic() + 20
        while (answer := await http.get(route)).status_code == 202:
            assert time.monotonic() < deadline, "no v0 answer within 20 s"
            await asyncio.sleep(0.05)
        assert answer.status_code == 200, answer.text
        await pc.setRemoteDescription(RTCSessionDescription(answer.json()["sdp_answer"], "answer"))
        await asyncio.wait_for(opened.wait(), 20)
        frames = v0_frames(rng, count)
        pause = seconds / max(len(frames), 1)
        for i, frame in enumerate(frames):
            await (send_invalid_text(channel) if i % 25 == 0 else send_raw(channel, frame))
            await asyncio.sleep(pause)
        # Still a working v0 peer: a capabilities request is answered.
        before = received["data"]
        channel.send(json.dumps({"scope": "runtime", "data": {"type": "requestCapabilities"}}))
        deadline = time.monotonic() + 10
        while received["data"] == before and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        answered = received["data"] > before
        await pc.close()
    return {"sent": len(frames), "frames_received": received["data"], "answered_after": answered}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    watch = Watch(args.pid)
    report: dict[str, Any] = {"seed": args.seed}
    sampler = asyncio.create_task(watch.sample_rss())
    async with connect(args.url, audio=False, timeout=30) as viewer:
        counting = asyncio.create_task(watch.count_frames(viewer))
        start = time.monotonic()
        while len(watch.arrivals) < 30:
            assert time.monotonic() - start < 20, "the viewer got no video before the fuzz"
            await asyncio.sleep(0.05)
        report["rss_before"] = rss_mb(args.pid)
        tracks = viewer.descriptor["capabilities"]["tracks"]
        sdp = await sample_offer(tracks)
        phases = {
            "http": http_phase(args.url, rng, args.requests, sdp, tracks),
            "v1": v1_phase(args.url, rng, args.frames, args.seconds),
            "v0": v0_phase(args.url, rng, args.frames, args.seconds),
        }
        for name, phase in phases.items():
            began = time.monotonic()
            report[name] = await phase
            ended = time.monotonic()
            report[name]["seconds"] = round(ended - began, 2)
            report[name]["video_frames"] = watch.frames_between(began, ended)
            report[name]["video_max_gap"] = round(watch.max_gap(began, ended), 3)
        settled = time.monotonic()
        while watch.frames_between(settled, time.monotonic()) < 30:
            assert time.monotonic() - settled < 10, "video stopped after the fuzz"
            await asyncio.sleep(0.05)
        report["video_after"] = watch.frames_between(settled, time.monotonic())
        counting.cancel()
    report["rss_after"] = rss_mb(args.pid)
    report["rss_max"] = max(mb for _, mb in watch.rss)
    sampler.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await sampler
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--pid", type=int, required=True, help="the server's process id (RSS)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--requests", type=int, default=800)
    parser.add_argument("--frames", type=int, default=300, help="hostile frames per wire family")
    parser.add_argument("--seconds", type=float, default=6.0, help="length of each frame flood")
    report = asyncio.run(run(parser.parse_args()))
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
