"""A/V sync measured at headless Chromium, against a floor taken in the same page and run.

The test model (`models/avsync`) flashes white and clicks at the same media time once
a second, emitting batches of 3 frames. One `reactor run` per audio variant (48 kHz
mono, a resampled 16 kHz track, stereo) serves it inside a private network; one
Chromium page watches all three plus the floor, an in-page Chromium-to-Chromium
loopback of a locally made flash/click stream, with the same detectors (see
`avsync_page/`). The floor starts 20 s before the runtimes are first connected and
keeps running (its own lip-sync loop starts 80-90 ms off and steps down slowly, for
a minute or more); after a 20 s warm-up
(Chromium's lip-sync loop settles in 13-20 s), each probe collects 15 flash/click pairs. Our skew (click minus flash, p50) must be
within 20 ms of the floor's, and must not drift: the median of the window's second
half may differ from the first half's by 10 ms at most.

Drift is judged on the skew minus what Chromium's lip-sync loop itself reports left
uncorrected (`estimatedPlayoutTimestamp`, video minus audio), or minus the floor's
drift over the same window, whichever is smaller: the loop corrects in steps of one
display refresh (16.7 ms) well after 20 s, and such a step moves both, while a sender
drifting against its own timestamps moves only the measured skew.

The floor is corrected by its own sender's labelling, measured in the same run: the
page also sends the floor's tracks to an aiortc peer that maps each flash and click
through the floor's RTCP sender reports (`avsync_page/labels.py`); what a receiver
plays late because of those labels alone (Opus look-ahead, the flash drawn on the
audio thread's 10 ms block) is taken out, so the floor reads as a perfect sender.

Chromium's lip-sync loop stops correcting inside a ±30 ms dead band, and each
stream's flash lands on a 16.7 ms display refresh at a phase fixed for the
connection, so one connection's skew is one draw from a spread of ±20 ms. When one
connection's figures miss a bound, the page reconnects to the runtimes (fresh
connections, fresh loops) and the bounds apply to the median over up to five connections: a sender that
is really off misses on every one. The variants share each measurement (one
warm-up); each asserts on its own.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import pytest
from e2e.avsync_page import harness
from e2e.netns import CHROMIUM_PATH, private_network

# The floor this test compares against moves 10-60 ms between runs on a shared machine
# (Chromium's own lip-sync loop), so a sound sender still misses the 20 ms bound about
# one run in five; the default suite pins sync on the wire (transport/test_rtcp_sync.py).
pytestmark = pytest.mark.skipif(
    os.environ.get("REACTOR_AVSYNC") != "1",
    reason="Chromium A/V sync against a moving floor: run with REACTOR_AVSYNC=1 "
    "(or python bench/avsync.py)",
)

WARMUP_S = 20.0
PAIRS = 15
COLLECT_TIMEOUT_S = 45.0
MAX_ATTEMPTS = 5
MAX_DELTA_MS = 20.0
MAX_DRIFT_MS = 10.0


def _drift(row: dict[str, Any], floor: dict[str, Any]) -> float:
    """Our drift, corrected for what Chromium itself moved.

    Two corrections, either of which a sender really drifting against its own
    timestamps fails: the lip-sync residual Chromium reports (`settled_drift`), and
    the floor's drift over the same window (a playout step of one display refresh
    often moves every stream in the page at once, which the residual misses).
    """
    candidates = [row["drift"] - floor["drift"]]
    if row.get("settled_drift") is not None:
        candidates.append(row["settled_drift"])
    return min(candidates, key=abs)


def _within(row: dict[str, Any], floor: dict[str, Any]) -> bool:
    return abs(row["delta"]) <= MAX_DELTA_MS and abs(_drift(row, floor)) <= MAX_DRIFT_MS


@pytest.fixture(scope="module")
def measured() -> dict[str, Any]:
    """The measurement of all variants and the floor, printed for the record."""
    if not os.access(CHROMIUM_PATH, os.X_OK):
        pytest.skip(f"{CHROMIUM_PATH} is absent (apt-get install -y chromium)")
    pytest.importorskip("playwright.sync_api")
    started = time.monotonic()
    attempts: list[dict[str, Any]] = []
    with private_network() as net, harness.stage(net) as (runtimes, page):
        while True:
            report, seconds = harness.measure(page, runtimes, WARMUP_S, PAIRS, COLLECT_TIMEOUT_S)
            attempts.append(report)
            print(f"\nconnection {len(attempts)} ({seconds:.0f} s of pairs): {json.dumps(report)}")
            combined = harness.combine(attempts)
            if len(attempts) == MAX_ATTEMPTS or all(
                _within(combined[v], combined["floor"]) for v in harness.VARIANTS
            ):
                break
        health = page.health(runtimes)
        errors = list(page.errors)
    record = {
        "skew_ms": combined,
        "server": health,
        "load_avg": [round(x, 2) for x in os.getloadavg()],
        "runtime_s": round(time.monotonic() - started, 1),
    }
    print(
        "\nA/V sync (ms; skew = click - flash; delta = ours p50 - floor p50; "
        f"median over connections):\n{json.dumps(record, indent=1)}"
    )
    assert not errors, f"page errors: {errors}"
    return record


@pytest.mark.parametrize("variant", harness.VARIANTS)
def test_skew_at_chromium_matches_a_chromium_sender_and_does_not_drift(measured, variant):
    ours = measured["skew_ms"][variant]
    floor = measured["skew_ms"]["floor"]
    assert abs(ours["delta"]) <= MAX_DELTA_MS, (
        f"{variant}: skew p50 {ours['p50']} ms vs floor {floor['p50']} ms "
        f"(delta {ours['delta']} ms, allowed ±{MAX_DELTA_MS})"
    )
    assert abs(_drift(ours, floor)) <= MAX_DRIFT_MS, (
        f"{variant}: skew drifted {_drift(ours, floor)} ms between the halves of the window "
        f"(as measured: {ours['drift']} ms; floor: {floor['drift']} ms)"
    )
    assert measured["server"][variant]["video_encoded"], "the runtime encoded video"
