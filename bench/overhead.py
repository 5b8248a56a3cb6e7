"""Runtime overhead: server CPU per frame / bare PyAV encoder CPU per frame, 720p30.

    python bench/overhead.py                 # VP8, 20 s windows
    python bench/overhead.py --codec h264 --window 10

Both sides make the same frames the same way (serve.py's `source_frame`: textured,
id-stamped, 1280x720) at 30 fps in real time, and encode them with the hub's own
settings (`reactor_runtime.transport.encoders`: `rgb_to_yuv` once, then the codec's
`VideoEncoder`, a thin layer over a PyAV `CodecContext`):

- bare: one thread renders, converts and encodes, paced by sleeping; CPU is this
  process's (`time.process_time`, all threads) per encoded frame;
- runtime: `reactor run` serving `LiveVideoOnlyModel` (the same frames, no audio) to
  one viewer (our client, in this process; its CPU is not counted); CPU is the server
  process's (/proc/<pid>/stat, all threads) per frame the hub encoded.

So the ratio charges the runtime for everything but the encode: the model thread,
emit validation, the output buffer and pacer, hub fan-out, RTP packetization, SRTP,
ICE/DTLS, the HTTP server. Target: <= 1.15. Writes bench/results/overhead.json.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any

import numpy as np
from common import (
    cpu_seconds,
    get_health,
    serve,
    table,
    video_stats,
    wait_quiet,
    write_result,
)
from serve import FPS, make_texture, source_frame

from reactor_runtime.client import connect
from reactor_runtime.transport.encoders import START_BITRATE, rgb_to_yuv
from reactor_runtime.transport.pipelines import video_encoder

WIDTH, HEIGHT = 1280, 720
TARGET = 1.15
RATE = ("--min-bitrate", str(START_BITRATE), "--max-bitrate", str(START_BITRATE))
"""Both sides encode at the 720p start rate: the runtime's rate control would follow
our client's REMB, and encoding costs more the more bits it makes."""


def bare(codec: str, seconds: float, warmup: float) -> dict[str, Any]:
    """Render + convert + encode at 30 fps in real time; CPU per frame after a warm-up."""
    texture = make_texture(WIDTH, HEIGHT)
    encoder = video_encoder(codec, FPS)  # type: ignore[arg-type]
    encoded_bytes = 0
    frames = 0
    fid = 0
    start = time.monotonic()
    measuring_from: tuple[float, float, int, int] | None = None
    while True:
        now = time.monotonic()
        if measuring_from is None and now - start >= warmup:
            measuring_from = (now, time.process_time(), frames, encoded_bytes)
        if measuring_from is not None and now - measuring_from[0] >= seconds:
            break
        picture = source_frame(texture, fid, WIDTH, HEIGHT)
        for packet in encoder.encode(rgb_to_yuv(picture), fid * 3000):
            encoded_bytes += packet.size
        fid += 1
        frames += 1
        delay = start + fid / FPS - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    t0, cpu0, frames0, bytes0 = measuring_from
    wall = time.monotonic() - t0
    cpu = time.process_time() - cpu0
    n = frames - frames0
    return {
        "frames": n,
        "seconds": wall,
        "fps": n / wall,
        "cpu_pct": 100 * cpu / wall,
        "cpu_ms_per_frame": 1000 * cpu / n,
        "bitrate_mbps": (encoded_bytes - bytes0) * 8 / wall / 1e6,
    }


async def runtime(codec: str, seconds: float, warmup: float) -> dict[str, Any]:
    """Serve the same frames to one viewer; server CPU per encoded frame."""
    with serve(WIDTH, HEIGHT, codec, "LiveVideoOnlyModel", args=RATE) as server:
        async with connect(server.url, audio=False) as session:
            frames = session.video()
            warm_until = time.monotonic() + warmup
            while time.monotonic() < warm_until:
                await frames.next(timeout=10)
            health0 = await asyncio.to_thread(get_health, server.url)
            t0, cpu0 = time.monotonic(), cpu_seconds(server.pid)
            received = 0
            while time.monotonic() - t0 < seconds:
                await frames.next(timeout=10)
                received += 1
            wall = time.monotonic() - t0
            cpu = cpu_seconds(server.pid) - cpu0
            health1 = await asyncio.to_thread(get_health, server.url)
    v0, v1 = video_stats(health0), video_stats(health1)
    n = v1["encoded"] - v0["encoded"]
    return {
        "frames": n,
        "received": received,
        "skipped": v1["skipped"] - v0["skipped"],
        "seconds": wall,
        "fps": n / wall,
        "cpu_pct": 100 * cpu / wall,
        "cpu_ms_per_frame": 1000 * cpu / max(n, 1),
        "bitrate_mbps": (sum(v1["bytes"].values()) - sum(v0["bytes"].values())) * 8 / wall / 1e6,
        "encoder_ms": {"convert": v1["convert_ms"], "encode": v1["encode_ms"]},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--codec", choices=("vp8", "h264"), default="vp8")
    parser.add_argument("--window", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=4.0)
    parser.add_argument("--repeat", type=int, default=2, help="bare/runtime pairs, interleaved")
    parser.add_argument("--quiet", type=float, default=85.0, help="idle %% to wait for first")
    parser.add_argument("--quiet-timeout", type=float, default=120.0)
    opts = parser.parse_args()
    idle = wait_quiet(opts.quiet, opts.quiet_timeout)
    runs: list[dict[str, Any]] = []
    for i in range(opts.repeat):
        print(f"overhead: pair {i + 1}/{opts.repeat} ({opts.codec})", file=sys.stderr, flush=True)
        b = bare(opts.codec, opts.window, opts.warmup)
        r = asyncio.run(runtime(opts.codec, opts.window, opts.warmup))
        runs.append(
            {"bare": b, "runtime": r, "ratio": r["cpu_ms_per_frame"] / b["cpu_ms_per_frame"]}
        )
    rows = []
    for i, run in enumerate(runs):
        for side in ("bare", "runtime"):
            m = run[side]
            rows.append(
                {
                    "pair": i + 1,
                    "side": side,
                    "fps": round(m["fps"], 1),
                    "cpu%": round(m["cpu_pct"], 1),
                    "cpu_ms/frame": round(m["cpu_ms_per_frame"], 2),
                    "Mbit/s": round(m["bitrate_mbps"], 2),
                    "ratio": round(run["ratio"], 3) if side == "runtime" else None,
                }
            )
    print(table(rows, ("pair", "side", "fps", "cpu%", "cpu_ms/frame", "Mbit/s", "ratio")))
    ratios = [run["ratio"] for run in runs]
    median = float(np.median(ratios))
    print(f"ratio runtime/bare: median {median:.3f} of {len(ratios)} (target <= {TARGET})")
    path = write_result(
        "overhead",
        {
            "size": f"{WIDTH}x{HEIGHT}",
            "fps": FPS,
            "codec": opts.codec,
            "window_s": opts.window,
            "idle_before_pct": round(idle, 1),
            "ratio_median": round(median, 3),
            "target": TARGET,
            "pass": median <= TARGET,
            "runs": runs,
        },
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
