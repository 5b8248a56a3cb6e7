"""Latency: model emit -> picture decoded at the viewer, p50/p95, per size and codec.

    python bench/latency.py                  # 512x512 and 1280x720 @30, VP8 and H.264
    python bench/latency.py --quick --only 1280x720/vp8 --no-chromium

A fresh `reactor run` per case serves serve.py's textured pattern, which stamps a
frame id into row 0 of each picture and logs the emit time. Receivers:

- our client on 127.0.0.1 (serve.py's `client_receive`: the decoded frame's arrival);
- headless Chromium with the runtime's own page, inside a private network namespace
  (libwebrtc ignores loopback candidates; needs root): `requestVideoFrameCallback`
  reads the stamp from each frame the compositor presents and records the frame's
  `expectedDisplayTime`, i.e. emit -> displayed.

Same machine, one wall clock (`time.time()` in the model, `performance.timeOrigin +
t` in Chromium). Writes bench/results/latency.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from typing import Any

from common import pct, read_emits, serve, table, wait_quiet, write_result
from serve import CODECS, SIZES, client_receive, cpu_seconds, encoded_bytes, playout_delay_env

# Each presented frame: draw row 0 (the id blocks) into a canvas, read the 32 block
# centres, check the id, record (id, expected display time as epoch ms, callback time).
WATCH = """() => {
  const video = document.querySelector("#screens video");
  if (!video) return false;
  const canvas = Object.assign(document.createElement("canvas"), { width: 512, height: 16 });
  const g = canvas.getContext("2d", { willReadFrequently: true });
  window.benchRecords = [];
  const onFrame = (now, meta) => {
    g.drawImage(video, 0, 0, 512, 16, 0, 0, 512, 16);
    const pixels = g.getImageData(0, 8, 512, 1).data;
    let word = 0;
    for (let bit = 0; bit < 32; bit++) {
      word = word * 2 + (pixels[(bit * 16 + 8) * 4 + 1] > 128 ? 1 : 0);
    }
    const fid = Math.floor(word / 256), check = word % 256;
    const ok = ((fid * 151 + 89) & 255) === check;
    const origin = performance.timeOrigin;
    const received = meta.receiveTime === undefined ? null : origin + meta.receiveTime;
    window.benchRecords.push([ok ? fid : -1, origin + meta.expectedDisplayTime, origin + now,
      received, meta.processingDuration ?? null]);
    video.requestVideoFrameCallback(onFrame);
  };
  video.requestVideoFrameCallback(onFrame);
  return true;
}"""


def chromium_unavailable() -> str | None:
    """Why Chromium cannot be measured here, or None."""
    from e2e.netns import CHROMIUM_PATH, unavailable_reason

    if os.geteuid() != 0:
        return "not root: Chromium needs a private network namespace (libwebrtc skips loopback)"
    if not os.access(CHROMIUM_PATH, os.X_OK):
        return f"{CHROMIUM_PATH} is absent (apt-get install -y chromium)"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install playwright)"
    return unavailable_reason()


def served_model(opts: argparse.Namespace) -> str:
    """The model class to serve: `common.serve` names it itself, so video-only has its own."""
    return "LiveVideoOnlyModel" if opts.video_only and opts.model == "LiveModel" else opts.model


def ours_case(width: int, height: int, codec: str, opts: argparse.Namespace) -> dict:
    """Emit -> decoded at our client on 127.0.0.1 (serve.py's receiver)."""
    idle = wait_quiet(opts.quiet, opts.quiet_timeout)
    with serve(width, height, codec, served_model(opts), video_only=opts.video_only) as server:
        result = asyncio.run(client_receive(server.url, server.pid, server.model_dir, opts))
    result.update(size=f"{width}x{height}", codec=codec, receiver="ours", idle_before_pct=idle)
    return result


def chromium_case(width: int, height: int, codec: str, opts: argparse.Namespace) -> dict:
    """Emit -> displayed in headless Chromium (runtime page) inside a private network."""
    from e2e.netns import private_network
    from playwright.sync_api import sync_playwright
    from web.viewer import HEALTH, launch

    idle = wait_quiet(opts.quiet, opts.quiet_timeout)
    with private_network() as net, playout_delay_env(opts.playout_delay == "on") as env:
        model = served_model(opts)
        with (
            serve(
                width,
                height,
                codec,
                model,
                host=net.address,
                prefix=[*net.exec_prefix, *env],
                video_only=opts.video_only,
            ) as server,
            sync_playwright() as pw,
        ):
            served = server.served
            emit_log = server.emit_log

            def health() -> dict[str, Any]:
                # The runtime listens inside the namespace only: ask from in there.
                done = net.run([sys.executable, "-c", HEALTH, served.url], capture_output=True)
                return json.loads(done.stdout)

            browser = launch(pw, net, [served.url])
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 900})
                page.goto(served.url + "/")
                page.wait_for_function(
                    "() => window.reactorPage?.connection.state === 'connected'", timeout=20_000
                )
                page.wait_for_function(WATCH, timeout=10_000)
                page.wait_for_timeout(opts.warmup * 1000)
                pid = served.process.pid
                start = page.evaluate("window.benchRecords.length")
                t0, cpu0, bytes0 = time.monotonic(), cpu_seconds(pid), encoded_bytes(health())
                page.wait_for_timeout(opts.window * 1000)
                seconds = time.monotonic() - t0
                measured = {
                    "seconds": seconds,
                    "server_cpu_pct": 100 * (cpu_seconds(pid) - cpu0) / seconds,
                    "bitrate_mbps": (encoded_bytes(health()) - bytes0) * 8 / seconds / 1e6,
                }
                records = page.evaluate("window.benchRecords")[start:]
                stats = page.evaluate("window.reactorPage.stats") or {}
            finally:
                browser.close()
            emits = read_emits(emit_log)[0]
    displayed = [1000 * (r[1] / 1000 - emits[r[0]]) for r in records if r[0] in emits]
    callback = [1000 * (r[2] / 1000 - emits[r[0]]) for r in records if r[0] in emits]
    # Split Chromium's share off: emit -> last packet received, then received -> displayed.
    arrived = [1000 * (r[3] / 1000 - emits[r[0]]) for r in records if r[0] in emits and r[3]]
    inside = [r[1] - r[3] for r in records if r[3]]
    decode = [1000 * r[4] for r in records if r[4] is not None]
    return {
        "receiver": "chromium (page)" + " (no playout-delay)" * (opts.playout_delay == "off"),
        "playout_delay": opts.playout_delay,
        "size": f"{width}x{height}",
        "codec": codec,
        "fps": len(records) / measured["seconds"],
        "frames": len(records),
        "unreadable_ids": sum(r[0] < 0 for r in records),
        "latency_ms": {"p50": pct(displayed, 50), "p95": pct(displayed, 95), "n": len(displayed)},
        "callback_latency_ms": {"p50": pct(callback, 50), "p95": pct(callback, 95)},
        "emit_to_received_ms": {"p50": pct(arrived, 50), "p95": pct(arrived, 95)},
        "received_to_displayed_ms": {"p50": pct(inside, 50), "p95": pct(inside, 95)},
        "decode_ms": {"p50": pct(decode, 50), "p95": pct(decode, 95)},
        "page_stats": {k: stats.get(k) for k in ("codec", "videoBitrate", "videoDelay", "fps")},
        "idle_before_pct": idle,
        **measured,
    }


def row(result: dict[str, Any]) -> dict[str, Any]:
    lat = result["latency_ms"]
    return {
        "receiver": result["receiver"],
        "case": f"{result['size']}/{result['codec']}",
        "fps": round(result["fps"], 1),
        "p50_ms": lat["p50"],
        "p95_ms": lat["p95"],
        "server_cpu%": round(result["server_cpu_pct"], 1),
        "Mbit/s": round(result["bitrate_mbps"], 2),
        "psnr": (result.get("psnr_db") or {}).get("median"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 s warm-up, 5 s windows")
    parser.add_argument("--warmup", type=float, default=4.0)
    parser.add_argument("--window", type=float, default=10.0)
    parser.add_argument("--only", action="append", help="WxH/codec, e.g. 1280x720/vp8")
    parser.add_argument("--no-chromium", action="store_true")
    parser.add_argument("--out", default="latency", help="result name under bench/results")
    parser.add_argument(
        "--model",
        default="LiveModel",
        choices=("LiveModel", "BenchModel"),
        help="LiveModel paces like a camera (the runtime's path); BenchModel catches up after "
        "hiccups and can end with a full output buffer (+buffer_size frames)",
    )
    parser.add_argument(
        "--video-only", action="store_true", help="serve no audio (no lip-sync hold in Chromium)"
    )
    parser.add_argument(
        "--playout-delay",
        choices=("on", "off"),
        default="on",
        help="off: the runtime answers no playout-delay to Chromium (A/B; ours never offers it)",
    )
    parser.add_argument("--no-ours", action="store_true", help="Chromium cases only")
    parser.add_argument("--quiet", type=float, default=85.0, help="idle %% to wait for per case")
    parser.add_argument("--quiet-timeout", type=float, default=120.0)
    opts = parser.parse_args()
    if opts.quick:
        opts.warmup, opts.window = 2.0, 5.0
    cases = [(w, h, c) for w, h in SIZES for c in CODECS]
    if opts.only:
        cases = [(w, h, c) for w, h, c in cases if f"{w}x{h}/{c}" in opts.only]
    skip = "--no-chromium" if opts.no_chromium else chromium_unavailable()
    if skip:
        print(f"chromium: skipped ({skip})", file=sys.stderr)
    results: list[dict[str, Any]] = []
    for width, height, codec in cases:
        if not opts.no_ours:
            print(f"ours: {width}x{height} {codec}", file=sys.stderr, flush=True)
            results.append(ours_case(width, height, codec, opts))
        if not skip:
            print(f"chromium: {width}x{height} {codec}", file=sys.stderr, flush=True)
            try:
                results.append(chromium_case(width, height, codec, opts))
            except Exception as exc:  # one failed case must not lose the others
                print(f"  chromium failed: {exc!r}", file=sys.stderr)
                results.append(
                    {
                        "receiver": "chromium (page)",
                        "size": f"{width}x{height}",
                        "codec": codec,
                        "error": repr(exc),
                    }
                )
    ok = [r for r in results if "error" not in r]
    columns = ("receiver", "case", "fps", "p50_ms", "p95_ms", "server_cpu%", "Mbit/s", "psnr")
    print(table([row(r) for r in ok], columns))
    path = write_result(
        opts.out,
        {
            "warmup_s": opts.warmup,
            "window_s": opts.window,
            "chromium_skipped": skip or None,
            "model": opts.model,
            "results": results,
        },
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
