"""The shaped network does what it says, and a viewer behind it still gets pictures.

The harness (`e2e.shaped`, `e2e.netprobe`, `e2e.netstats`) puts the runtime and the
viewer in separate namespaces joined through a router that caps, loses and delays
packets. These tests pin the harness itself with UDP probes (the round trip, the
loss share, the cap and a change of cap during a run), then run the runtime and
headless Chromium across it: a capped case and a lossy case, ~15 s each, asserting
what holds today. The adaptive targets of the runtime (issue 10) are asserted in
one line each on the same figures (`netstats.window`) once rate control exists;
the long scenarios are `bench/network.py`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from client.served import CONFORMANCE_MODEL
from e2e.netns import CHROMIUM_PATH
from e2e.netprobe import median, udp_blast, udp_rtt
from e2e.netstats import CHROMIUM_SAMPLER, MetricsSampler, chromium_samples, window
from e2e.shaped import Link, ShapedNetwork, shaped_network

ENCODED = "reactor_video_encoded_bytes_total{codec=vp8,track=main_video}"


@dataclass
class Watched:
    """What one Chromium viewer and the runtime reported over a run."""

    net: ShapedNetwork
    samples: list[dict[str, Any]]
    metrics: list[dict[str, float]]

    def sent_mbps(self, start_s: float) -> float:
        """The runtime's encoded video rate from `start_s` after the first /metrics read."""
        t0 = self.metrics[0]["t"]
        inside = [m for m in self.metrics if m["t"] - t0 >= start_s * 1000 and ENCODED in m]
        a, b = inside[0], inside[-1]
        return (b[ENCODED] - a[ENCODED]) * 8 / ((b["t"] - a["t"]) / 1000) / 1e6


@contextmanager
def chromium_watching(
    link: Link, rtt_ms: float, seconds: float, **connected: Any
) -> Iterator[Watched]:
    """The conformance model served behind `link`, watched `seconds` by Chromium's page.

    `connected` holds `Link` fields to change once the page is connected (lossy
    handshakes retry on timers of a second or more, which a short test cannot afford).
    """
    if not os.access(CHROMIUM_PATH, os.X_OK):
        pytest.skip(f"{CHROMIUM_PATH} is absent (apt-get install -y chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    from web.viewer import launch, serve

    with shaped_network([link], rtt_ms=rtt_ms) as net, sync_api.sync_playwright() as pw:
        server = serve(net.server, str(CONFORMANCE_MODEL))
        with MetricsSampler(net.server.name, server.origin) as metrics:
            browser = launch(pw, net.viewers[0], [server.origin])
            try:
                context = browser.new_context()
                context.add_init_script(CHROMIUM_SAMPLER)
                page = context.new_page()
                page.goto(server.origin + "/")
                page.wait_for_function(
                    "() => window.reactorPage?.connection.state === 'connected'", timeout=20_000
                )
                if connected:
                    net.shape(0, **connected)
                page.wait_for_function(
                    f"() => (window.netSamples || []).length > {seconds}", timeout=seconds * 2000
                )
                samples = chromium_samples(page)
            finally:
                browser.close()
        yield Watched(net, samples, metrics.samples)


def test_the_delay_line_adds_the_round_trip_both_ways():
    with shaped_network([Link()], rtt_ms=40) as net:
        rtts = udp_rtt(net, count=20)
        counters = net.stop_delay_line()
    assert len(rtts) == 20
    assert 40 <= median(rtts) <= 46, rtts
    assert counters["delayed"] >= 40 and counters["dropped"] == 0, counters


def test_the_loss_filter_drops_about_the_share_asked_and_counts_it():
    with shaped_network([Link(loss=0.05)]) as net:
        probe = udp_blast(net, 0, mbps=10, seconds=3)
        stats = net.link_stats(0)
    assert probe["sent"] > 3000
    assert 0.03 <= probe["loss"] <= 0.07, probe
    assert stats["lost_packets"] == probe["sent"] - probe["received"], (stats, probe)


def test_the_cap_holds_and_follows_a_change_during_the_run():
    with shaped_network([Link(cap_mbps=4)]) as net:
        before = udp_blast(net, 0, mbps=8, seconds=2)
        net.shape(0, cap_mbps=1)
        during = udp_blast(net, 0, mbps=2, seconds=2)
        net.shape(0, cap_mbps=4)
        after = udp_blast(net, 0, mbps=8, seconds=2)
        overflow = net.link_stats(0)["overflow_packets"]
    # UDP payload only: the cap also carries 28 bytes of headers per 1200.
    assert 3.4 <= before["received_mbps"] <= 4.0, before
    assert 0.85 <= during["received_mbps"] <= 1.0, during
    assert 3.4 <= after["received_mbps"] <= 4.0, after
    assert overflow > 0


def test_chromium_behind_a_capped_delayed_link_gets_at_most_the_cap_and_still_decodes():
    cap = 0.2  # under the runtime's 300 kbit/s floor (--min-bitrate): the cap still bites
    with chromium_watching(Link(cap_mbps=cap), rtt_ms=50, seconds=12) as run:
        overflow = run.net.link_stats(0)["overflow_packets"]
    seen = window(run.samples, 3, 12)
    assert seen["rtt_ms"] >= 48, seen  # the delay line is on the media path too
    assert seen["mbps"] <= cap, seen
    assert run.sent_mbps(3) > cap * 1.1  # the runtime sends more: the cap really bites
    assert overflow > 0
    assert run.samples[-1]["framesDecoded"] > 0


def test_chromium_over_a_lossy_link_asks_for_retransmissions_and_keeps_decoding():
    with chromium_watching(Link(), rtt_ms=20, seconds=12, loss=0.05) as run:
        stats = run.net.link_stats(0)
    seen = window(run.samples, 2, 12)
    share = stats["lost_packets"] / (stats["lost_packets"] + stats["sent_packets"])
    assert 0.02 <= share <= 0.09, stats
    assert seen["nacks"] > 0 and seen["retransmitted"] > 0, seen
    assert window(run.samples, 7, 12)["fps"] > 0, seen
