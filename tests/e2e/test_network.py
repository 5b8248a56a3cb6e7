"""The shaped network does what it says: round trip, loss share, cap and cap changes.

The harness (`e2e.shaped`, `e2e.netprobe`, `e2e.netstats`) puts the runtime and the
viewer in separate namespaces joined through a router that caps, loses and delays
packets. These tests pin the harness itself with UDP probes. Chromium behind a
capped and behind a lossy link, and what the runtime's adaptation achieves there,
are `test_network_adaptation.py`; the long scenarios are `bench/network.py`.
"""

from __future__ import annotations

from e2e.netprobe import median, udp_blast, udp_rtt
from e2e.shaped import Link, shaped_network


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
