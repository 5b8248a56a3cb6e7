"""The runtime adapts to a real network: a capped link and a lossy one (issue 10).

720p30 textured VP8 (`models/textured720`) served to headless Chromium across the
shaped network of `e2e.shaped` (runtime, router and viewer in namespaces of their
own; htb cap, BPF random loss, a delay line for the round trip). Each run samples
Chromium's getStats and the runtime's /metrics every second (`e2e.netstats`).
The long scenarios and their medians are `bench/network.py`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from e2e.netns import CHROMIUM_PATH
from e2e.netstats import CHROMIUM_SAMPLER, MetricsSampler, chromium_samples, window
from e2e.shaped import Link, ShapedNetwork, shaped_network

MODEL = Path(__file__).resolve().parent / "models" / "textured720"
STREAM = "{codec=vp8,track=main_video}"


@dataclass
class Run:
    """What Chromium and the runtime reported over one run, one sample a second."""

    net: ShapedNetwork
    samples: list[dict[str, Any]]
    metrics: list[dict[str, float]]

    def metric(self, name: str, at_s: float) -> float:
        """`name` as /metrics read it `at_s` seconds after the first Chromium sample."""
        t = self.samples[0]["t"] + at_s * 1000
        read = min(self.metrics, key=lambda m: abs(m["t"] - t))
        return read.get(name, 0.0)

    def encoded_mbps(self, start_s: float, end_s: float) -> float:
        """The runtime's encoded video rate between two instants of the run."""
        name = f"reactor_video_encoded_bytes_total{STREAM}"
        encoded = self.metric(name, end_s) - self.metric(name, start_s)
        return encoded * 8 / (end_s - start_s) / 1e6


@contextmanager
def chromium_watching(
    link: Link,
    rtt_ms: float,
    seconds: float,
    later: dict[int, dict[str, Any]] | None = None,
    **connected: Any,
) -> Iterator[Run]:
    """`models/textured720` served behind `link` and watched `seconds` by Chromium.

    `connected` holds `Link` fields changed once the page is connected (a lossy
    handshake retries on second-long timers a short test cannot afford); `later` maps
    a second of the run (counted in Chromium's samples) to the fields changed then.
    """
    if not os.access(CHROMIUM_PATH, os.X_OK):
        pytest.skip(f"{CHROMIUM_PATH} is absent (apt-get install -y chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    from web.viewer import launch, serve

    with shaped_network([link], rtt_ms=rtt_ms) as net, sync_api.sync_playwright() as pw:
        server = serve(net.server, str(MODEL))
        with MetricsSampler(net.server.name, server.origin) as metrics:
            browser = launch(pw, net.viewers[0], [server.origin])
            try:
                page = browser.new_context()
                page.add_init_script(CHROMIUM_SAMPLER)
                page = page.new_page()
                page.goto(server.origin + "/")
                page.wait_for_function(
                    "() => window.reactorPage?.connection.state === 'connected'", timeout=20_000
                )
                if connected:
                    net.shape(0, **connected)
                for second, changes in sorted((later or {}).items()):
                    page.wait_for_function(
                        f"() => (window.netSamples || []).length > {second}",
                        timeout=second * 2000,
                    )
                    net.shape(0, **changes)
                page.wait_for_function(
                    f"() => (window.netSamples || []).length > {seconds}", timeout=seconds * 2000
                )
                samples = chromium_samples(page)
            finally:
                browser.close()
        yield Run(net, samples, metrics.samples)


def test_behind_a_2_mbit_cap_the_stream_gets_under_it_within_3_s_and_keeps_25_fps():
    with chromium_watching(Link(cap_mbps=2), rtt_ms=50, seconds=20) as run:
        pass
    target = run.metric(f"reactor_video_bitrate{STREAM}", 3)
    assert 0 < target <= 2_000_000, f"encoder still at {target} bit/s after 3 s"
    sent = run.encoded_mbps(3, 20)
    assert sent <= 2.0, f"{sent:.2f} Mbit/s encoded after 3 s behind a 2 Mbit/s cap"
    seen = window(run.samples, 6, 20)
    assert seen["fps"] >= 25, seen
    assert seen["rtt_ms"] >= 48, seen  # the delay line is on the media path too
    keyframes = run.metric(f"reactor_video_keyframes_total{STREAM}", 20)
    forced = run.metric(f"reactor_video_keyframes_forced_total{STREAM}", 20)
    changes = run.metric(f"reactor_video_rate_changes_total{STREAM}", 20)
    steps = run.metric(f"reactor_video_ladder_steps_total{STREAM}", 20)
    assert changes >= 1
    # Keyframes: the first, those asked for and one per ladder step (the periodic
    # backstop is a minute away); none for a rate change.
    assert keyframes <= 1 + forced + steps, (keyframes, forced, steps, changes)


def test_over_5_percent_loss_at_80_ms_nacked_packets_are_recovered_and_28_fps_hold():
    with chromium_watching(Link(), rtt_ms=80, seconds=20, loss=0.05) as run:
        stats = run.net.link_stats(0)
    assert stats["lost_packets"] > 100, stats  # the loss really happened
    share = stats["lost_packets"] / (stats["lost_packets"] + stats["sent_packets"])
    assert 0.02 <= share <= 0.09, stats
    whole = window(run.samples, 0, 20)
    assert whole["retransmitted"] >= 0.9 * whole["lost"], whole
    nacked = run.metric("reactor_rtp_nacked_total", 20)
    missed = run.metric("reactor_rtp_missed_total", 20)
    assert nacked > 0 and missed <= 0.1 * nacked, (nacked, missed)
    seen = window(run.samples, 4, 20)
    assert seen["fps"] >= 28, seen


def test_once_a_cap_lifts_the_send_side_estimate_probes_back_above_4_mbit_within_10_s():
    lift = 10
    with chromium_watching(
        Link(cap_mbps=2), rtt_ms=50, seconds=lift + 11, later={lift: {"cap_mbps": 20}}
    ) as run:
        pass
    # Chromium offers transport-cc: the estimate is ours, from its feedback.
    assert run.metric("reactor_rtp_transport_feedbacks_total", lift) > 50
    assert run.metric("reactor_rtp_probe_packets_total", lift + 10) > 0
    capped = run.metric(f"reactor_video_bitrate{STREAM}", lift)
    assert 0 < capped <= 2_000_000, f"encoder at {capped} bit/s behind the 2 Mbit/s cap"
    lifted = max(run.metric(f"reactor_video_bitrate{STREAM}", lift + s) for s in range(11))
    assert lifted >= 4_000_000, f"encoder at most {lifted} bit/s within 10 s of the lift"
    seen = window(run.samples, lift, lift + 10)
    assert seen["fps"] >= 25, seen
    keyframes = run.metric(f"reactor_video_keyframes_total{STREAM}", lift + 10)
    forced = run.metric(f"reactor_video_keyframes_forced_total{STREAM}", lift + 10)
    steps = run.metric(f"reactor_video_ladder_steps_total{STREAM}", lift + 10)
    assert keyframes <= 1 + forced + steps, (keyframes, forced, steps)
