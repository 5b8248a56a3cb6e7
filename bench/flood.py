"""Flood: a hostile v1 client floods the data channels while a viewer watches 720p30.

    python bench/flood.py                     # 600 messages in 15 s, then 10 s to settle
    python bench/flood.py --messages 1200 --seconds 15

A fresh `reactor run` serves `CommandModel` (bench/common.py: serve.py's textured
pattern at 1280x720, 30 fps, plus a `mark(level: int)` command). One viewer (our
client, video only) watches; a second process, the hostile client (our client's
connection: `/connections` routes, `data` + `control` channels, wire v1), sends
`--messages` data-channel messages of at most 256 KiB in `--seconds`, mostly invalid:

- random bytes on `data` or `control`;
- truncated protobuf (a valid command cut short);
- a command whose name, or whose request id, is a huge string;
- `mark` with a huge string, or a wrong type, as its level;
- text frames of invalid UTF-8, and text frames of JSON (v0 on a v1 connection);
- unknown control requests (payload field 30).

With `--no-read` the hostile client never takes in (nor acknowledges) what the server
sends back: the worst case for the server's outbound queues.

Every second it prints the server's RSS, the viewer's received fps, the pictures the
server encoded, the server's CPU and the CPU of everything else on the machine
(`other_cpu`: not this benchmark's three processes; on a shared machine it says whether
a dip is ours), what the hostile client sent and the error replies it got, and the
server's data-channel drops (`reactor_datachannel_*` in /metrics). The benchmark, the
hostile client and the server run at niceness -10, and so do their scheduler
autogroups (`--nice`, root only), so that other load does not decide the fps.
Summary: RSS growth (max during the flood and the settle window minus the level before
it), min fps, counts. Targets: RSS growth < 50 MB, fps >= 25 every second. Writes
bench/results/flood-<date>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

from common import (
    cpu_seconds,
    get_health,
    rss_mb,
    serve,
    table,
    video_stats,
    wait_quiet,
    write_result,
)
from google.protobuf.struct_pb2 import Struct
from serve import machine_ticks

from reactor_runtime.client import connect
from reactor_runtime.protocol.reactor_wire.v1 import (
    common_pb2,
    control_pb2,
    data_pb2,
    model_pb2,
    platform_pb2,
)

RSS_GROWTH_TARGET_MB = 50.0
MIN_FPS_TARGET = 25.0
MAX_FRAME = 262_144
"""The hostile client's frames stay within the official clients' max-message-size."""
WEBRTC_STRING = 51
REQUEST = common_pb2.MESSAGE_KIND_REQUEST
KINDS = (
    ("random_bytes", 20),
    ("truncated_command", 12),
    ("huge_name", 10),
    ("huge_request_id", 10),
    ("huge_arg", 12),
    ("bad_utf8_text", 16),
    ("json_text", 6),
    ("bad_args", 8),
    ("unknown_control", 6),
)


# --------------------------------------------------------------------------- messages


def _command(rid: str, name: str, args: dict[str, Any]) -> bytes:
    data = Struct()
    data.update(args)
    message = data_pb2.DataClientMessage(
        request_id=rid, kind=REQUEST, command=model_pb2.Command(type=name, data=data)
    )
    return message.SerializeToString()


def hostile_message(rng: random.Random, i: int) -> tuple[str, str, str, bytes]:
    """The `i`-th message: `(kind, label, "text"|"binary", payload)`, payload <= 256 KiB."""
    names, weights = zip(*KINDS, strict=True)
    kind = rng.choices(names, weights)[0]
    big = rng.randint(1_000, MAX_FRAME - 1_000)
    rid = f"h{i}"
    label, mode = "data", "binary"
    if kind == "random_bytes":
        label = rng.choice(("data", "control"))
        # A random first byte that looks like JSON would be read as v0 by a sniffer.
        payload = bytes([rng.randrange(0x80, 0x100)]) + rng.randbytes(big)
    elif kind == "truncated_command":
        whole = _command(rid, "mark", {"level": "x" * big})
        payload = whole[: rng.randint(3, len(whole) - 1)]
    elif kind == "huge_name":
        payload = _command(rid, "n" * big, {})
    elif kind == "huge_request_id":
        label = rng.choice(("data", "control"))
        if label == "data":
            payload = _command("r" * big, "mark", {"level": 1})
        else:
            request = control_pb2.ControlClientMessage(
                request_id="r" * big, kind=REQUEST, request_schema=platform_pb2.RequestSchema()
            )
            payload = request.SerializeToString()
    elif kind == "huge_arg":
        payload = _command(rid, "mark", {"level": "L" * big})
    elif kind == "bad_utf8_text":
        mode = "text"
        payload = b"\xff\xfe" + rng.randbytes(big)
    elif kind == "json_text":
        mode = "text"
        envelope = {"scope": "application", "data": {"type": "mark", "data": {"s": "j" * big}}}
        payload = json.dumps(envelope).encode()
    elif kind == "bad_args":
        args = rng.choice(({"level": "high"}, {}, {"level": 1, "extra": True}, {"level": 1e300}))
        payload = _command(rid, "mark", args)
    else:  # unknown_control: payload field 30, length-delimited
        body = rng.randbytes(rng.randint(1, 64))
        payload = (
            control_pb2.ControlClientMessage(request_id=rid, kind=REQUEST).SerializeToString()
            + bytes([(30 << 3) | 2, len(body)])
            + body
        )
    return kind, label, mode, payload[:MAX_FRAME]


# --------------------------------------------------------------------------- hostile client


class Hostile:
    """The hostile side: sends the plan, counts replies by channel and error code."""

    def __init__(self) -> None:
        self.sent: Counter[str] = Counter()
        self.sent_bytes = 0
        self.replies: Counter[str] = Counter()
        self.reply_bytes = 0
        self.largest_reply = 0

    def on_frame(self, label: str, frame: str | bytes) -> None:
        self.reply_bytes += len(frame)
        self.largest_reply = max(self.largest_reply, len(frame))
        try:
            if label == "data":
                message: Any = data_pb2.DataServerMessage.FromString(frame)
            else:
                message = control_pb2.ControlServerMessage.FromString(frame)
            payload = message.WhichOneof("payload")
            code = message.error.code if payload == "error" else payload or "ack"
        except Exception:
            code = "undecodable"
        self.replies[f"{label}:{code}"] += 1

    def report(self) -> dict[str, Any]:
        return {
            "sent": sum(self.sent.values()),
            "sent_by_kind": dict(self.sent),
            "sent_mb": round(self.sent_bytes / 1e6, 1),
            "replies": sum(self.replies.values()),
            "errors": sum(n for k, n in self.replies.items() if k.split(":")[1] not in ("ack",)),
            "replies_by_code": dict(self.replies),
            "reply_mb": round(self.reply_bytes / 1e6, 2),
            "largest_reply": self.largest_reply,
        }


async def hostile_main(url: str, messages: int, seconds: float, seed: int, read: bool) -> None:
    """Run the hostile client; one JSON line of counters per second on stdout."""
    hostile = Hostile()
    rng = random.Random(seed)
    async with connect(url, video=False, audio=False, timeout=30) as session:
        channels = session._channels
        for label, channel in channels.items():
            channel.on("message", lambda frame, label=label: hostile.on_frame(label, frame))
        sctp = session.pc.sctp
        if not read:
            _stop_reading(sctp)
        print(json.dumps({"ready": True}), flush=True)
        start = time.monotonic()
        next_report = start + 1.0
        for i in range(messages):
            due = start + i * seconds / messages
            while time.monotonic() < due:
                if time.monotonic() >= next_report:
                    print(json.dumps(hostile.report()), flush=True)
                    next_report += 1.0
                await asyncio.sleep(min(0.01, max(0.0, due - time.monotonic())))
            kind, label, mode, payload = hostile_message(rng, i)
            channel = channels[label]
            if channel.readyState != "open":
                break
            if mode == "text":
                # `channel.send(str)` would encode valid UTF-8; hostile frames go raw.
                await sctp._send(channel.id, WEBRTC_STRING, payload)
            else:
                channel.send(payload)
            hostile.sent[kind] += 1
            hostile.sent_bytes += len(payload)
        settle_until = time.monotonic() + 5.0
        while time.monotonic() < settle_until:
            print(json.dumps(hostile.report()), flush=True)
            await asyncio.sleep(1.0)
        print(json.dumps({"done": True, **hostile.report()}), flush=True)


def _stop_reading(sctp: Any) -> None:
    """Never take in (nor acknowledge) the server's messages: a peer that does not read.

    SACKs for our own data still come in, so our flood keeps flowing.
    """
    from aiortc.rtcsctptransport import DataChunk

    original = sctp._receive_chunk

    async def receive(chunk: Any) -> None:
        if not isinstance(chunk, DataChunk):
            await original(chunk)

    sctp._receive_chunk = receive


# --------------------------------------------------------------------------- the run


def metrics(url: str) -> dict[str, float]:
    """The `reactor_datachannel_*` samples of /metrics, by name and labels."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=30) as response:
        text = response.read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("reactor_datachannel_") and not line.startswith("#"):
            key, value = line.rsplit(" ", 1)
            out[key] = float(value)
    return out


class HostileProcess:
    """The hostile client in a child process (its Python work must not slow the viewer)."""

    def __init__(self, url: str, opts: argparse.Namespace) -> None:
        argv = [sys.executable, __file__, "--hostile", url]
        argv += ["--messages", str(opts.messages), "--seconds", str(opts.seconds)]
        argv += ["--seed", str(opts.seed)] + ([] if opts.read else ["--no-read"])
        self.process = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        self.latest: dict[str, Any] = {}
        self.ready = threading.Event()
        self.done = threading.Event()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            report = json.loads(line)
            if report.pop("ready", False):
                self.ready.set()
            if report.pop("done", False):
                self.done.set()
            if report:
                self.latest = report
        self.done.set()


async def flood(server: Any, opts: argparse.Namespace) -> tuple[list[dict[str, Any]], dict]:
    rows: list[dict[str, Any]] = []
    async with connect(server.url, audio=False) as viewer:
        video = viewer.video()
        for _ in range(60):  # warm-up: two seconds of pictures
            await video.next(timeout=10)
        received = 0

        async def count() -> None:
            nonlocal received
            while True:
                await video.next(timeout=10)
                received += 1

        counter = asyncio.create_task(count())
        baseline = [rss_mb(server.pid)]
        for _ in range(3):
            await asyncio.sleep(1.0)
            baseline.append(rss_mb(server.pid))
        hostile = HostileProcess(server.url, opts)
        for pid in (server.pid, os.getpid(), hostile.process.pid):
            _prioritise(pid, opts.nice)
        if not await asyncio.to_thread(hostile.ready.wait, 30):
            raise RuntimeError("the hostile client did not connect within 30 s")
        start = time.monotonic()
        last_frames, last_at = received, start
        last_cpu = cpu_seconds(server.pid)
        ours = (server.pid, os.getpid(), hostile.process.pid)
        last_busy, last_ours = _busy_seconds(), sum(_cpu(pid) for pid in ours)
        last_encoded = video_stats(await asyncio.to_thread(get_health, server.url)).get(
            "encoded", 0
        )
        end = start + opts.seconds + opts.settle
        while time.monotonic() < end:
            await asyncio.sleep(max(0.0, last_at + 1.0 - time.monotonic()))
            now = time.monotonic()
            counters = await asyncio.to_thread(metrics, server.url)
            encoded = video_stats(await asyncio.to_thread(get_health, server.url)).get("encoded", 0)
            cpu = cpu_seconds(server.pid)
            busy, mine = _busy_seconds(), sum(_cpu(pid) for pid in ours)
            sent = hostile.latest
            dropped = sum(v for k, v in counters.items() if "dropped" in k)
            rows.append(
                {
                    "t_s": round(now - start, 1),
                    "rss_mb": round(rss_mb(server.pid), 1),
                    "fps": round((received - last_frames) / (now - last_at), 1),
                    "encoded_fps": round((encoded - last_encoded) / (now - last_at), 1),
                    "server_cpu": round(100 * (cpu - last_cpu) / (now - last_at)),
                    # CPU used by anything but this benchmark's three processes.
                    "other_cpu": round(
                        100 * (busy - last_busy - mine + last_ours) / (now - last_at)
                    ),
                    "sent": sent.get("sent", 0),
                    "sent_mb": sent.get("sent_mb", 0.0),
                    "errors_rx": sent.get("errors", 0),
                    "dropped": int(dropped),
                    "_metrics": counters,
                }
            )
            print(table([rows[-1]], COLUMNS).splitlines()[-1], flush=True)
            last_frames, last_at, last_cpu, last_encoded = received, now, cpu, encoded
            last_busy, last_ours = busy, mine
        counter.cancel()
        await asyncio.to_thread(hostile.done.wait, 30)
        hostile.process.wait(timeout=30)
        alive = viewer.pc is not None and viewer.pc.connectionState == "connected"
    summary = {
        "rss_before_mb": round(max(baseline), 1),
        "rss_max_mb": max(r["rss_mb"] for r in rows),
        "rss_end_mb": rows[-1]["rss_mb"],
        "min_fps": min(r["fps"] for r in rows),
        "viewer_still_connected": alive,
        "server_received": rows[-1]["_metrics"].get("reactor_datachannel_received_total"),
        "hostile": hostile.latest,
        "metrics": rows[-1]["_metrics"],
    }
    summary["rss_growth_mb"] = round(summary["rss_max_mb"] - summary["rss_before_mb"], 1)
    summary["pass"] = (
        summary["rss_growth_mb"] < RSS_GROWTH_TARGET_MB and summary["min_fps"] >= MIN_FPS_TARGET
    )
    return rows, summary


def _prioritise(pid: int, nice: int) -> None:
    """Give `pid`'s scheduler autogroup the niceness `nice` (root; ignored if refused).

    With autogroups the kernel shares CPU between sessions first, so a process's own
    niceness only ranks it within its session: the group's is what counts against
    other sessions' load.
    """
    if nice:
        with contextlib.suppress(OSError):
            Path(f"/proc/{pid}/autogroup").write_text(str(nice))


def _busy_seconds() -> float:
    """CPU seconds all cores spent busy since boot."""
    idle, total = machine_ticks()
    return (total - idle) / os.sysconf("SC_CLK_TCK")


def _cpu(pid: int) -> float:
    try:
        return cpu_seconds(pid)
    except FileNotFoundError:
        return 0.0


COLUMNS = (
    "t_s",
    "rss_mb",
    "fps",
    "encoded_fps",
    "server_cpu",
    "other_cpu",
    "sent",
    "sent_mb",
    "errors_rx",
    "dropped",
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=600)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--settle", type=float, default=10.0, help="seconds sampled after")
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument("--codec", choices=("vp8", "h264"), default="vp8")
    parser.add_argument("--out", default=f"flood-{time.strftime('%Y-%m-%d')}")
    parser.add_argument(
        "--no-read",
        dest="read",
        action="store_false",
        help="the hostile client never takes in (nor acknowledges) the server's replies",
    )
    parser.add_argument(
        "--nice",
        type=int,
        default=-10,
        help="niceness increment for this benchmark and the server it starts (root only; "
        "-10: other load on a shared machine does not decide the fps; 0: none)",
    )
    parser.add_argument("--hostile", metavar="URL", help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.hostile:
        asyncio.run(hostile_main(opts.hostile, opts.messages, opts.seconds, opts.seed, opts.read))
        return 0
    print(
        f"flood: {opts.messages} hostile messages in {opts.seconds:g} s, "
        f"1280x720@30 {opts.codec} to one viewer",
        file=sys.stderr,
        flush=True,
    )
    nice = opts.nice if opts.nice >= 0 or os.geteuid() == 0 else 0
    os.nice(nice)  # the server and the hostile client inherit it
    idle = wait_quiet(90.0, 300.0)
    print(f"machine {idle:.0f} % idle", file=sys.stderr, flush=True)
    with serve(1280, 720, opts.codec, "CommandModel") as server:
        rows, summary = asyncio.run(flood(server, opts))
    for row in rows:
        row.pop("_metrics", None)
    print(table(rows, COLUMNS))
    hostile = summary["hostile"]
    print(
        f"RSS {summary['rss_before_mb']} -> max {summary['rss_max_mb']} MB "
        f"(growth {summary['rss_growth_mb']} MB, target < {RSS_GROWTH_TARGET_MB:g}); "
        f"min fps {summary['min_fps']} (target >= {MIN_FPS_TARGET:g}); "
        f"sent {hostile.get('sent')} ({hostile.get('sent_mb')} MB; the server took in "
        f"{summary['server_received']}), "
        f"replies {hostile.get('replies')} ({hostile.get('reply_mb')} MB); "
        f"{'pass' if summary['pass'] else 'FAIL'}"
    )
    for key, value in sorted(summary["metrics"].items()):
        print(f"  {key} {value:g}")
    path = write_result(
        opts.out,
        {
            "messages": opts.messages,
            "seconds": opts.seconds,
            "codec": opts.codec,
            "machine_idle_pct_before": round(idle, 1),
            "nice": nice,
            "samples": rows,
            "summary": summary,
        },
    )
    print(f"wrote {path}", file=sys.stderr)
    return 0 if summary["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
