"""Fan-out cost: server CPU with 1 viewer vs 4 viewers of one 720p30 session.

    python bench/fanout.py                   # VP8, 15 s windows
    python bench/fanout.py --codec h264 --window 10

One `reactor run` serves `LiveModel` (bench/common.py: serve.py's textured pattern,
1280x720 at 30 fps, with its audio tone). Windows, in order: 1 viewer, 4 viewers,
1 viewer again (the second 1-viewer window brackets drift). Viewers are our clients
in this process (their CPU is not counted; on 2 cores they compete with the server,
so the machine's load is reported too). Server CPU is read from /proc/<pid>/stat,
per second and per frame the hub encoded (each frame is encoded once per codec, so
only packetizing, SRTP and sending should grow with viewers).
Target: CPU(4) / CPU(1) <= 1.3. Writes bench/results/fanout.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from typing import Any

from common import (
    cpu_seconds,
    get_health,
    serve,
    table,
    video_stats,
    wait_quiet,
    write_result,
)
from serve import machine_ticks

from reactor_runtime.client import ClientSession, connect

TARGET = 1.3
FPS = 30


async def window(server: Any, sessions: list[ClientSession], seconds: float) -> dict[str, Any]:
    """Server CPU over `seconds` while every session keeps receiving."""
    streams = [s.video() for s in sessions]
    counts = [0] * len(streams)

    async def drain(i: int) -> None:
        while True:
            await streams[i].next(timeout=10)
            counts[i] += 1

    health0 = await asyncio.to_thread(get_health, server.url)
    idle0, total0 = machine_ticks()
    t0, cpu0 = time.monotonic(), cpu_seconds(server.pid)
    tasks = [asyncio.create_task(drain(i)) for i in range(len(streams))]
    await asyncio.sleep(seconds)  # a fixed measurement window
    wall = time.monotonic() - t0
    cpu = cpu_seconds(server.pid) - cpu0
    idle1, total1 = machine_ticks()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    health1 = await asyncio.to_thread(get_health, server.url)
    v0, v1 = video_stats(health0), video_stats(health1)
    encoded = v1["encoded"] - v0["encoded"]
    return {
        "viewers": len(sessions),
        "server_viewers": health1["viewers"],
        "seconds": round(wall, 2),
        "server_cpu_pct": round(100 * cpu / wall, 1),
        "cpu_ms_per_frame": round(1000 * cpu / max(encoded, 1), 2),
        "encoded_fps": round(encoded / wall, 1),
        "skipped": v1["skipped"] - v0["skipped"],
        "min_viewer_fps": round(min(counts) / wall, 1),
        "machine_busy_pct": round(200 * (1 - (idle1 - idle0) / max(1, total1 - total0)), 1),
    }


async def measure(server: Any, opts: argparse.Namespace) -> list[dict[str, Any]]:
    windows = []
    async with contextlib.AsyncExitStack() as stack:
        first = await stack.enter_async_context(connect(server.url))
        await asyncio.sleep(opts.warmup)  # encoder rate control and pacing settle
        windows.append(await window(server, [first], opts.window))
        async with contextlib.AsyncExitStack() as more:
            others = await asyncio.gather(
                *(more.enter_async_context(connect(server.url)) for _ in range(3))
            )
            await asyncio.sleep(opts.warmup)
            windows.append(await window(server, [first, *others], opts.window))
        await asyncio.to_thread(server.served.wait_health, lambda h: h["viewers"] == 1, 10)
        await asyncio.sleep(opts.warmup)
        windows.append(await window(server, [first], opts.window))
    return windows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--codec", choices=("vp8", "h264"), default="vp8")
    parser.add_argument("--window", type=float, default=15.0)
    parser.add_argument("--warmup", type=float, default=4.0)
    parser.add_argument("--quiet", type=float, default=85.0, help="idle %% to wait for first")
    parser.add_argument("--quiet-timeout", type=float, default=120.0)
    opts = parser.parse_args()
    idle = wait_quiet(opts.quiet, opts.quiet_timeout)
    print(f"fanout: 1280x720@30 {opts.codec}", file=sys.stderr, flush=True)
    with serve(1280, 720, opts.codec, "LiveModel") as server:
        windows = asyncio.run(measure(server, opts))
    one = [w for w in windows if w["viewers"] == 1]
    four = next(w for w in windows if w["viewers"] == 4)
    base_pct = sum(w["server_cpu_pct"] for w in one) / len(one)
    base_frame = sum(w["cpu_ms_per_frame"] for w in one) / len(one)
    ratio_pct = four["server_cpu_pct"] / base_pct
    ratio_frame = four["cpu_ms_per_frame"] / base_frame
    columns = (
        "viewers",
        "server_cpu_pct",
        "cpu_ms_per_frame",
        "encoded_fps",
        "skipped",
        "min_viewer_fps",
        "machine_busy_pct",
    )
    print(table(windows, columns))
    print(
        f"CPU 4 viewers / 1 viewer: {ratio_pct:.3f} (per second), {ratio_frame:.3f} "
        f"(per encoded frame); target <= {TARGET}"
    )
    path = write_result(
        "fanout",
        {
            "size": "1280x720",
            "fps": FPS,
            "codec": opts.codec,
            "window_s": opts.window,
            "idle_before_pct": round(idle, 1),
            "ratio_cpu_pct": round(ratio_pct, 3),
            "ratio_cpu_per_frame": round(ratio_frame, 3),
            "target": TARGET,
            "pass": max(ratio_pct, ratio_frame) <= TARGET,
            "windows": windows,
        },
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
