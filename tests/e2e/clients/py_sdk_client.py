"""Drive the official Python SDK (``reactor-sdk==1.13.0``) against a local runtime.

Run it inside the test's network namespace (libwebrtc gathers no loopback
candidates)::

    python py_sdk_client.py --url http://10.77.0.1:8080 --command set_prompt \\
        --args '{"prompt": "a forest"}' --publish-track webcam --seconds 5

It connects in local mode, waits for ``ready``, requests the schema, sends the
command, publishes synthetic frames into ``--publish-track``, counts frames on
every recvonly track for ``--seconds``, disconnects, and prints exactly ONE
JSON line on stdout (see README.md for its keys). Failures are reported in that
line under ``"error"`` (exit status 1); it never hangs past ``--timeout``.
Anything the SDK or its native library prints goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import sys
import threading
import time
import traceback
from array import array
from typing import Any

SDK_VERSION = "1.13.0"
REQUEST_TIMEOUT = 12.0  # the SDK's own request timeout is 10 s
PUBLISH_FPS = 30


class Result:
    """The JSON document printed at the end, filled in as the run goes."""

    def __init__(self, url: str) -> None:
        self.t0 = time.monotonic()
        self.lock = threading.Lock()
        self.printed = False
        self.doc: dict[str, Any] = {
            "sdk": "python",
            "sdk_version": SDK_VERSION,
            "url": url,
            "ok": False,
            "error": None,
            "status_history": [],
            "connect_ms": None,
            "session_id": None,
            "tracks_declared": [],
            "tracks_received": [],
            "recv": {},
            "command": None,
            "messages": [],
            "runtime_messages": [],
            "schema": None,
            "publish": None,
            "errors": [],
            "disconnect": None,
            "elapsed_ms": None,
        }

    def ms(self) -> float:
        """Milliseconds since the start of the run."""
        return round((time.monotonic() - self.t0) * 1000, 1)

    def emit(self, out_fd: int) -> None:
        """Write the document as one JSON line to `out_fd`, once."""
        with self.lock:
            if self.printed:
                return
            self.printed = True
            self.doc["elapsed_ms"] = self.ms()
            line = json.dumps(self.doc, default=repr, separators=(",", ":")) + "\n"
        os.write(out_fd, line.encode())


def describe(exc: BaseException) -> dict[str, Any]:
    """A JSON-able description of an exception (SDK errors carry a ``code``)."""
    return {
        "type": type(exc).__name__,
        "code": getattr(exc, "code", None),
        "message": str(exc) or repr(exc),
    }


def watch_track(res: Result, track: Any) -> None:
    """Count frames of one recvonly track (raw handlers, called on a native thread)."""
    kind = getattr(track.kind, "value", track.kind)
    entry = res.doc["recv"].setdefault(
        track.name, {"kind": kind, "frames": 0, "first_frame_ms": None, "last_frame_ms": None}
    )
    if kind == "audio":
        entry.update(samples=0, sample_rate=None, channels=None, max_abs_sample=0)

        def on_audio(pcm: bytes, num_samples: int, sample_rate: int, channels: int) -> None:
            peak = max(map(abs, array("h", pcm)), default=0)
            with res.lock:
                entry["frames"] += 1
                entry["samples"] += num_samples
                entry["sample_rate"], entry["channels"] = sample_rate, channels
                entry["max_abs_sample"] = max(entry["max_abs_sample"], peak)
                entry["first_frame_ms"] = entry["first_frame_ms"] or res.ms()
                entry["last_frame_ms"] = res.ms()

        track.on_raw_frame(on_audio)
    else:
        entry.update(width=None, height=None)

        def on_video(bgra: bytes, width: int, height: int, *_meta: Any) -> None:
            with res.lock:
                entry["frames"] += 1
                entry["width"], entry["height"] = width, height
                entry["first_frame_ms"] = entry["first_frame_ms"] or res.ms()
                entry["last_frame_ms"] = res.ms()

        track.on_raw_frame(on_video)


async def publish(res: Result, reactor: Any, name: str, seconds: float) -> None:
    """Publish `name` and push a moving test pattern (or a 440 Hz tone) for `seconds`."""
    info: dict[str, Any] = {"track": name, "ok": False, "frames_pushed": 0, "error": None}
    res.doc["publish"] = info
    try:
        track = reactor.track(name)
        started = time.monotonic()
        await asyncio.wait_for(track.publish(), REQUEST_TIMEOUT)
        info["publish_ms"] = round((time.monotonic() - started) * 1000, 1)
        kind = getattr(track.kind, "value", track.kind)
        info["kind"] = kind
        if kind == "audio":
            await _push_tone(info, track, seconds)
        else:
            await _push_video(info, track, seconds)
        info["ok"] = True
        track.unpublish()
    except Exception as exc:
        info["error"] = describe(exc)


async def _push_video(info: dict[str, Any], track: Any, seconds: float) -> None:
    import numpy as np

    width, height = 320, 240
    info["width"], info["height"] = width, height
    ramp = np.linspace(0, 255, width, dtype=np.uint8)
    frame = np.empty((height, width, 3), dtype=np.uint8)
    frame[..., 0] = ramp
    frame[..., 2] = ramp[::-1]
    for i in range(int(seconds * PUBLISH_FPS)):
        frame[..., 1] = (i * 8) % 256
        x = (i * 4) % width
        frame[:, x : x + 8, :] = 255
        track.push_frame(frame)
        frame[:, x : x + 8, 0] = ramp[x : x + 8]
        info["frames_pushed"] += 1
        await asyncio.sleep(1 / PUBLISH_FPS)


async def _push_tone(info: dict[str, Any], track: Any, seconds: float) -> None:
    rate, chunk = 48000, 960  # 20 ms
    for i in range(int(seconds * 50)):
        pcm = array(
            "h",
            (
                int(8000 * math.sin(2 * math.pi * 440 * (i * chunk + n) / rate))
                for n in range(chunk)
            ),
        )
        track.push_frame(pcm.tobytes(), sample_rate=rate, num_channels=1)
        info["frames_pushed"] += 1
        await asyncio.sleep(chunk / rate)


async def timed(coro: Any) -> dict[str, Any]:
    """Await `coro` with the request timeout; report its reply or error and duration."""
    started = time.monotonic()
    out: dict[str, Any] = {"ok": False}
    try:
        out["reply"] = await asyncio.wait_for(coro, REQUEST_TIMEOUT)
        out["ok"] = True
    except Exception as exc:
        out["error"] = describe(exc)
    out["ms"] = round((time.monotonic() - started) * 1000, 1)
    return out


async def run(res: Result, opts: argparse.Namespace) -> None:
    """Connect, exercise the session for ``opts.seconds``, and disconnect."""
    from reactor_sdk import Reactor

    doc = res.doc
    if opts.api_key or opts.jwt:  # cloud mode: a coordinator (our fleet's gateway) at --url
        reactor = Reactor(opts.model, api_url=opts.url, api_key=opts.api_key, jwt=opts.jwt)
    else:
        reactor = Reactor(opts.model, local=True, api_url=opts.url)
    watched: set[str] = set()

    def on_track(track: Any) -> None:
        doc["tracks_received"].append({"name": track.name, "mid": track.mid, "ms": res.ms()})
        if track.name not in watched and track.direction == "recvonly":
            watched.add(track.name)
            watch_track(res, track)

    reactor.on("status_changed", lambda s: doc["status_history"].append([str(s), res.ms()]))
    reactor.on("error", lambda e: doc["errors"].append({**describe(e), "ms": res.ms()}))
    reactor.on("message", lambda m: doc["messages"].append({"msg": m, "ms": res.ms()}))
    reactor.on("runtime_message", lambda m: doc["runtime_messages"].append(m))
    reactor.on_track(on_track)
    try:
        started = time.monotonic()
        await asyncio.wait_for(reactor.connect(), opts.connect_timeout)
        doc["connect_ms"] = round((time.monotonic() - started) * 1000, 1)
        doc["session_id"] = reactor.session_id
        if reactor.status != "ready":
            raise RuntimeError(f"connect() returned with status {reactor.status!s}")
        ready_at = time.monotonic()
        doc["tracks_declared"] = [
            {"name": t.name, "kind": t.kind.value, "direction": t.direction.value}
            for t in reactor.tracks
        ]
        for track in reactor.tracks.with_direction("recvonly"):
            if track.name not in watched:  # track_received may still be queued
                watched.add(track.name)
                watch_track(res, track)

        tasks = []
        if opts.publish_track:
            tasks.append(publish(res, reactor, opts.publish_track, opts.publish_seconds))
        schema = await timed(reactor.request_schema())
        doc["schema"] = schema
        args = dict(opts.args)
        if opts.upload:  # upload_file(), then the FileRef as the command's argument
            uploaded = await timed(reactor.upload_file(opts.upload))
            ref = uploaded.get("reply")
            doc["upload"] = {**uploaded, "reply": None if ref is None else vars(ref)}
            args[opts.upload_param] = ref
        if opts.command:
            doc["command"] = {"name": opts.command, "args": opts.args}
            doc["command"].update(await timed(reactor.send_command(opts.command, args)))
        await asyncio.gather(*tasks)
        await asyncio.sleep(max(0.0, opts.seconds - (time.monotonic() - ready_at)))
        doc["ok"] = reactor.status == "ready"
        if not doc["ok"]:
            doc["error"] = f"status left ready: {reactor.status!s}"
    finally:
        out = await timed(reactor.disconnect())
        out.pop("reply", None)
        doc["disconnect"] = out
        reactor.close()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--url", default="http://10.77.0.1:8080", help="runtime base URL")
    p.add_argument("--model", default="local", help="model name (unused in local mode)")
    p.add_argument("--api-key", help="cloud mode: exchange this key at POST /tokens")
    p.add_argument("--jwt", help="cloud mode: use this bearer token")
    p.add_argument("--command", help="command to send once ready")
    p.add_argument("--args", default="{}", type=json.loads, help="command arguments, JSON")
    p.add_argument("--publish-track", help="sendonly track to publish synthetic frames into")
    p.add_argument("--upload", metavar="FILE", help="upload FILE once ready (upload_file)")
    p.add_argument("--upload-param", default="file", help="command argument taking the upload")
    p.add_argument("--publish-seconds", type=float, default=3.0, help="how long to push")
    p.add_argument("--seconds", type=float, default=5.0, help="collect media this long")
    p.add_argument("--connect-timeout", type=float, default=30.0)
    p.add_argument("--timeout", type=float, default=60.0, help="overall limit")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the client and print the result line; returns the exit status."""
    opts = parse_args(argv)
    out_fd = os.dup(1)
    os.dup2(2, 1)  # only our JSON line may reach the real stdout
    sys.stdout = sys.stderr
    res = Result(opts.url)

    def hard_stop() -> None:  # asyncio itself is stuck (e.g. in native code)
        res.doc["error"] = res.doc["error"] or f"hard timeout after {opts.timeout + 20:.0f} s"
        res.emit(out_fd)
        os._exit(3)

    watchdog = threading.Timer(opts.timeout + 20, hard_stop)
    watchdog.daemon = True
    watchdog.start()
    try:
        asyncio.run(asyncio.wait_for(run(res, opts), opts.timeout))
    except TimeoutError:
        res.doc["error"] = f"timeout: the run exceeded {opts.timeout} s"
    except Exception as exc:
        res.doc["error"] = f"{type(exc).__name__}: {exc}"
        traceback.print_exc()
    res.emit(out_fd)
    sys.stderr.flush()
    os._exit(0 if res.doc["ok"] else 1)  # skip atexit: the SDK's teardown can block


if __name__ == "__main__":
    sys.exit(main())
