"""Measure A/V skew at headless Chromium: our runtime's against a floor taken in the same page.

Everything runs inside one private network namespace (`e2e.netns`): one `reactor run`
per audio variant of the test model (`tests/e2e/models/avsync`, variant picked by
`AVSYNC_AUDIO`) on 10.77.0.1:8080, 8081, ..., and one Chromium page that connects to
all of them with the flat v0 routes and also runs the floor (an in-page
Chromium-to-Chromium loopback of a locally made flash/click stream). The page is
served by Playwright itself (`page.route`) under the first runtime's origin, which
Chromium treats as secure (AudioWorklet needs a secure context).

Skew is click time minus flash time of one flash/click pair, in ms (positive: audio
after video). FACTS.md: even a perfect sender reads about +45 ms this way, and
Chromium's lip-sync loop needs 13-20 s to settle, hence the floor and the warm-up.

Used by `tests/e2e/test_avsync.py` and `bench/avsync.py`.
"""

from __future__ import annotations

import bisect
import contextlib
import os
import queue
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from e2e.netns import CHROMIUM_ARGS, CHROMIUM_PATH, PrivateNetwork

PAGE_DIR = Path(__file__).resolve().parent
MODEL_DIR = PAGE_DIR.parent / "models" / "avsync"
VARIANTS = ("mono", "16k", "stereo")
FIRST_PORT = 8080
START_TIMEOUT = 30.0
LABEL_PORT = 8090
FLOOR_HEAD_START_S = 20.0
"""Seconds the floor runs before the runtimes are connected.

The floor's lip-sync loop starts far off (its canvas frames and worklet audio reach
the loopback with very different delays: 80-90 ms of skew at first) and Chromium
corrects that one display refresh (16.7 ms) at a time, still stepping 20-30 s after
connecting, while our streams settle within the warm-up. Measured from the same
start, the floor then reads high and wide (p5-p95 often 30-40 ms against ours
under 1 ms) and the difference biases Δ negative by ~10 ms; the head start lets the
reference settle before it is used.
"""
MIN_LABEL_PAIRS = 5
"""Flash/click pairs the label receiver must map before the floor is corrected by them."""
PAIR_WINDOW_MS = 400.0
"""A click belongs to the flash it is nearest to, if within this (flashes are 1 s apart)."""
CONTENT_TYPES = {".html": "text/html", ".js": "text/javascript"}


BASELINE_LAUNCHER = (
    sys.executable,
    "-c",
    "import sys; import reactor_runtime.transport.peer as peer; "
    "peer.sync_sender = lambda *args: None; "
    "from reactor_runtime.cli import main; sys.exit(main(sys.argv[1:]))",
)
"""Runs the runtime with aiortc's own sender reports (`rtcp_sync` disabled): the baseline."""


@dataclass(frozen=True)
class RuntimeSpec:
    """One runtime to start: its probe label, model audio variant and launcher argv.

    An empty `launcher` means `python -m reactor_runtime.cli`; the `run ...`
    arguments follow it, then `args` (more `reactor run` flags).
    """

    label: str
    variant: str
    launcher: tuple[str, ...] = ()
    args: tuple[str, ...] = ()


@dataclass
class Runtime:
    """One `reactor run` of the avsync model inside the namespace."""

    label: str
    origin: str
    process: subprocess.Popen
    output: list[str] = field(default_factory=list)


def specs(
    variants: Sequence[str] = VARIANTS, baseline: bool = False, zero: bool = False
) -> list[RuntimeSpec]:
    """One runtime per variant, plus (with `baseline`) mono on aiortc's sender reports
    and (with `zero`) mono served with ``--playout-delay zero``."""
    out = [RuntimeSpec(v, v) for v in variants]
    if baseline:
        out.append(RuntimeSpec("mono-aiortc-sr", "mono", BASELINE_LAUNCHER))
    if zero:
        out.append(RuntimeSpec("mono-playout-zero", "mono", args=("--playout-delay", "zero")))
    return out


def start_runtimes(net: PrivateNetwork, wanted: Sequence[RuntimeSpec]) -> list[Runtime]:
    """Start the runtimes (ports 8080, 8081, ...) and wait until all of them serve."""
    jobs = []
    for index, spec in enumerate(wanted):
        port = FIRST_PORT + index
        argv = list(spec.launcher) or [sys.executable, "-m", "reactor_runtime.cli"]
        argv += ["run", "--host", net.address, "--port", str(port), str(MODEL_DIR), *spec.args]
        jobs.append((spec.label, port, argv, {"AVSYNC_AUDIO": spec.variant}))
    return _start(net, jobs)


def start_label_receiver(net: PrivateNetwork) -> Runtime:
    """Start `labels.py` (the floor's second receiver, aiortc) on `LABEL_PORT`."""
    argv = [sys.executable, str(PAGE_DIR / "labels.py"), net.address, str(LABEL_PORT)]
    return _start(net, [("labels", LABEL_PORT, argv, {})])[0]


def _start(
    net: PrivateNetwork, jobs: Sequence[tuple[str, int, list[str], dict[str, str]]]
) -> list[Runtime]:
    """Run each `(label, port, argv, extra env)` in `net`; wait until each says "serving"."""
    started: list[Runtime] = []
    ready: queue.Queue[Runtime | None] = queue.Queue()
    for label, port, argv, extra in jobs:
        env = {**os.environ, **extra, "PYTHONUNBUFFERED": "1"}
        process = net.popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        )
        runtime = Runtime(label, f"http://{net.address}:{port}", process)
        started.append(runtime)
        # Drain the pipe for the whole run: a full pipe would block the server's logging.
        threading.Thread(target=_pump, args=(runtime, ready), daemon=True).start()
    deadline = time.monotonic() + START_TIMEOUT
    for _ in started:
        try:
            runtime = ready.get(timeout=max(deadline - time.monotonic(), 0.01))
        except queue.Empty:
            runtime = None
        if runtime is None:
            logs = "\n".join(f"[{r.label}] {''.join(r.output)}" for r in started)
            raise AssertionError(f"not all of them started within {START_TIMEOUT} s:\n{logs}")
    return started


def _pump(runtime: Runtime, ready: queue.Queue[Runtime | None]) -> None:
    assert runtime.process.stdout is not None
    announced = False
    for line in runtime.process.stdout:
        runtime.output.append(line)
        if not announced and "serving" in line:
            announced = True
            ready.put(runtime)
    if not announced:
        ready.put(None)


def launch(playwright: Any, net: PrivateNetwork, origins: Sequence[str]) -> Any:
    """Headless Chromium inside `net`: autoplay allowed, `origins` treated as secure."""
    return playwright.chromium.launch(
        executable_path=net.wrap_executable(CHROMIUM_PATH),
        headless=True,
        args=[
            *CHROMIUM_ARGS,
            "--autoplay-policy=no-user-gesture-required",
            f"--unsafely-treat-insecure-origin-as-secure={','.join(origins)}",
        ],
    )


class ProbePage:
    """The measuring page (`avsync_page/`), served under `origin` by Playwright."""

    def __init__(self, browser: Any, origin: str) -> None:
        """Open the page in a fresh context of `browser`."""
        # Chromium's Local Network Access checks refuse cross-port fetches among the
        # runtimes (all on 10.77.0.1) unless the page holds this permission.
        self.context = browser.new_context(
            viewport={"width": 800, "height": 400}, permissions=["local-network-access"]
        )
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on(
            "console", lambda m: m.type == "error" and self.errors.append(f"console: {m.text}")
        )
        self.url = f"{origin}/avsync/index.html"
        self.label_receiver: Runtime | None = None
        self.floor_started = False
        self.page.route(f"{origin}/avsync/**", _serve_page_file)

    def start(
        self,
        runtimes: Sequence[Runtime],
        labels: Runtime | None = None,
        floor_head_start: float = 0.0,
    ) -> None:
        """Connect afresh to every runtime; the first time, load the page and start the floor.

        Each call gives every runtime probe a fresh connection, with a new lip-sync loop
        in Chromium. The floor is started once, with the page, and keeps running (it is
        the reference; the longer it has settled the better). With `labels`, the floor's
        tracks also go to that label receiver. The first connection to the runtimes is
        made `floor_head_start` seconds after the floor started (see
        `FLOOR_HEAD_START_S`).
        """
        if not self.floor_started:
            self.page.goto(self.url)
            self.page.wait_for_function("window.avsync !== undefined", timeout=10_000)
            self.page.evaluate("avsync.startFloor()")
            if labels is not None:
                self.page.evaluate("(base) => avsync.labelFloor(base)", labels.origin)
            self.floor_started = True
            self.page.wait_for_timeout(floor_head_start * 1000)
        probes = [{"label": r.label, "base": r.origin} for r in runtimes]
        self.page.evaluate("(runtimes) => avsync.connect(runtimes)", probes)

    def labels(self, labels: Runtime) -> dict[str, Any]:
        """What the label receiver mapped so far (see `labels.py`)."""
        fetch = "async (base) => (await fetch(base + '/labels', { cache: 'no-store' })).json()"
        return self.page.evaluate(fetch, labels.origin)

    def now(self) -> float:
        """The page's `performance.now()` (ms)."""
        return float(self.page.evaluate("performance.now()"))

    def wait_pairs(self, since: float, count: int, timeout: float) -> None:
        """Wait until every probe has `count` flashes and clicks after `since` (page ms)."""
        check = """([since, count]) => {
          const probes = Object.values(avsync.probes);
          return probes.length > 0 && probes.every((p) =>
            p.flashes.filter((f) => f.t > since).length >= count &&
            p.clicks.filter((c) => c.t > since).length >= count);
        }"""
        try:
            self.page.wait_for_function(check, arg=[since, count], timeout=timeout * 1000)
        except Exception as exc:
            seen = {
                label: (r["state"], r["frames"], len(r["flashes"]), len(r["clicks"]))
                for label, r in self.results().items()
            }
            raise AssertionError(
                f"not {count} flash/click pairs per probe within {timeout} s "
                f"(state, frames, flashes, clicks: {seen}; page errors: {self.errors})"
            ) from exc

    def results(self) -> dict[str, Any]:
        """Every probe's flashes and clicks so far."""
        return self.page.evaluate("avsync.results()")

    def stats(self) -> dict[str, Any]:
        """Every probe's inbound-rtp stats."""
        return self.page.evaluate("avsync.stats()")

    def health(self, runtimes: Sequence[Runtime]) -> dict[str, Any]:
        """Each runtime's media counters from `/health` (video encoded/skipped, audio)."""
        fetch = "async (base) => (await fetch(base + '/health', { cache: 'no-store' })).json()"
        out = {}
        for runtime in runtimes:
            media = self.page.evaluate(fetch, runtime.origin).get("media") or {}
            video = media.get("video", {}).get("main_video", {})
            audio = media.get("audio", {}).get("main_audio", {})
            out[runtime.label] = {
                "video_encoded": video.get("encoded"),
                "video_skipped": video.get("skipped"),
                "encode_ms": video.get("encode_ms"),
                "audio_silence_samples": audio.get("silence_samples"),
            }
        return out

    def close(self) -> None:
        """Close the page and its context."""
        self.context.close()


def _serve_page_file(route: Any) -> None:
    name = route.request.url.split("/avsync/", 1)[1].split("?", 1)[0]
    path = (PAGE_DIR / name).resolve()
    if path.parent != PAGE_DIR or not path.is_file() or path.suffix not in CONTENT_TYPES:
        route.fulfill(status=404, body="not found")
        return
    route.fulfill(status=200, body=path.read_bytes(), content_type=CONTENT_TYPES[path.suffix])


def pair_skews(probe: dict[str, Any], since: float, until: float) -> list[tuple[float, float]]:
    """(flash time, click - flash) in ms for each flash in [since, until) with a click."""
    clicks = [c["t"] for c in probe["clicks"]]
    pairs = []
    for flash in probe["flashes"]:
        t = flash["t"]
        if not since <= t < until or not clicks:
            continue
        nearest = min(clicks, key=lambda c: abs(c - t))
        if abs(nearest - t) <= PAIR_WINDOW_MS:
            pairs.append((t, nearest - t))
    return pairs


def summarize(pairs: Sequence[tuple[float, float]]) -> dict[str, float]:
    """p5/p50/p95 of the skew, and its drift: second-half median minus first-half median.

    Also the least-squares slope of skew over time (ms per minute).
    """
    skews = [s for _, s in pairs]
    if len(skews) < 4:
        raise AssertionError(f"only {len(skews)} flash/click pairs: too few to summarize")
    half = len(skews) // 2
    times = [t / 60_000 for t, _ in pairs]
    mean_t, mean_s = statistics.fmean(times), statistics.fmean(skews)
    spread = sum((t - mean_t) ** 2 for t in times)
    slope = sum((t - mean_t) * (s - mean_s) for t, s in zip(times, skews, strict=True)) / spread
    return {
        **percentiles(skews),
        "drift": round(statistics.median(skews[half:]) - statistics.median(skews[:half]), 1),
        "slope_ms_per_min": round(slope, 2),
    }


def percentiles(values: Sequence[float]) -> dict[str, float]:
    """`pairs` (the count), p5, p50 and p95 of `values`, in ms to 0.1."""
    cuts = statistics.quantiles(values, n=20, method="inclusive")
    return {
        "pairs": len(values),
        "p5": round(cuts[0], 1),
        "p50": round(statistics.median(values), 1),
        "p95": round(cuts[-1], 1),
    }


def chromium_residual(probe: dict[str, Any], since: float, until: float) -> float | None:
    """Median video-minus-audio playout time Chromium itself reports for a probe (ms).

    From `estimatedPlayoutTimestamp` of the probe's inbound video and audio, sampled
    once a second: what Chromium's lip-sync loop has left uncorrected, as Chromium sees
    it (its loop stops inside a ±30 ms dead band). None if Chromium did not report it.
    """
    values = [s["residual"] for s in probe.get("sync", []) if since <= s["t"] < until]
    return round(statistics.median(values), 1) if values else None


def settle(
    probe: dict[str, Any], pairs: Sequence[tuple[float, float]]
) -> list[tuple[float, float]] | None:
    """Each pair's skew minus Chromium's residual sampled nearest to it (within 1.5 s).

    Chromium's lip-sync loop corrects in discrete steps (one display refresh, 16.7 ms,
    at a time); each step shows in the measured skew *and* in its own residual, so the
    difference stays flat. A sender whose media drifts against its timestamps moves
    the measured skew but not Chromium's account, so the difference keeps that drift.
    None when Chromium reported too little.
    """
    samples = sorted((s["t"], s["residual"]) for s in probe.get("sync", []))
    times = [t for t, _ in samples]
    settled = []
    for t, skew in pairs:
        i = bisect.bisect_left(times, t)
        near = [samples[k] for k in (i - 1, i) if 0 <= k < len(samples)]
        if not near:
            return None
        at, residual = min(near, key=lambda sample: abs(sample[0] - t))
        if abs(at - t) > 1500:
            return None
        settled.append((t, skew - residual))
    return settled


def label_lag(labels: dict[str, Any]) -> dict[str, Any]:
    """The floor sender's click label minus flash label per pair (ms), from `labels.py`.

    A receiver plays each track by its labels, so this is how much later the floor's
    click plays than its flash *because of how Chromium labels them*: a perfect sender
    reads 0. Raises if too few pairs were mapped to trust the median.
    """
    clicks = labels.get("clicks", [])
    lags = []
    for flash in labels.get("flashes", []):
        if not clicks:
            break
        nearest = min(clicks, key=lambda c: abs(c - flash))
        if abs(nearest - flash) * 1000 <= PAIR_WINDOW_MS:
            lags.append((nearest - flash) * 1000)
    if len(lags) < MIN_LABEL_PAIRS:
        raise AssertionError(
            f"the label receiver mapped {len(lags)} flash/click pairs of the floor, "
            f"expected >= {MIN_LABEL_PAIRS} (reports: {labels.get('reports')})"
        )
    return percentiles(lags)


def compare(
    results: dict[str, Any], since: float, until: float, lag: dict[str, Any]
) -> dict[str, Any]:
    """Per probe: its skew summary; for runtimes also `delta`, their p50 minus the floor's.

    The floor's skews are first corrected by its own label lag (`label_lag`, p50), so
    the floor reads as a perfect sender would. Each probe also gets Chromium's
    `residual` (`chromium_residual`) and, from the `settle`d skews, `settled_p50` and
    `settled_drift`: the skew and drift with the lip-sync loop's own corrections taken
    out. `settled_delta` is ours minus the floor's on that footing.
    """
    report: dict[str, Any] = {}
    for label, probe in results.items():
        pairs = pair_skews(probe, since, until)
        if label == "floor":
            pairs = [(t, s - lag["p50"]) for t, s in pairs]
        row: dict[str, Any] = summarize(pairs)
        row["residual"] = chromium_residual(probe, since, until)
        settled = settle(probe, pairs)
        summary = summarize(settled) if settled else None
        row["settled_p50"] = summary and summary["p50"]
        row["settled_drift"] = summary and summary["drift"]
        report[label] = row
    floor = report["floor"]
    floor["label_lag"] = lag
    floor["label_lag_ms"] = lag["p50"]
    for label, row in report.items():
        if label == "floor":
            continue
        row["delta"] = round(row["p50"] - floor["p50"], 1)
        both = (row["settled_p50"], floor["settled_p50"])
        row["settled_delta"] = None if None in both else round(both[0] - both[1], 1)
    return report


def combine(attempts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The median over attempts of each probe's p50, delta and drift.

    Chromium's lip-sync loop leaves each connection anywhere inside its ±30 ms dead
    band, so one connection's skew is one draw from that band; the median of a few
    independent connections is the steadier estimate.
    """
    out: dict[str, Any] = {}
    for label in attempts[0]:
        rows = [a[label] for a in attempts]
        out[label] = {
            key: round(statistics.median(r[key] for r in rows), 1)
            for key in (
                "p50",
                "p95",
                "drift",
                "settled_drift",
                "delta",
                "residual",
                "settled_delta",
                "label_lag_ms",
            )
            if all(r.get(key) is not None for r in rows)
        }
        out[label]["attempts"] = len(rows)
    return out


@contextlib.contextmanager
def stage(
    net: PrivateNetwork, wanted: Sequence[RuntimeSpec] | None = None
) -> Iterator[tuple[list[Runtime], ProbePage]]:
    """The `wanted` runtimes (default: one per variant) and a probe page (not started).

    The label receiver (`labels.py`) runs too, as `page.label_receiver`.
    """
    from playwright.sync_api import sync_playwright

    runtimes = start_runtimes(net, specs() if wanted is None else wanted)
    label_receiver = start_label_receiver(net)
    with sync_playwright() as playwright:
        browser = launch(playwright, net, [r.origin for r in runtimes])
        page = ProbePage(browser, runtimes[0].origin)
        page.label_receiver = label_receiver
        try:
            yield runtimes, page
        finally:
            page.close()
            browser.close()


def measure(
    page: ProbePage, runtimes: Sequence[Runtime], warmup: float, pairs: int, timeout: float
) -> tuple[dict[str, Any], float]:
    """Connect afresh, warm up, collect `pairs` flash/click pairs per probe.

    The warm-up is a measurement requirement (Chromium's lip-sync settles in 13-20 s),
    not a wait for readiness: readiness (media flowing, detectors firing) is waited on
    first, as a condition.

    Returns:
        The `compare` report and the length of the collection window in seconds.
    """
    page.start(runtimes, page.label_receiver, FLOOR_HEAD_START_S)
    page.wait_pairs(0.0, 1, timeout=30.0)
    page.page.wait_for_timeout(warmup * 1000)
    since = page.now()
    page.wait_pairs(since, pairs, timeout=timeout)
    until = page.now()
    lag = label_lag(page.labels(page.label_receiver))
    return compare(page.results(), since, until, lag), (until - since) / 1000
