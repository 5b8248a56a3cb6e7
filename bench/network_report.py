"""The figures of `network.py`'s runs against issue 10's targets: medians, table rows.

`summarise` reduces a scenario's runs (viewer 0, and viewer 1 of `two_viewers`) to
medians and derived figures (steady sent rate, p95 growth, freezes per minute, p95
over the reference); `rows` prints them next to `TARGETS`. The per-run figures
(`freeze_gaps`, `first_run_under`, `first_above`, and the runtime's per-second
`sent_series`/`gauge_series` read from /metrics samples) live here too, used by
`network.py`'s `run_once` and `viewer_figures`.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Iterable
from typing import Any

ENCODED = "reactor_video_encoded_bytes_total"
FREEZE_S = 0.183
"""A gap between presented frames longer than this is a freeze: WebRTC stats' rule,
max(3 x frame duration, frame duration + 150 ms), at 30 fps."""

# (scenario, figure key, target as printed, check) — issue 10, item 5.
TARGETS: list[tuple[str, str, str, Any]] = [
    ("cap2", "under_cap_s", "<= 3 s", lambda v: v is not None and v <= 3),
    ("cap2", "steady_sent_mbps", "1.5-1.9", lambda v: 1.5 <= v <= 1.9),
    ("cap2", "p95_over_reference_ms", "<= 150", lambda v: v <= 150),
    ("cap2", "p95_growth_ms", "~0 (not growing)", lambda v: v <= 30),
    ("cap2", "fps", ">= 25", lambda v: v >= 25),
    ("cap2", "freeze_after_s", "< 1 s", lambda v: v < 1),
    ("steps", "under_cap_s", "<= 3 s", lambda v: v is not None and v <= 3),
    ("steps", "max_freeze_s", "<= 0.5 s", lambda v: v <= 0.5),
    ("steps", "above_4_s", "<= 10 s", lambda v: v is not None and v <= 10),
    ("loss5", "freezes_per_min", "<= 1", lambda v: v <= 1),
    ("loss5", "fps", ">= 28", lambda v: v >= 28),
    ("loss5", "keyframe_requests_per_min", "<= 3", lambda v: v <= 3),
    ("loss5", "recovered_pct", ">= 90 %", lambda v: v is not None and v >= 90),
    ("loss15", "max_freeze_s", "<= 1 s", lambda v: v <= 1),
    ("loss15", "fps", ">= 15", lambda v: v >= 15),
    ("two_viewers", "capped_fps", ">= 15", lambda v: v >= 15),
    ("two_viewers", "capped_p95_growth_ms", "~0 (not growing)", lambda v: v <= 30),
    ("two_viewers", "other_mbps_vs_solo_pct", ">= 80 %", lambda v: v >= 80),
]


def freeze_gaps(gaps: list[float]) -> list[float]:
    """Gaps between presented frames that count as freezes: longer than `FREEZE_S`."""
    return [g for g in gaps if g > FREEZE_S]


def first_run_under(series: list[float], cap: float, since: float, hold: int = 3) -> float | None:
    """Seconds after `since` until `series` (per second) stays <= `cap` for `hold` seconds."""
    start = int(since)
    for i in range(start, len(series) - hold + 1):
        if all(v <= cap for v in series[i : i + hold]):
            return float(i - start)
    return None


def first_above(series: list[float], level: float, since: float) -> float | None:
    """Seconds after `since` until `series` (per second) first exceeds `level`."""
    start = int(since)
    return next((float(i - start) for i in range(start, len(series)) if series[i] > level), None)


def summarise(name: str, runs: list[dict[str, Any]], reference: dict[str, Any] | None) -> dict:
    """The scenario's figures: medians over runs of viewer 0 (and viewer 1 if any)."""

    def med(viewer: int, key: str) -> Any:
        values = [r["viewers"][viewer].get(key) for r in runs]
        values = [v for v in values if v is not None]
        return statistics.median(values) if values else None

    out = {
        key: med(0, key)
        for key in (
            "fps", "mbps", "steady_mbps", "p50_ms", "p95_ms", "freezes", "freeze_s",
            "max_freeze_s", "freeze_after_s", "keyframe_requests_per_min", "recovered_pct",
            "under_cap_s", "above_4_s", "jitter_buffer_ms",
        )
    }  # fmt: skip
    second_half = [
        statistics.mean(r["sent_mbps_per_s"][len(r["sent_mbps_per_s"]) // 2 :]) for r in runs
    ]
    out["steady_sent_mbps"] = statistics.median(second_half)
    out["p95_growth_ms"] = minus(med(0, "p95_second_half_ms"), med(0, "p95_first_half_ms"))
    out["freezes_per_min"] = out["freezes"] * 60 / statistics.median(r["seconds"] for r in runs)
    if reference and out["fps"] >= 1:  # a p95 of a handful of frames says nothing
        out["p95_over_reference_ms"] = minus(out["p95_ms"], reference.get("p95_ms"))
    if name == "two_viewers":
        out["capped_fps"] = out["fps"]  # viewer 0: Chromium behind the 1 Mbit/s cap
        out["capped_p95_ms"] = out["p95_ms"]
        out["capped_p95_growth_ms"] = out["p95_growth_ms"]
        out["other_fps"], out["other_mbps"] = med(1, "fps"), med(1, "mbps")
        out["other_solo_mbps"] = med(1, "solo_mbps")
        if out["other_solo_mbps"]:
            out["other_mbps_vs_solo_pct"] = 100 * out["other_mbps"] / out["other_solo_mbps"]
    out["idle_before_pct"] = [r["idle_before_pct"] for r in runs]
    return out


def summarise_all(
    runs: dict[str, list[dict[str, Any]]], order: Iterable[str]
) -> dict[str, dict[str, Any]]:
    """`summarise` of every scenario with runs, in `order` (the reference first)."""
    summaries: dict[str, dict[str, Any]] = {}
    for name in order:
        if runs.get(name):
            summaries[name] = summarise(name, runs[name], summaries.get("reference"))
    return summaries


def minus(a: float | None, b: float | None) -> float | None:
    """a - b, or None when either is unknown (e.g. no frame was shown in a half)."""
    return None if a is None or b is None else a - b


def rows(summaries: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One table row per (scenario, target), plus the context figures of each scenario."""
    out = []
    for name, s in summaries.items():
        context = (
            f"fps {s['fps']:.1f}, {s['mbps']:.2f} Mbit/s, p50/p95 {s['p50_ms']}/{s['p95_ms']} ms"
        )
        out.append(
            {
                "scenario": name,
                "figure": "(context)",
                "measured": context,
                "target": "",
                "result": "",
            }
        )
        for scenario, key, target, check in TARGETS:
            if scenario != name:
                continue
            value = s.get(key)
            ok = value is not None and check(value)
            measured = (
                "-"
                if value is None
                else (f"{value:.2f}" if isinstance(value, float) else str(value))
            )
            out.append({"scenario": name, "figure": key, "measured": measured, "target": target,
                        "result": "pass" if ok else "FAIL"})  # fmt: skip
    return out


def sent_series(metrics: list[dict[str, float]], start: float, end: float) -> list[float]:
    """The runtime's encoded video Mbit/s, per second of the run (all codecs)."""
    points = [
        (m["t"] / 1000, sum(v for k, v in m.items() if k.startswith(ENCODED)))
        for m in metrics
        if start - 1 <= m["t"] / 1000 <= end + 1
    ]
    return [
        (b - a) * 8 / (tb - ta) / 1e6 for (ta, a), (tb, b) in itertools.pairwise(points) if tb > ta
    ]


def counter_series(metrics: list[dict[str, float]], name: str, start: float, end: float) -> list:
    """How much a counter of the runtime's (summed over its labels) grew, per sample."""
    points = [
        sum(v for k, v in m.items() if k.split("{")[0] == name)
        for m in metrics
        if start - 1 <= m["t"] / 1000 <= end
    ]
    return [round(b - a) for a, b in itertools.pairwise(points)]


def gauge_series(
    metrics: list[dict[str, float]], name: str, start: float, end: float, unit: float = 1e6
) -> list:
    """A gauge of the runtime's (its samples whose name and labels start with `name`,
    summed) in `unit`s (Mbit/s by default), per sample of the run."""
    return [
        round(sum(v for k, v in m.items() if k.startswith(name)) / unit, 2)
        for m in metrics
        if start <= m["t"] / 1000 <= end
    ]
