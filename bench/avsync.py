"""A/V sync benchmark: flash/click skew at headless Chromium, ours against a floor.

    python bench/avsync.py                  # 2 minutes after a 20 s warm-up
    python bench/avsync.py --minutes 5 --connections 3
    python bench/avsync.py --no-baseline    # skip aiortc's own sender reports
    python bench/avsync.py --playout-zero   # also mono with reactor run --playout-delay zero

The measurement of `tests/e2e/test_avsync.py`, longer (see
`tests/e2e/avsync_page/harness.py`): inside a private network namespace, one
`reactor run` per audio variant of the test model (48 kHz mono, a resampled 16 kHz
track, stereo) and, unless `--no-baseline`, one more mono runtime with `rtcp_sync`
disabled (aiortc's own sender reports: `mono-aiortc-sr`). One Chromium page watches
them all and the floor (an in-page Chromium-to-Chromium loopback of a locally made
flash/click stream, its skews corrected for libwebrtc's Opus look-ahead) with the
same detectors.

Skew is click minus flash (ms, positive: audio late). Per probe: p5/p50/p95, drift
(second-half median minus first-half median) and slope (ms per minute); `residual`,
what Chromium's own lip-sync loop left uncorrected by its account
(`estimatedPlayoutTimestamp`, video minus audio), and `settled_p50` /
`settled_drift`, the same with each skew minus that residual (the loop's own discrete
corrections taken out). `delta` = ours p50 minus the floor's (target: |delta| <= 10 ms, drift 0).
With `--connections N` the page reconnects N times (each with its warm-up) and the
summary is the median over connections. Needs root (network namespace) and
Debian's Chromium. Writes bench/results/avsync.json.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent / "tests"))

from common import table  # noqa: E402
from e2e.avsync_page import harness  # noqa: E402
from e2e.netns import private_network  # noqa: E402

COLUMNS = (
    "pairs",
    "p5",
    "p50",
    "p95",
    "drift",
    "slope_ms_per_min",
    "residual",
    "settled_p50",
    "settled_drift",
    "delta",
    "settled_delta",
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=2.0, help="measurement window (2)")
    parser.add_argument("--warmup", type=float, default=20.0, help="seconds before it (20)")
    parser.add_argument("--connections", type=int, default=1, help="fresh connections (1)")
    parser.add_argument("--no-baseline", action="store_true", help="no mono-aiortc-sr probe")
    parser.add_argument(
        "--variants",
        default=",".join(harness.VARIANTS),
        help=f"comma-separated audio variants to serve ({','.join(harness.VARIANTS)})",
    )
    parser.add_argument(
        "--playout-zero",
        action="store_true",
        help="add mono-playout-zero: mono served with reactor run --playout-delay zero",
    )
    parser.add_argument("--out", type=Path, default=BENCH / "results" / "avsync.json")
    args = parser.parse_args()

    pairs = max(4, round(args.minutes * 60))
    started = time.monotonic()
    runs: list[dict[str, Any]] = []
    with private_network() as net:
        specs = harness.specs(
            args.variants.split(","), baseline=not args.no_baseline, zero=args.playout_zero
        )
        with harness.stage(net, specs) as (runtimes, page):
            for connection in range(args.connections):
                report, seconds = harness.measure(
                    page, runtimes, args.warmup, pairs, timeout=args.minutes * 60 + 60
                )
                buffered = _audio_buffered_ms(page.stats())
                runs.append(
                    {
                        "window_s": round(seconds, 1),
                        "skew_ms": report,
                        "audio_jitter_buffer_ms": buffered,
                    }
                )
                print(f"connection {connection + 1}: {seconds:.0f} s of pairs")
                print(_table(report))
                print(f"audio jitter buffer at Chromium (mean ms): {buffered}")
            health = page.health(runtimes)
            chromium = page.context.browser.version
            errors = list(page.errors)
    summary = harness.combine([r["skew_ms"] for r in runs]) if len(runs) > 1 else None
    document = {
        "benchmark": "avsync",
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "chromium": chromium,
            "load_avg_after": [round(x, 2) for x in os.getloadavg()],
        },
        "settings": {
            "minutes": args.minutes,
            "warmup_s": args.warmup,
            "connections": args.connections,
            "floor_correction": "the floor's own label lag, measured per connection (labels.py)",
        },
        "connections": runs,
        "median_over_connections": summary,
        "server": health,
        "page_errors": errors,
        "runtime_s": round(time.monotonic() - started, 1),
    }
    if summary is not None:
        print("median over connections:")
        print(json.dumps(summary, indent=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(document, indent=1) + "\n")
    print(f"server: {json.dumps(health)}")
    print(f"wrote {args.out}")
    return 0


def _audio_buffered_ms(stats: dict[str, Any]) -> dict[str, float | None]:
    """Mean time an audio sample waited in Chromium's jitter buffer, per probe (ms)."""
    out: dict[str, float | None] = {}
    for label, rows in stats.items():
        audio = [r for r in rows if r["kind"] == "audio" and r.get("jitterBufferEmittedCount")]
        out[label] = (
            round(1000 * audio[0]["jitterBufferDelay"] / audio[0]["jitterBufferEmittedCount"], 1)
            if audio
            else None
        )
    return out


def _table(report: dict[str, Any]) -> str:
    return table([{"probe": label, **row} for label, row in report.items()], ["probe", *COLUMNS])


if __name__ == "__main__":
    sys.exit(main())
