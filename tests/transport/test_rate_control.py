"""Rate decisions on a clock the test moves; the flags and metrics that expose them."""

from __future__ import annotations

import argparse
import re

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.registry import Collector
from transport.fake_clock import Clock

from reactor_runtime.server.factories import default_transport
from reactor_runtime.server.metrics import media_metrics
from reactor_runtime.server.rate_options import add_arguments, from_args, parse_bitrate
from reactor_runtime.transport.rate_control import (
    DEFAULT_MAX_BITRATE,
    DEFAULT_MIN_BITRATE,
    DOWN_INTERVAL,
    UP_INTERVAL,
    StreamRate,
    ViewerEstimate,
)


def test_a_viewer_estimate_is_its_remb_cut_by_heavy_loss_and_regrown_by_light_loss():
    clock = Clock()
    viewer = ViewerEstimate(clock)
    assert viewer.value is None, "no feedback, no opinion"
    viewer.on_remb(3_000_000)
    assert viewer.value == 3_000_000
    viewer.on_report(lost=0, highest=1000, sending=3_000_000)
    clock.now += 1
    viewer.on_report(lost=5, highest=1100, sending=3_000_000)
    assert viewer.fraction_lost == 0.05 and viewer.value == 3_000_000, "2-10 % loss holds"
    clock.now += 0.5
    viewer.on_report(lost=95, highest=1200, sending=3_000_000)
    assert viewer.fraction_lost == 0.05, "judged over a second, not per report"
    clock.now += 0.5
    viewer.on_report(lost=45, highest=1300, sending=3_000_000)
    assert viewer.fraction_lost == 0.2 and viewer.value == 2_700_000, "20 %: rate * (1 - 0.1)"
    clock.now += 1
    viewer.on_report(lost=45, highest=1310, sending=2_700_000)
    assert viewer.fraction_lost == 0.2, "10 packets are too few to judge"
    viewer.on_report(lost=45, highest=1400, sending=2_700_000)
    assert viewer.value == int(2_700_000 * 1.08)
    for n in range(3):
        clock.now += 1
        viewer.on_report(lost=45, highest=1500 + 100 * n, sending=2_900_000)
    assert viewer.loss_bound is None and viewer.value == 3_000_000, "back under REMB alone"


def test_a_stream_follows_its_slowest_viewer_at_most_every_200_ms_down_and_1_s_up():
    clock = Clock()
    stream = StreamRate(clock)
    fast, slow = ViewerEstimate(clock), ViewerEstimate(clock)
    stream.add(fast)
    stream.add(slow)
    assert stream.decide(2_500_000, 300_000, 8_000_000) is None, "nobody has said anything"
    fast.on_remb(6_000_000)
    slow.on_remb(1_000_000)
    assert stream.decide(2_500_000, 300_000, 8_000_000) == 1_000_000
    slow.on_remb(800_000)
    clock.now += DOWN_INTERVAL / 2
    assert stream.decide(1_000_000, 300_000, 8_000_000) is None, "too soon to cut again"
    clock.now += DOWN_INTERVAL / 2 + 0.001
    assert stream.decide(1_000_000, 300_000, 8_000_000) == 800_000
    stream.discard(slow)
    clock.now += UP_INTERVAL / 2
    assert stream.decide(800_000, 300_000, 8_000_000) is None, "too soon to rise"
    clock.now += UP_INTERVAL / 2 + 0.001
    assert stream.decide(800_000, 300_000, 5_000_000) == 5_000_000, "clamped to the ceiling"
    fast.on_remb(100_000)
    clock.now += DOWN_INTERVAL + 0.001
    assert stream.decide(5_000_000, 300_000, 5_000_000) == 300_000, "clamped to the floor"
    assert (stream.decreases, stream.increases) == (3, 1)
    fast.on_remb(310_000)
    clock.now += UP_INTERVAL + 0.001
    assert stream.decide(300_000, 300_000, 5_000_000) is None, "a 3 % change is not worth it"


def test_the_bitrate_flags_reach_the_hub_and_a_bad_value_names_the_flag(session):
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    options = from_args(parser.parse_args(["--min-bitrate", "500k", "--max-bitrate", "4.5M"]))
    assert options == {"min_bitrate": 500_000, "max_bitrate": 4_500_000, "transport_cc": True}
    assert from_args(parser.parse_args(["--bandwidth-estimate", "remb"])) == {
        "min_bitrate": DEFAULT_MIN_BITRATE,
        "max_bitrate": DEFAULT_MAX_BITRATE,
        "transport_cc": False,
    }
    options.pop("transport_cc")
    _, make_hub = default_transport("vp8", {}, options)
    hub = make_hub(session)
    assert (hub.min_bitrate, hub.max_bitrate) == (500_000, 4_500_000)
    with pytest.raises(ValueError, match=r"--min-bitrate \(5000000\).*--max-bitrate \(4000000\)"):
        from_args(parser.parse_args(["--min-bitrate", "5M", "--max-bitrate", "4M"]))
    with pytest.raises(argparse.ArgumentTypeError, match=r"300k or 2\.5M, got 'fast'"):
        parse_bitrate("fast")


async def test_metrics_show_each_streams_rate_and_the_loss_recovery_counters(
    hub, make_peer, make_client
):
    client = make_client(outputs=(("main_video", "video"),), labels=())
    await client.connect(make_peer())
    await client.wait_frames("main_video", 5)
    registry = CollectorRegistry()

    class Media(Collector):
        def collect(self):
            return media_metrics(hub.stats())

    registry.register(Media())
    text = generate_latest(registry).decode()
    assert re.search(r'reactor_video_bitrate\{codec="vp8",track="main_video"\} \d', text)
    assert 'reactor_video_keyframe_requests_total{codec="vp8",track="main_video"} 1.0' in text
    assert 'reactor_video_scale{codec="vp8",track="main_video"} 1.0' in text
    for name in ("nacked", "retransmitted", "missed", "throttled", "keyframe_requests", "rembs"):
        assert f"reactor_rtp_{name}_total " in text
