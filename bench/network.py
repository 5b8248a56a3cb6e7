"""Real networks: 720p30 to headless Chromium behind capped, lossy, delayed links (issue 10).

    python bench/network.py                          # every scenario, 3 runs of 60 s
    python bench/network.py --runs 1 --seconds 30 --only cap2 --only loss5
    python bench/network.py --runtime-src /tmp/before/src --label before
    python bench/network.py --only reference --playout-delay off --label no-playout
    python bench/network.py --only reference --playout-delay zero --label zero
    python bench/network.py --runs 1 --only steps --trace /tmp/trace   # 100 ms getStats, raw frames

Each run builds a fresh shaped network (tests/e2e/shaped.py: the runtime, a router and
one namespace per viewer; htb caps, BPF random loss, a TUN delay line for the RTT),
serves `LiveModel` (common.py: serve.py's textured, id-stamped pattern at 1280x720,
30 fps, VP8) and watches it with Chromium's runtime page. Per second it samples the
page's getStats (tests/e2e/netstats.py) and the runtime's /metrics; every presented
frame is read back by its id stamp (latency.py's `WATCH`, read at the size the
resolution ladder sends: `SCALED_WATCH`), so emit -> displayed,
displayed fps and freezes (gaps between presented frames) come from the pictures.

Scenarios (`SCENARIOS`): the uncapped reference at 50 ms RTT; a 2 Mbit/s cap from
the start; 10 -> 2 -> 10 Mbit/s in thirds of the run; 5 % and 15 % random loss at
80 ms RTT (applied once the page is connected: handshakes over loss retry on second-
long timers); two viewers, the second capped at 1 Mbit/s. The figure of a scenario
is the median over its runs, printed next to its target (`network_report.py`).
`--runtime-src` serves another checkout's ``src`` (e.g. the code before this work,
for the "before").
Writes bench/results/network-<date>[-label].json. Needs root and Chromium.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common import pct, serve, table, wait_quiet, write_result
from latency import WATCH, chromium_unavailable
from network_report import (
    counter_series,
    first_above,
    first_run_under,
    freeze_gaps,
    gauge_series,
    rows,
    sent_series,
    summarise_all,
)
from serve import playout_delay_env

WIDTH, HEIGHT, CODEC = 1280, 720, "vp8"
SOLO_S = 10.0
"""Seconds our client watches alone before Chromium joins (two_viewers)."""
TRACE_PERIOD = 0.1
"""Seconds between the page's getStats samples with `--trace` (1 s otherwise)."""
_DRAW = "g.drawImage(video, 0, 0, 512, 16, 0, 0, 512, 16)"
assert _DRAW in WATCH, "latency.WATCH changed: SCALED_WATCH must follow it"
SCALED_WATCH = WATCH.replace(
    _DRAW,
    f"const k = video.videoWidth / {WIDTH}; "
    "g.drawImage(video, 0, 0, 512 * k, 16 * k, 0, 0, 512, 16)",
)
"""`WATCH` reading the stamp of a picture the ladder scaled down (the page gets 960x540
of the 1280x720 model: the stamp's blocks are 12 pixels, not 16)."""


@dataclass(frozen=True)
class Scenario:
    """One network condition: viewer links, RTT, changes once connected and mid-run."""

    links: tuple[dict[str, Any], ...]
    rtt_ms: float
    connected: dict[str, Any] = field(default_factory=dict)
    steps: tuple[tuple[float, dict[str, Any]], ...] = ()
    cap_mbps: float | None = None
    python_viewers: tuple[int, ...] = ()
    """Viewers watched by our own client instead of Chromium, connected first."""


SCENARIOS = {
    "reference": Scenario(({},), 50),
    "cap2": Scenario(({"cap_mbps": 2},), 50, cap_mbps=2),
    "steps": Scenario(
        ({"cap_mbps": 10},), 50, steps=((1 / 3, {"cap_mbps": 2}), (2 / 3, {"cap_mbps": 10}))
    ),
    "loss5": Scenario(({},), 80, connected={"loss": 0.05}),
    "loss15": Scenario(({},), 80, connected={"loss": 0.15}),
    # The page speaks the flat (one client per session) route: the second viewer is our
    # own client (the connections route), alone for SOLO_S first: its solo rate.
    "two_viewers": Scenario(({"cap_mbps": 1}, {}), 50, python_viewers=(1,)),
}


def run_once(name: str, scenario: Scenario, opts: argparse.Namespace) -> dict[str, Any]:
    """One run of `scenario`: raw per-viewer figures (see `viewer_figures`)."""
    from e2e.netstats import MetricsSampler, PythonViewer, chromium_sampler, chromium_samples
    from e2e.shaped import Link, shaped_network
    from playwright.sync_api import sync_playwright
    from web.viewer import launch

    idle = wait_quiet(opts.quiet, opts.quiet_timeout)
    links = [Link(**link) for link in scenario.links]
    with (
        shaped_network(links, rtt_ms=scenario.rtt_ms) as net,
        playout_delay_env(opts.playout_delay != "off") as env,
    ):
        if opts.runtime_src:  # in front of any sitecustomize directory env already names
            paths = [opts.runtime_src, *(e.split("=", 1)[1] for e in env[1:])]
            env = ["env", f"PYTHONPATH={':'.join(paths)}"]
        prefix = [*net.server.exec_prefix, *env]
        with (
            serve(
                WIDTH,
                HEIGHT,
                CODEC,
                "LiveVideoOnlyModel" if opts.video_only else "LiveModel",
                args=("--playout-delay", "zero") if opts.playout_delay == "zero" else (),
                host=net.server.address,
                prefix=prefix,
                video_only=opts.video_only,
            ) as srv,
            MetricsSampler(net.server.name, srv.url) as metrics,
            sync_playwright() as pw,
        ):
            browsers, pages, ours = [], [], []
            try:
                for i in scenario.python_viewers:
                    ours.append(PythonViewer(net.viewers[i].name, srv.url).__enter__())
                    ours[-1].connected.wait(30)
                    if ours[-1].error:
                        raise RuntimeError(f"our client failed: {ours[-1].error!r}")
                if ours:
                    time.sleep(SOLO_S)
                joined = time.time()
                for i, viewer in enumerate(net.viewers):
                    if i in scenario.python_viewers:
                        continue
                    browsers.append(launch(pw, viewer, [srv.url]))
                    context = browsers[-1].new_context(viewport={"width": 1400, "height": 900})
                    context.add_init_script(chromium_sampler(TRACE_PERIOD if opts.trace else 1.0))
                    pages.append(context.new_page())
                    goto(pages[-1], srv.url + "/")
                for page in pages:
                    page.wait_for_function(
                        "() => window.reactorPage?.connection.state === 'connected'",
                        timeout=30_000,
                    )
                    page.wait_for_function(SCALED_WATCH, timeout=10_000)
                if scenario.connected:
                    net.shape(0, **scenario.connected)
                start = time.time()
                changes = []
                for fraction, change in scenario.steps:
                    pages[0].wait_for_timeout(
                        max(start + fraction * opts.seconds - time.time(), 0) * 1000
                    )
                    net.shape(0, **change)
                    changes.append((time.time() - start, change))
                pages[0].wait_for_timeout(max(start + opts.seconds - time.time(), 0) * 1000)
                end = time.time()
                seen = [(chromium_samples(p), p.evaluate("window.benchRecords")) for p in pages]
            finally:
                for browser in browsers:
                    browser.close()
                for viewer in ours:
                    viewer.__exit__()
            emits = srv.emits()
        link_stats = [net.link_stats(i) for i in range(len(net.viewers))]
    sent = sent_series(metrics.samples, start, end)
    if opts.trace:
        write_trace(opts.trace, name, seen, emits, start, end, changes)
        seen = [(every_second(samples), records) for samples, records in seen]
    viewers = [
        viewer_figures(samples, records, emits, start, end, sent, changes, scenario, i)
        for i, (samples, records) in enumerate(seen)
    ]
    for i, viewer in zip(scenario.python_viewers, ours, strict=True):
        viewers.insert(i, python_figures(viewer.samples, joined - SOLO_S, joined, start, end))
    for figures, stats in zip(viewers, link_stats, strict=True):
        figures["link"] = stats
    return {
        "scenario": name,
        "idle_before_pct": round(idle, 1),
        "seconds": round(end - start, 1),
        "changes": changes,
        "sent_mbps_per_s": [round(v, 2) for v in sent],
        "bitrate_mbps_per_s": gauge_series(metrics.samples, "reactor_video_bitrate{", start, end),
        "encode_ms_per_s": gauge_series(
            metrics.samples, "reactor_video_picture_ms{step=encode", start, end, 1
        ),
        "estimate_mbps_per_s": gauge_series(
            metrics.samples, "reactor_video_viewer_estimate_min{", start, end
        ),
        "counters_per_s": {
            name: counter_series(metrics.samples, f"reactor_{name}_total", start, end)
            for name in (
                "video_keyframes",
                "video_keyframes_forced",
                "rtp_nacked",
                "rtp_retransmitted",
                "rtp_unanswered",
                "rtp_probe_packets",
                "video_ladder_steps",
            )
        },
        "viewers": viewers,
    }


def write_trace(
    directory: str,
    name: str,
    seen: list[tuple[list[dict[str, Any]], list[list[Any]]]],
    emits: dict[int, float],
    start: float,
    end: float,
    changes: list[tuple[float, dict[str, Any]]],
) -> Path:
    """Save one run's raw material for a closer look than the figures give.

    Per Chromium viewer: its `getStats` samples (every `TRACE_PERIOD`) and one record
    per presented frame (`[frame id, expectedDisplayTime, callback time, receiveTime,
    processingDuration]`, epoch ms); the model's emit time of each frame id (epoch s),
    the window and the link changes.
    """
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}-{time.strftime('%H%M%S')}.json"
    viewers = [{"samples": samples, "records": records} for samples, records in seen]
    document = {"scenario": name, "start": start, "end": end, "changes": changes}
    document |= {"emits": {str(k): v for k, v in emits.items()}, "viewers": viewers}
    path.write_text(json.dumps(document))
    print(f"  trace: {path}", file=sys.stderr)
    return path


def every_second(samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`samples` thinned to one a second, as the figures expect them."""
    kept: list[dict[str, Any]] = []
    for sample in samples:
        if not kept or sample["t"] - kept[-1]["t"] >= 950:
            kept.append(sample)
    return kept


def goto(page: Any, url: str, attempts: int = 3) -> None:
    """Load `url`; Chromium sometimes reports ERR_NETWORK_CHANGED in a fresh namespace."""
    for attempt in range(attempts):
        try:
            page.goto(url)
            return
        except Exception as exc:
            if "ERR_NETWORK_CHANGED" not in str(exc) or attempt == attempts - 1:
                raise
            page.wait_for_timeout(500)


def viewer_figures(
    samples: list[dict[str, Any]],
    records: list[list[Any]],
    emits: dict[int, float],
    start: float,
    end: float,
    sent: list[float],
    changes: list[tuple[float, dict[str, Any]]],
    scenario: Scenario,
    index: int,
) -> dict[str, Any]:
    """What one viewer saw between `start` and `end` (epoch s)."""
    seconds = end - start
    shown = [r for r in records if start * 1000 <= r[1] <= end * 1000 and r[0] in emits]
    latency = [r[1] - 1000 * emits[r[0]] for r in shown]
    to_receive = [r[3] - 1000 * emits[r[0]] for r in shown if r[3] is not None]
    held = [r[1] - r[3] for r in shown if r[3] is not None]
    # The window's edges count: a picture dead from the start is one long freeze.
    times = [start, *(r[1] / 1000 for r in shown), end]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    freezes = freeze_gaps(gaps)
    half = len(latency) // 2
    inside = [s for s in samples if start * 1000 - 1000 <= s["t"] <= end * 1000]
    a, b = (inside[0], inside[-1]) if len(inside) > 1 else ({}, {})

    def delta(key: str) -> float:
        return (b.get(key) or 0) - (a.get(key) or 0)

    received = [
        (y.get("bytesReceived", 0) - x.get("bytesReceived", 0))
        * 8
        / ((y["t"] - x["t"]) / 1000)
        / 1e6
        for x, y in itertools.pairwise(inside)
    ]
    cap = scenario.cap_mbps if index == 0 else scenario.links[index].get("cap_mbps")
    cap_at = 0.0
    if changes and changes[0][1].get("cap_mbps") is not None:
        cap_at, cap = changes[0][0], changes[0][1]["cap_mbps"]
    after = [g for g, t in zip(gaps, times[1:], strict=True) if t - start >= cap_at + 3]
    lost, resent = delta("packetsLost"), delta("retransmittedPacketsReceived")
    minutes = seconds / 60
    return {
        "fps": len(shown) / seconds,
        "decoded_fps": delta("framesDecoded") / seconds,
        "mbps": statistics.mean(received) if received else 0.0,
        "steady_mbps": statistics.mean(received[len(received) // 2 :]) if received else 0.0,
        "p50_ms": pct(latency, 50),
        "p95_ms": pct(latency, 95),
        "p95_first_half_ms": pct(latency[:half], 95),
        "p95_second_half_ms": pct(latency[half:], 95),
        # Where the time goes: emit -> the frame's last packet received (encode, pacing,
        # network), then received -> displayed (jitter buffer, decode, render).
        "to_receive_p50_p95_ms": [pct(to_receive, 50), pct(to_receive, 95)],
        "receive_to_display_p50_p95_ms": [pct(held, 50), pct(held, 95)],
        "freezes": len(freezes),
        "freeze_s": sum(freezes),
        "max_freeze_s": max(freezes, default=0.0),
        "freezes_at_s": [
            [round(a - start, 2), round(b - a, 2)]
            for a, b in itertools.pairwise(times)
            if freeze_gaps([b - a])
        ],
        "freeze_after_s": sum(freeze_gaps(after)),
        "chromium_freezes": delta("freezeCount"),
        "keyframe_requests_per_min": (delta("pliCount") + delta("firCount")) / minutes,
        "nacks_per_min": delta("nackCount") / minutes,
        # Chromium's packetsLost keeps counting a packet that RTX later repaired, so
        # the share repaired is resent / lost (capped: a late original can arrive too).
        "recovered_pct": 100 * min(resent, lost) / lost if lost > 0 else None,
        "jitter_buffer_ms": (
            1000 * delta("jitterBufferDelay") / delta("jitterBufferEmittedCount")
            if delta("jitterBufferEmittedCount")
            else None
        ),
        "audio_buffer_ms": (
            1000 * delta("audioJitterBufferDelay") / delta("audioJitterBufferEmittedCount")
            if delta("audioJitterBufferEmittedCount")
            else None
        ),
        "size": f"{b.get('frameWidth')}x{b.get('frameHeight')}",
        "under_cap_s": first_run_under(sent, cap, cap_at) if cap else None,
        "above_4_s": (first_above(received, 4.0, changes[1][0]) if len(changes) > 1 else None),
        "received_mbps_per_s": [round(v, 2) for v in received],
        "remb_mbps_per_s": [
            round((x.get("availableIncomingBitrate") or 0) / 1e6, 2) for x in inside
        ],
        "rtp_jitter_ms_per_s": [round(1000 * x.get("jitter", 0), 1) for x in inside],
        "target_delay_ms_per_s": [
            round(
                1000
                * (y.get("jitterBufferTargetDelay", 0) - x.get("jitterBufferTargetDelay", 0))
                / n,
                1,
            )
            for x, y in itertools.pairwise(inside)
            if (n := y.get("jitterBufferEmittedCount", 0) - x.get("jitterBufferEmittedCount", 0))
        ],
        "jitter_buffer_ms_per_s": [
            round(1000 * (y.get("jitterBufferDelay", 0) - x.get("jitterBufferDelay", 0)) / n, 1)
            for x, y in itertools.pairwise(inside)
            if (n := y.get("jitterBufferEmittedCount", 0) - x.get("jitterBufferEmittedCount", 0))
        ],
    }


def python_figures(
    samples: list[dict[str, float]], solo_from: float, joined: float, start: float, end: float
) -> dict[str, Any]:
    """Our client's fps and Mbit/s alone (`solo_from`..`joined`) and during the run."""

    def rate(t0: float, t1: float) -> tuple[float, float]:
        inside = [s for s in samples if t0 * 1000 <= s["t"] <= t1 * 1000]
        if len(inside) < 2:
            return 0.0, 0.0
        a, b = inside[0], inside[-1]
        seconds = (b["t"] - a["t"]) / 1000
        return (b["frames"] - a["frames"]) / seconds, (b["bytes"] - a["bytes"]) * 8 / seconds / 1e6

    solo_fps, solo_mbps = rate(solo_from + 2, joined)  # past its first keyframe
    fps, mbps = rate(start, end)
    return {"receiver": "ours", "fps": fps, "mbps": mbps, "solo_fps": solo_fps,
            "solo_mbps": solo_mbps}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--only", action="append", choices=sorted(SCENARIOS))
    parser.add_argument(
        "--table", nargs="+", metavar="JSON", help="print the table of saved result files (merged)"
    )
    parser.add_argument("--runtime-src", help="serve the reactor_runtime of this src directory")
    parser.add_argument("--label", default="", help="suffix of the result file, e.g. before")
    parser.add_argument(
        "--video-only",
        action="store_true",
        help="serve no audio (the runtime sends playout-delay only to viewers with no audio)",
    )
    parser.add_argument(
        "--playout-delay",
        choices=("on", "off", "zero"),
        default="on",
        help="on: the runtime's default (reactor run --playout-delay auto); off: it answers "
        "no playout-delay (A/B of issue 10 item 3; works on older trees too); zero: "
        "reactor run --playout-delay zero (frames shown at once with audio too)",
    )
    parser.add_argument(
        "--no-reference", action="store_true", help="do not add the reference run (A/B runs)"
    )
    parser.add_argument(
        "--trace",
        metavar="DIR",
        help=f"sample the page's getStats every {TRACE_PERIOD:g} s and save each run's "
        "samples, presented frames and emit times to DIR (one JSON file per run)",
    )
    parser.add_argument("--quiet", type=float, default=85.0, help="idle %% to wait for per run")
    parser.add_argument("--quiet-timeout", type=float, default=120.0)
    opts = parser.parse_args()
    if opts.table:
        runs = {}
        for path in opts.table:
            runs |= json.loads(Path(path).read_text())["runs"]
        summaries = summarise_all(runs, SCENARIOS)
        print(table(rows(summaries), ("scenario", "figure", "measured", "target", "result")))
        return 0
    skip = chromium_unavailable()
    if skip:
        print(f"network: cannot run ({skip})", file=sys.stderr)
        return 2
    names = [n for n in SCENARIOS if not opts.only or n in opts.only]
    if ("two_viewers" in names or "cap2" in names) and not opts.no_reference:
        names = ["reference", *(n for n in names if n != "reference")]  # their baseline
    runs: dict[str, list[dict[str, Any]]] = {}
    summaries: dict[str, dict[str, Any]] = {}
    name_of_file = f"network-{time.strftime('%Y-%m-%d')}{f'-{opts.label}' if opts.label else ''}"

    def save() -> Any:  # after every run: a crash later loses nothing measured
        document = {"runs_per_scenario": opts.runs, "seconds": opts.seconds}
        document |= {"runtime_src": opts.runtime_src, "label": opts.label}
        document |= {"playout_delay": opts.playout_delay, "video_only": opts.video_only}
        return write_result(name_of_file, {**document, "summaries": summaries, "runs": runs})

    for name in names:
        for n in range(opts.runs):
            print(f"{name}: run {n + 1}/{opts.runs}", file=sys.stderr, flush=True)
            try:
                runs.setdefault(name, []).append(run_once(name, SCENARIOS[name], opts))
            except Exception as exc:  # one failed run must not lose the others
                print(f"  failed: {exc!r}", file=sys.stderr)
            save()
    summaries.update(summarise_all(runs, SCENARIOS))
    print(table(rows(summaries), ("scenario", "figure", "measured", "target", "result")))
    print(f"wrote {save()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
