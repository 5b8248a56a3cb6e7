"""Per-second samples of what a viewer sees (Chromium's getStats) and what the runtime counts.

- `CHROMIUM_SAMPLER`: a page init script (``context.add_init_script``) that records every
  `RTCPeerConnection` the page makes and, each second, appends one flat sample of its
  ``getStats()`` to ``window.netSamples`` (wall-clock ms ``t``; video ``inbound-rtp``
  counters: frames decoded/dropped, freezes, bytes, packets lost, NACK/PLI/FIR sent,
  retransmitted packets, frame size, jitter, jitter buffer delay; the nominated
  candidate pair's RTT and incoming bitrate estimate). Works under any page: the
  runtime's own, or one that runs the official JS SDK. `chromium_samples` reads them.
- `MetricsSampler`: a thread inside the server's namespace that reads the runtime's
  ``/metrics`` each second into flat ``{"name{labels}": value}`` samples.
- `window` and `rates`: the figures a test asserts in one line, e.g.
  ``window(samples, 10, 20)["fps"] >= 25``.
"""

from __future__ import annotations

import itertools
import threading
import time
import urllib.request
from typing import Any

from e2e.netprobe import start_in
from prometheus_client.parser import text_string_to_metric_families

SAMPLE_PERIOD = 1.0
"""Seconds between samples, in the page and in `MetricsSampler`."""

_SAMPLER = """(() => {
  const Native = window.RTCPeerConnection;
  const pcs = (window.netPeers = []);
  window.netSamples = [];
  window.RTCPeerConnection = class extends Native {
    constructor(...args) { super(...args); pcs.push(this); }
  };
  const VIDEO = ["framesDecoded", "framesReceived", "framesDropped", "keyFramesDecoded",
    "framesPerSecond", "freezeCount", "totalFreezesDuration", "pauseCount", "bytesReceived",
    "packetsReceived", "packetsLost", "nackCount", "pliCount", "firCount",
    "retransmittedPacketsReceived", "retransmittedBytesReceived", "frameWidth", "frameHeight",
    "jitter", "jitterBufferDelay", "jitterBufferTargetDelay", "jitterBufferMinimumDelay",
    "jitterBufferEmittedCount", "totalInterFrameDelay", "totalSquaredInterFrameDelay",
    "totalDecodeTime", "totalProcessingDelay", "totalAssemblyTime", "framesAssembledFromMultiplePackets"];
  const sample = async () => {
    for (const [index, pc] of pcs.entries()) {
      if (pc.connectionState === "closed") continue;
      const s = { t: Date.now(), pc: index };
      for (const r of (await pc.getStats()).values()) {
        if (r.type === "inbound-rtp" && r.kind === "video") {
          for (const k of VIDEO) if (r[k] !== undefined) s[k] = r[k];
        } else if (r.type === "inbound-rtp" && r.kind === "audio") {
          s.audioPacketsLost = r.packetsLost;
          s.audioPacketsReceived = r.packetsReceived;
          s.audioConcealedSamples = r.concealedSamples;
          s.audioJitterBufferDelay = r.jitterBufferDelay;
          s.audioJitterBufferEmittedCount = r.jitterBufferEmittedCount;
        } else if (r.type === "candidate-pair" && r.nominated && r.state === "succeeded") {
          s.rtt = r.currentRoundTripTime;
          s.availableIncomingBitrate = r.availableIncomingBitrate;
        }
      }
      window.netSamples.push(s);
    }
  };
  setInterval(sample, PERIOD_MS);
})();"""


def chromium_sampler(period: float = SAMPLE_PERIOD) -> str:
    """`CHROMIUM_SAMPLER` sampling every `period` seconds (finer traces: 0.1)."""
    return _SAMPLER.replace("PERIOD_MS", str(round(period * 1000)))


CHROMIUM_SAMPLER = chromium_sampler()


def chromium_samples(page: Any, pc: int = 0) -> list[dict[str, Any]]:
    """The samples of peer connection `pc` recorded so far in `page` (Playwright page)."""
    return [s for s in page.evaluate("window.netSamples || []") if s.get("pc") == pc]


class MetricsSampler:
    """Reads ``{origin}/metrics`` every `SAMPLE_PERIOD` from inside `namespace`.

    Attributes:
        samples: ``{"t": epoch ms, "reactor_x{label=...}": value, ...}`` per read.
        errors: Reads that failed (the runtime starting or stopping), counted.
    """

    def __init__(self, namespace: str, origin: str) -> None:
        self.namespace, self.origin = namespace, origin
        self.samples: list[dict[str, float]] = []
        self.errors = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> MetricsSampler:
        self._thread = start_in(self.namespace, self._loop)
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                with urllib.request.urlopen(f"{self.origin}/metrics", timeout=3) as reply:
                    text = reply.read().decode()
            except OSError:
                self.errors += 1
            else:
                self.samples.append({"t": time.time() * 1000, **parse_metrics(text)})
            self._stop.wait(SAMPLE_PERIOD)


def parse_metrics(text: str) -> dict[str, float]:
    """Prometheus text -> ``{"name{k=v,...}": value}`` (labels sorted; none: just the name)."""
    flat: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            flat[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return flat


def window(samples: list[dict[str, Any]], start_s: float, end_s: float) -> dict[str, Any]:
    """Figures of Chromium samples between `start_s` and `end_s` after the first sample.

    Returns:
        ``seconds``, ``fps`` (frames decoded per second), ``mbps`` (video bytes
        received), ``freezes`` and ``freeze_s`` (ended in the window), ``nacks``,
        ``plis``, ``keyframes`` (decoded), ``lost`` and ``retransmitted`` packets,
        ``rtt_ms`` (last), ``jitter_buffer_ms`` (mean delay of the frames emitted in
        the window), ``size`` (last ``WxH``). Empty if fewer than 2 samples fall inside.
    """
    if not samples:
        return {}
    t0 = samples[0]["t"]
    inside = [s for s in samples if start_s * 1000 <= s["t"] - t0 <= end_s * 1000]
    if len(inside) < 2:
        return {}
    a, b = inside[0], inside[-1]
    seconds = (b["t"] - a["t"]) / 1000

    def delta(key: str) -> float:
        return (b.get(key) or 0) - (a.get(key) or 0)

    emitted = delta("jitterBufferEmittedCount")
    return {
        "seconds": seconds,
        "fps": delta("framesDecoded") / seconds,
        "mbps": delta("bytesReceived") * 8 / seconds / 1e6,
        "freezes": delta("freezeCount"),
        "freeze_s": delta("totalFreezesDuration"),
        "nacks": delta("nackCount"),
        "plis": delta("pliCount"),
        "keyframes": delta("keyFramesDecoded"),
        "lost": delta("packetsLost"),
        "retransmitted": delta("retransmittedPacketsReceived"),
        "rtt_ms": 1000 * b["rtt"] if b.get("rtt") is not None else None,
        "jitter_buffer_ms": 1000 * delta("jitterBufferDelay") / emitted if emitted else None,
        "size": f"{b.get('frameWidth')}x{b.get('frameHeight')}",
    }


def rates(samples: list[dict[str, Any]], key: str) -> list[float]:
    """Per-interval rate of counter `key` (per second) between consecutive samples."""
    out = []
    for a, b in itertools.pairwise(samples):
        seconds = (b["t"] - a["t"]) / 1000
        if seconds > 0 and key in a and key in b:
            out.append((b[key] - a[key]) / seconds)
    return out


class PythonViewer:
    """Our own client (`reactor_runtime.client`) watching from inside `namespace`.

    It runs its own asyncio loop on a thread inside the namespace (`start_in`), so its
    sockets are the namespace's; each `SAMPLE_PERIOD` it appends the video track's
    counters to `samples`: ``{"t": epoch ms, "frames", "packets", "bytes"}`` (bytes
    are RTP payload bytes). `error` holds what stopped it early, if anything.
    """

    def __init__(self, namespace: str, url: str, track: str = "main_video") -> None:
        self.namespace, self.url, self.track = namespace, url, track
        self.samples: list[dict[str, float]] = []
        self.error: BaseException | None = None
        self.connected = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> PythonViewer:
        self._thread = start_in(self.namespace, self._main)
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(15)

    def _main(self) -> None:
        import asyncio

        try:
            asyncio.run(self._watch())
        except BaseException as exc:
            self.error = exc
            self.connected.set()  # wake a waiter: it checks `error`

    async def _watch(self) -> None:
        import asyncio

        from reactor_runtime.client import connect

        async with connect(self.url, audio=False) as session:
            frames = session.video(self.track)
            self.connected.set()

            async def drain() -> None:
                while True:
                    await frames.next()

            drainer = asyncio.ensure_future(drain())
            try:
                while not self._stop.is_set():
                    counters = (await session.stats()).get(self.track, {})
                    sample = {k: counters.get(k, 0) for k in ("frames", "packets", "bytes")}
                    self.samples.append({"t": time.time() * 1000, **sample})
                    await asyncio.sleep(SAMPLE_PERIOD)
            finally:
                drainer.cancel()
