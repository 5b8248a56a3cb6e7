"""Soak: one viewer watching 720p30 for N minutes; server RSS and open fds each minute.

    python bench/soak.py                      # 30 minutes, VP8
    python bench/soak.py --minutes 2 --codec h264

A fresh `reactor run` serves serve.py's textured, id-stamped pattern at 1280x720, 30
fps (`LiveModel` by default, see bench/common.py); our client (127.0.0.1) watches.
Every minute the server's RSS (VmRSS), open fds, threads, CPU over that minute, the
frames the viewer received, the encoder's skipped pictures and the emit -> decoded
latency (p50 of every 10th frame) are sampled.
Targets: RSS growth <= 10 MB from the first minute (warm-up: allocator pools, codec
buffers) to the end; open fds flat. Writes bench/results/soak.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from common import (
    cpu_seconds,
    get_health,
    open_fds,
    pct,
    read_emits,
    read_stamp,
    rss_mb,
    serve,
    table,
    threads,
    video_stats,
    write_result,
)

from reactor_runtime.client import connect

RSS_GROWTH_TARGET_MB = 10.0
STAMP_EVERY = 10


def sample(server: Any, since: dict[str, Any] | None, frames: int, latencies: list) -> dict:
    """One row: the server's process state now and the rates since the previous row."""
    now = time.monotonic()
    cpu = cpu_seconds(server.pid)
    health = get_health(server.url)
    video = video_stats(health)
    row: dict[str, Any] = {
        "t_min": 0.0,
        "rss_mb": round(rss_mb(server.pid), 1),
        "fds": open_fds(server.pid),
        "threads": threads(server.pid),
        "encoded": video.get("encoded"),
        "skipped": video.get("skipped"),
        "viewers": health.get("viewers"),
        "_at": now,
        "_cpu": cpu,
        "_frames": frames,
    }
    if since is not None:
        seconds = now - since["_at"]
        row["cpu_pct"] = round(100 * (cpu - since["_cpu"]) / seconds, 1)
        row["fps"] = round((frames - since["_frames"]) / seconds, 1)
        row["p50_ms"] = pct(latencies, 50)
    return row


async def soak(server: Any, opts: argparse.Namespace) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    async with connect(server.url) as session:
        video = session.video()
        received = 0
        stamps: list[tuple[int, float]] = []
        # Warm-up: the first frames arrive and every buffer reaches its working size.
        warm_until = time.monotonic() + opts.warmup
        while time.monotonic() < warm_until:
            await video.next(timeout=10)
        start = time.monotonic()
        audio_before = (await session.stats())["main_audio"]["samples"]
        rows.append(sample(server, None, 0, []))
        print(table([rows[-1]], COLUMNS), flush=True)
        next_at = start + opts.interval
        end = start + opts.minutes * 60
        while True:
            frame = await video.next(timeout=10)
            received += 1
            if received % STAMP_EVERY == 0:
                stamps.append((read_stamp(frame.luma) or -1, frame.received_at))
            if time.monotonic() >= next_at:
                emits = await asyncio.to_thread(lambda: read_emits(server.emit_log)[0])
                latencies = [1000 * (t - emits[f]) for f, t in stamps if f in emits]
                row = await asyncio.to_thread(sample, server, rows[-1], received, latencies)
                # The client decodes audio whether or not anyone iterates it: count that.
                samples = (await session.stats())["main_audio"]["samples"]
                row["audio_s"] = round((samples - audio_before) / 48_000 / opts.interval, 2)
                audio_before = samples
                row["t_min"] = round((row["_at"] - start) / 60, 2)
                rows.append(row)
                print(table([row], COLUMNS).splitlines()[-1], flush=True)
                stamps.clear()
                next_at += opts.interval
                if time.monotonic() >= end:
                    break
    return rows


COLUMNS = (
    "t_min",
    "rss_mb",
    "fds",
    "threads",
    "cpu_pct",
    "fps",
    "audio_s",
    "p50_ms",
    "encoded",
    "skipped",
)


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """RSS growth and fd range of the samples, judged against the targets."""
    # The first minute includes allocator and codec warm-up; growth is judged after it.
    base = rows[1] if len(rows) > 2 else rows[0]
    last = rows[-1]
    # A leak grows steadily; a plateau reached early (e.g. the output buffer filling up
    # to `buffer_size` 720p frames, 2.8 MB each) does not: the slope tells them apart.
    late = [r for r in rows if r["t_min"] >= min(5.0, last["t_min"] / 2)]
    slope = (
        float(np.polyfit([r["t_min"] for r in late], [r["rss_mb"] for r in late], 1)[0]) * 60
        if len(late) >= 3
        else None
    )
    fds = [r["fds"] for r in rows[1:]] or [rows[0]["fds"]]
    summary = {
        "rss_start_mb": rows[0]["rss_mb"],
        "rss_after_1min_mb": base["rss_mb"],
        "rss_end_mb": last["rss_mb"],
        "rss_growth_mb": round(last["rss_mb"] - base["rss_mb"], 1),
        "rss_growth_from_start_mb": round(last["rss_mb"] - rows[0]["rss_mb"], 1),
        "rss_growth_after_5min_mb": round(last["rss_mb"] - late[0]["rss_mb"], 1),
        "rss_slope_mb_per_hour_after_5min": None if slope is None else round(slope, 2),
        "rss_growth_target_mb": RSS_GROWTH_TARGET_MB,
        "fds": sorted({r["fds"] for r in rows}),
        # One /health request's socket may be open at sampling time: allow +-1.
        "fds_flat": max(fds) - min(fds) <= 1,
        "threads": sorted({r["threads"] for r in rows}),
    }
    summary["pass"] = summary["rss_growth_mb"] <= RSS_GROWTH_TARGET_MB and summary["fds_flat"]
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--interval", type=float, default=60.0, help="seconds between samples")
    parser.add_argument("--warmup", type=float, default=10.0)
    parser.add_argument("--codec", choices=("vp8", "h264"), default="vp8")
    parser.add_argument("--out", default="soak")
    parser.add_argument(
        "--model",
        default="LiveModel",
        choices=("LiveModel", "BenchModel"),
        help="LiveModel paces like a camera; BenchModel catches up (keeps a full buffer)",
    )
    parser.add_argument(
        "--summarise", metavar="JSON", help="recompute the summary of a saved result and exit"
    )
    opts = parser.parse_args()
    if opts.summarise:
        path = Path(opts.summarise)
        document = json.loads(path.read_text())
        document["summary"] = summarise(document["samples"])
        path.write_text(json.dumps(document, indent=2) + "\n")
        print(json.dumps(document["summary"], indent=2))
        return 0
    print(
        f"soak: 1280x720@30 {opts.codec}, {opts.model}, {opts.minutes:g} min",
        file=sys.stderr,
        flush=True,
    )
    with serve(1280, 720, opts.codec, opts.model) as server:
        rows = asyncio.run(soak(server, opts))
    for row in rows:
        for key in [k for k in row if k.startswith("_")]:
            del row[key]
    summary = summarise(rows)
    print(table(rows, COLUMNS))
    print(
        f"RSS {summary['rss_after_1min_mb']} -> {summary['rss_end_mb']} MB "
        f"(growth {summary['rss_growth_mb']} MB, target <= {RSS_GROWTH_TARGET_MB}); "
        f"fds {summary['fds']} ({'flat' if summary['fds_flat'] else 'NOT flat'})"
    )
    path = write_result(
        opts.out,
        {
            "size": "1280x720",
            "fps": 30,
            "codec": opts.codec,
            "minutes": opts.minutes,
            "model": opts.model,
            "summary": summary,
            "samples": rows,
        },
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
