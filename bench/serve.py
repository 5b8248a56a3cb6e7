"""Serving benchmark: `reactor run` streaming a textured test pattern to a receiver.

    python bench/serve.py                 # every size x codec with our client, then the
                                          # official Python SDK at 720p VP8 (namespace)
    python bench/serve.py --quick         # shorter windows
    python bench/serve.py --only 1280x720/vp8 --no-sdk

For each case (512x512 and 1280x720 at 30 fps; VP8 and H.264 via `--video-codec`) a
fresh `reactor run` serves `BenchModel`, which emits a panning fractal-noise texture
(1/f spectrum like natural images, plus hard-edged shapes) at 30 fps in real time.
Each picture carries its frame id as a row of 32 black/white 16x16 blocks (24-bit id,
8-bit check), and the model logs `id emit_time` to a file. The receiver reads the id
back from each decoded picture, so it measures, over a window after a warm-up:

- received fps, and emit -> decoded latency p50/p95 (same machine: one wall clock);
- the server process's CPU (% of one core, from /proc/<pid>/stat, all its threads);
- video bitrate (encoder output bytes from /health; our client also counts RTP bytes);
- luma PSNR of received pictures against the regenerated source (median, 5th pct).

Receivers: our `reactor_runtime.client` on 127.0.0.1, and the official Python SDK
(libwebrtc) inside a private network namespace (10.77.0.1), whose raw-frame callback
gives BGRA; its luma is recomputed (BT.601) from that, so its PSNR is a slight
underestimate. Results go to bench/results/serve.json and a table on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import numpy as np

from reactor_runtime import Audio, Output, ReactorModel, Video

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
FPS = 30
PAN = 256
"""The picture pans over a texture this many pixels larger than it, back and forth."""
BLOCK = 16
BITS = 32
SIZES = ((512, 512), (1280, 720))
CODECS = ("vp8", "h264")
SAMPLE_EVERY = 3
"""Every n-th received picture is kept for PSNR (computed after the window)."""


# --------------------------------------------------------------------------- the pattern


def make_texture(width: int, height: int, seed: int = 7) -> np.ndarray:
    """A deterministic (height + PAN, width + PAN, 3) uint8 texture.

    Fractal value noise with equal amplitude in every octave from 256 px cells down to
    4 px (the 1/f amplitude spectrum of natural images: equal energy per octave), a
    half-amplitude 2 px "grain" octave, in colour, plus flat shapes with hard edges.
    Offline, our VP8 settings code it at 38.8 dB luma PSNR at 0.7 Mbit/s (720p), about
    the difficulty of the pattern FACTS.md quotes (38.9 dB at 0.68 Mbit/s).
    """
    rng = np.random.default_rng(seed)
    h, w = height + PAN, width + PAN
    out = np.zeros((h, w, 3), np.float32)
    for cell in (256, 128, 64, 32, 16, 8, 4, 2):
        small = rng.integers(0, 256, (h // cell + 2, w // cell + 2, 3), dtype=np.uint8)
        frame = av.VideoFrame.from_ndarray(small, format="rgb24")
        big = frame.reformat(
            width=(w // cell + 2) * cell, height=(h // cell + 2) * cell, interpolation="BICUBIC"
        ).to_ndarray()[:h, :w]
        out += (big.astype(np.float32) - 128) * (0.5 if cell == 2 else 1.0)
    out = 128 + out * (90 / np.abs(out).max())
    y, x = np.mgrid[0:h, 0:w]
    for _ in range(40):
        cx, cy, r = rng.integers(0, w), rng.integers(0, h), rng.integers(10, 80)
        colour = rng.integers(30, 226, 3)
        mask = (
            (x - cx) ** 2 + (y - cy) ** 2 < r * r
            if rng.random() < 0.5
            else ((abs(x - cx) < r) & (abs(y - cy) < r // 2))
        )
        out[mask] = colour
    return np.clip(out, 16, 235).astype(np.uint8)


def _triangle(x: int, period: int) -> int:
    return period - abs(period - x % (2 * period))


def source_frame(texture: np.ndarray, fid: int, width: int, height: int) -> np.ndarray:
    """The picture with id `fid`: a window of `texture`, with the id stamped on top."""
    dx, dy = _triangle(fid * 4, PAN), _triangle(fid * 2, PAN)
    picture = texture[dy : dy + height, dx : dx + width].copy()
    stamp(picture, fid)
    return picture


def _check(fid: int) -> int:
    return (fid * 151 + 89) & 0xFF


def stamp(picture: np.ndarray, fid: int) -> None:
    """Write `fid` (24 bits) and its check (8 bits) as 32 black/white blocks, row 0."""
    word = (fid & 0xFFFFFF) << 8 | _check(fid & 0xFFFFFF)
    for bit in range(BITS):
        on = word >> (BITS - 1 - bit) & 1
        picture[:BLOCK, bit * BLOCK : (bit + 1) * BLOCK] = 255 if on else 0


def read_stamp(gray: np.ndarray) -> int | None:
    """The frame id in a received (H, W) luma-like picture, or None if unreadable."""
    centres = gray[4 : BLOCK - 4, : BITS * BLOCK].reshape(BLOCK - 8, BITS, BLOCK)[:, :, 4:-4]
    bits = centres.mean(axis=(0, 2)) > 128
    word = int("".join("1" if b else "0" for b in bits), 2)
    fid = word >> 8
    return fid if _check(fid) == word & 0xFF else None


def source_luma(texture: np.ndarray, fid: int, width: int, height: int) -> np.ndarray:
    """The Y plane the server's encoder got for `fid` (the same swscale conversion)."""
    rgb = source_frame(texture, fid, width, height)
    yuv = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
    return yuv.to_ndarray()[:height]


def bgra_luma(bgra: np.ndarray) -> np.ndarray:
    """BT.601 limited-range luma of a (H, W, 4) BGRA picture."""
    b, g, r = (bgra[..., i].astype(np.float32) for i in range(3))
    return np.clip(16 + (65.738 * r + 129.057 * g + 25.064 * b) / 256, 0, 255)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio (dB) of two pictures of the same size."""
    mse = float(np.mean((a.astype(np.float32) - b.astype(np.float32)) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(255 * 255 / mse)


# --------------------------------------------------------------------------- the model


class BenchOutput(Output):
    main_video: Video
    main_audio: Audio


class BenchModel(ReactorModel):
    """Emits the pattern at `fps` in real time, logging `id emit_time` per picture."""

    fps = FPS
    output_type = BenchOutput

    def load(self, config: dict) -> None:
        self.texture = np.load(config["texture"])
        self.width, self.height = int(config["width"]), int(config["height"])
        self.log = open(config["emit_log"], "a", buffering=1)  # noqa: SIM115 - lives with the model
        self.fid = 0

    def output(self, picture: np.ndarray, samples: int) -> Output:
        t = (self.fid * samples + np.arange(samples)) / 48_000
        tone = (np.sin(2 * np.pi * 440 * t) * 6000).astype(np.int16)[np.newaxis]
        return BenchOutput(main_video=picture, main_audio=tone)

    async def run(self) -> None:
        samples = 48_000 // FPS
        while True:
            await self.connected.wait()
            started, k = time.monotonic(), 0
            while self.connected.is_set():
                delay = started + k / FPS - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                await self.emit_next(samples)
                k += 1

    async def emit_next(self, samples: int) -> None:
        """Render, log (`id emit_time depth`) and emit the next frame with `samples` audio."""
        picture = source_frame(self.texture, self.fid, self.width, self.height)
        depth = self.output_buffer.depth
        self.log.write(f"{self.fid} {time.time():.6f} {depth}\n")
        await self.emit(self.output(picture, samples))
        self.fid += 1


class VideoOnlyOutput(Output):
    main_video: Video


class VideoOnlyModel(BenchModel):
    """`BenchModel` without an audio track (a receiver then has nothing to lip-sync to)."""

    output_type = VideoOnlyOutput

    def output(self, picture: np.ndarray, samples: int) -> Output:
        return VideoOnlyOutput(main_video=picture)


def write_model_dir(
    root: Path, width: int, height: int, video_only: bool = False
) -> tuple[Path, Path]:
    """A model directory serving the bench model at `width` x `height`; (dir, emit log)."""
    root.mkdir(parents=True, exist_ok=True)
    texture = root / "texture.npy"
    np.save(texture, make_texture(width, height))
    emit_log = root / "emits.txt"
    (root / "bench_model.py").write_text(
        f"import sys\nsys.path.insert(0, {str(BENCH)!r})\n"
        "from serve import BenchModel, VideoOnlyModel  # noqa: F401\n"
    )
    model = "VideoOnlyModel" if video_only else "BenchModel"
    (root / "reactor.yaml").write_text(
        f"model: bench_model:{model}\nname: bench\nconfig: config.yml\n"
    )
    config = {"texture": str(texture), "width": width, "height": height, "emit_log": str(emit_log)}
    (root / "config.yml").write_text(json.dumps(config))
    return root, emit_log


# --------------------------------------------------------------------------- measuring


def machine_ticks() -> tuple[int, int]:
    """(idle, total) jiffies of all cores since boot (from /proc/stat)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return values[3] + values[4], sum(values)


def machine_idle(seconds: float = 1.0) -> float:
    """Percent of all cores idle over `seconds`."""
    idle0, total0 = machine_ticks()
    time.sleep(seconds)
    idle1, total1 = machine_ticks()
    return 100 * (idle1 - idle0) / max(1, total1 - total0)


def wait_quiet(limit: float, timeout: float) -> float:
    """Wait (up to `timeout` s) until the machine is at least `limit` % idle; returns idle %."""
    deadline = time.monotonic() + timeout
    idle = machine_idle()
    while idle < limit and time.monotonic() < deadline:
        print(f"  machine only {idle:.0f} % idle; waiting", file=sys.stderr, flush=True)
        idle = machine_idle(2.0)
    return idle


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process `pid`, all threads (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def get_health(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{url}/health", timeout=5) as response:
        return json.loads(response.read())


def encoded_bytes(health: dict[str, Any]) -> int:
    video = (health.get("media") or {}).get("video", {}).get("main_video", {})
    return int(sum(video.get("bytes", {}).values()))


class Window:
    """Server-side counters at the start and end of the measured window."""

    def __init__(self, url: str, pid: int) -> None:
        self.url, self.pid = url, pid

    def start(self) -> None:
        self.ticks0 = machine_ticks()
        self.t0, self.cpu0 = time.monotonic(), cpu_seconds(self.pid)
        self.bytes0 = encoded_bytes(get_health(self.url))

    def stop(self) -> dict[str, Any]:
        t1, cpu1 = time.monotonic(), cpu_seconds(self.pid)
        idle1, total1 = machine_ticks()
        health = get_health(self.url)
        seconds = t1 - self.t0
        video = (health.get("media") or {}).get("video", {}).get("main_video", {})
        return {
            "seconds": seconds,
            "server_cpu_pct": 100 * (cpu1 - self.cpu0) / seconds,
            # Everything on the machine, in % of one core (2 cores: 200 % is saturated).
            "machine_busy_pct": (os.cpu_count() or 1)
            * 100
            * (1 - (idle1 - self.ticks0[0]) / max(1, total1 - self.ticks0[1])),
            "bitrate_mbps": (encoded_bytes(health) - self.bytes0) * 8 / seconds / 1e6,
            "encoder": {k: video.get(k) for k in ("encode_ms", "convert_ms", "skipped")},
        }


def pacer_wait(
    records: list[tuple[int | None, float, float | None]], emits: dict[int, float]
) -> list[float]:
    """Per frame, how long (ms) it waited for its slot in the server's pacer.

    The RTP timestamps (`pts`, seconds) follow the pacer's release schedule exactly,
    re-anchors after underruns included, so `pts - emit` is the release time minus the
    emit time plus one constant. A frame that arrives late is released at once, so the
    smallest value of the window is (about) zero wait; the rest is measured from it.
    """
    offsets = [pts - emits[f] for f, _, pts in records if f in emits and pts is not None]
    if not offsets:
        return []
    floor = min(offsets)
    return [1000 * (o - floor) for o in offsets]


def summarise(
    records: list[tuple[int | None, float, float | None]], emit_log: Path, psnrs: list[float]
) -> dict[str, Any]:
    emits, depths = read_emits(emit_log)
    known = [(f, t, p) for f, t, p in records if f is not None and f in emits]
    latencies = [1000 * (t - emits[f]) for f, t, _ in known]
    waits = pacer_wait(known, emits) if all(p is not None for *_, p in known) else []
    ids = [f for f, *_ in records if f is not None]

    def pct(values: list[float], q: float) -> float | None:
        return round(float(np.percentile(values, q)), 2) if values else None

    after = [lat - wait for lat, wait in zip(latencies, waits, strict=False)]
    return {
        "pacer_wait_ms": {"p50": pct(waits, 50), "p95": pct(waits, 95)},
        "release_to_decoded_ms": {"p50": pct(after, 50), "p95": pct(after, 95)},
        "frames": len(records),
        "unreadable_ids": sum(f is None for f, *_ in records),
        "lost_ids": (max(ids) - min(ids) + 1 - len(set(ids))) if ids else None,
        "latency_ms": {"p50": pct(latencies, 50), "p95": pct(latencies, 95), "n": len(latencies)},
        "buffer_depth_at_emit": round(statistics.fmean(depths[f] for f in ids if f in depths), 2)
        if ids
        else None,
        "psnr_db": {
            "median": pct(psnrs, 50),
            "p5": pct(psnrs, 5),
            "min": round(min(psnrs), 2) if psnrs else None,
            "n": len(psnrs),
        },
    }


def read_emits(path: Path) -> tuple[dict[int, float], dict[int, int]]:
    """`{id: emit time}` and `{id: output buffer depth just before that emit}`."""
    emits: dict[int, float] = {}
    depths: dict[int, int] = {}
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 3:
            emits[int(parts[0])] = float(parts[1])
            depths[int(parts[0])] = int(parts[2])
    return emits, depths


async def client_receive(url: str, pid: int, model_dir: Path, opts: argparse.Namespace) -> dict:
    """Receive with our client on loopback; returns the case's figures."""
    from reactor_runtime.client import connect

    config = json.loads((model_dir / "config.yml").read_text())
    width, height = config["width"], config["height"]
    window = Window(url, pid)
    records: list[tuple[int | None, float, float | None]] = []
    kept: list[tuple[int, np.ndarray]] = []
    async with connect(url) as session:
        frames = session.video()
        warm_until = time.monotonic() + opts.warmup
        while time.monotonic() < warm_until:
            await frames.next(timeout=10)
        await asyncio.to_thread(window.start)
        before = await session.stats()
        client_cpu0 = time.process_time()
        end = time.monotonic() + opts.window
        while time.monotonic() < end:
            frame = await frames.next(timeout=10)
            fid = read_stamp(frame.luma)
            records.append((fid, frame.received_at, frame.pts))
            if fid is not None and len(records) % SAMPLE_EVERY == 0:
                kept.append((fid, frame.luma.copy()))
        server = await asyncio.to_thread(window.stop)
        client_cpu = time.process_time() - client_cpu0
        after = await session.stats()
    video0, video1 = before["main_video"], after["main_video"]
    texture = np.load(config["texture"])
    psnrs = [psnr(luma, source_luma(texture, fid, width, height)) for fid, luma in kept]
    result = summarise(records, Path(config["emit_log"]), psnrs)
    result.update(server)
    result["fps"] = (video1["frames"] - video0["frames"]) / server["seconds"]
    result["rtp_mbps"] = (video1["bytes"] - video0["bytes"]) * 8 / server["seconds"] / 1e6
    result["receiver_cpu_pct"] = 100 * client_cpu / server["seconds"]
    result["dropped_by_reader"] = frames.dropped
    return result


def sdk_receive(url: str, pid: int, model_dir: Path, opts: argparse.Namespace) -> dict:
    """Receive with the official Python SDK (run inside the namespace)."""
    from reactor_sdk import Reactor

    config = json.loads((model_dir / "config.yml").read_text())
    width, height = config["width"], config["height"]
    lock = threading.Lock()
    state = {"measuring": False, "frames": 0}
    records: list[tuple[int | None, float, float | None]] = []
    kept: list[tuple[int, np.ndarray]] = []

    def on_video(bgra: Any, w: int, h: int, *_meta: Any) -> None:
        now = time.time()
        picture = np.frombuffer(bgra, np.uint8).reshape(h, w, 4)
        with lock:
            state["frames"] += 1
            if not state["measuring"]:
                return
            fid = read_stamp(picture[..., 1])
            records.append((fid, now, None))
            if fid is not None and len(records) % SAMPLE_EVERY == 0:
                kept.append((fid, picture.copy()))

    async def run() -> dict[str, Any]:
        reactor = Reactor("local", local=True, api_url=url)
        await asyncio.wait_for(reactor.connect(), 30)
        reactor.track("main_video").on_raw_frame(on_video)
        window = Window(url, pid)
        try:
            await asyncio.sleep(opts.warmup)
            window.start()
            with lock:
                state["measuring"], frames0 = True, state["frames"]
            await asyncio.sleep(opts.window)
            with lock:
                state["measuring"], frames1 = False, state["frames"]
            server = window.stop()
        finally:
            await reactor.disconnect()
        server["fps"] = (frames1 - frames0) / server["seconds"]
        return server

    server = asyncio.run(run())
    texture = np.load(config["texture"])
    psnrs = [
        psnr(bgra_luma(p[:height, :width]), source_luma(texture, fid, width, height))
        for fid, p in kept
    ]
    result = summarise(records, Path(config["emit_log"]), psnrs)
    result.update(server)
    return result


# --------------------------------------------------------------------------- driving


PLAYOUT_DELAY_OFF = (
    "import sys\n"
    "import reactor_runtime.transport.peer as peer\n"
    "peer.negotiate_playout_delay = lambda plan, transceivers, *args: []\n"
    "print('bench: playout-delay negotiation off', file=sys.stderr)\n"
)
"""A sitecustomize for the served runtime: answer no playout-delay (the A/B "before")."""


@contextlib.contextmanager
def playout_delay_env(enabled: bool) -> Iterator[list[str]]:
    """An argv prefix (``env PYTHONPATH=...``) serving the runtime without playout-delay.

    Yields ``[]`` when `enabled` (the runtime's own behaviour: answered when offered).
    """
    if enabled:
        yield []
        return
    with tempfile.TemporaryDirectory(prefix="bench-no-playout-") as tmp:
        (Path(tmp) / "sitecustomize.py").write_text(PLAYOUT_DELAY_OFF)
        paths = [tmp, *filter(None, [os.environ.get("PYTHONPATH")])]
        yield ["env", f"PYTHONPATH={os.pathsep.join(paths)}"]


def run_case(width: int, height: int, codec: str, opts: argparse.Namespace, sdk: bool) -> dict:
    sys.path.insert(0, str(REPO / "tests"))
    from client.served import reactor_run

    idle = wait_quiet(opts.quiet, opts.quiet_timeout)
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        model_dir, _ = write_model_dir(Path(tmp) / "model", width, height, opts.video_only)
        args = ("--video-codec", codec)
        if not sdk:
            with reactor_run(model_dir, *args) as served:
                pid = served.process.pid
                result = asyncio.run(client_receive(served.url, pid, model_dir, opts))
        else:
            from e2e.netns import private_network

            with (
                private_network() as net,
                playout_delay_env(opts.playout_delay == "on") as env,
                reactor_run(
                    model_dir, *args, host=net.address, prefix=[*net.exec_prefix, *env]
                ) as served,
            ):
                argv = [sys.executable, str(Path(__file__).resolve()), "--sdk-receive"]
                argv += [served.url, str(served.process.pid), str(model_dir)]
                argv += ["--warmup", str(opts.warmup), "--window", str(opts.window)]
                done = net.run(argv, timeout=opts.warmup + opts.window + 60, capture_output=True)
                lines = [ln for ln in done.stdout.decode().splitlines() if ln.startswith("{")]
                if not lines:
                    raise RuntimeError(f"SDK receiver failed:\n{done.stderr.decode()[-3000:]}")
                result = json.loads(lines[-1])
    result.update(
        size=f"{width}x{height}",
        codec=codec,
        receiver=("reactor-sdk 1.13.0" if sdk else "ours")
        + (" (no audio)" * opts.video_only)
        + (" (no playout-delay)" * (sdk and opts.playout_delay == "off")),
        playout_delay=opts.playout_delay if sdk else "not offered",
        idle_before_pct=round(idle, 1),
    )
    return result


def sdk_unavailable() -> str | None:
    """Why the official-SDK receiver cannot run here, or None."""
    sys.path.insert(0, str(REPO / "tests"))
    from e2e.netns import unavailable_reason
    from e2e.sdk_clients import py_client_missing

    return unavailable_reason() or py_client_missing()


SUMMARY_KEYS = {
    "fps": ("fps",),
    "p50_ms": ("latency_ms", "p50"),
    "p95_ms": ("latency_ms", "p95"),
    "pacer_wait_p50_ms": ("pacer_wait_ms", "p50"),
    "release_to_decoded_p50_ms": ("release_to_decoded_ms", "p50"),
    "server_cpu_pct": ("server_cpu_pct",),
    "bitrate_mbps": ("bitrate_mbps",),
    "psnr_median_db": ("psnr_db", "median"),
    "psnr_p5_db": ("psnr_db", "p5"),
    "machine_busy_pct": ("machine_busy_pct",),
}


def summarise_runs(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One case's figures: the median over its runs of each headline number."""

    def get(run: dict[str, Any], path: tuple[str, ...]) -> Any:
        for key in path:
            run = run.get(key) if isinstance(run, dict) else None  # type: ignore[assignment]
        return run

    summary: dict[str, Any] = {k: runs[0][k] for k in ("receiver", "size", "codec")}
    summary["runs"] = len(runs)
    for name, path in SUMMARY_KEYS.items():
        values = [v for v in (get(r, path) for r in runs) if v is not None]
        summary[name] = round(statistics.median(values), 2) if values else None
    return summary


def table(summaries: list[dict[str, Any]]) -> str:
    """The summaries as a text table (medians over runs)."""
    columns = (
        ("receiver", "receiver", 30, "s"),
        ("size", "size", 10, "s"),
        ("codec", "codec", 6, "s"),
        ("fps", "fps", 6, ".1f"),
        ("p50ms", "p50_ms", 7, ".1f"),
        ("p95ms", "p95_ms", 7, ".1f"),
        ("wait", "pacer_wait_p50_ms", 6, ".1f"),
        ("rel>dec", "release_to_decoded_p50_ms", 8, ".1f"),
        ("cpu%", "server_cpu_pct", 6, ".1f"),
        ("Mbit/s", "bitrate_mbps", 7, ".2f"),
        ("PSNR", "psnr_median_db", 6, ".1f"),
        ("p5", "psnr_p5_db", 6, ".1f"),
    )
    head = "".join(
        f"{title:<{width}}" if fmt == "s" and key == "receiver" else f"{title:>{width}}"
        for title, key, width, fmt in columns
    )
    rows = [head, "-" * len(head)]
    for summary in summaries:
        cells = []
        for _, key, width, fmt in columns:
            value = summary.get(key)
            if value is None:
                cells.append(f"{'-':>{width}}")
            elif fmt == "s":
                cells.append(f"{value:<{width}}" if key == "receiver" else f"{value:>{width}}")
            else:
                cells.append(f"{value:>{width}{fmt}}")
        rows.append("".join(cells))
    return "\n".join(rows)


def machine() -> dict[str, Any]:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    import aiortc

    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "aiortc": aiortc.__version__,
        "av": av.__version__,
        "kernel": platform.release(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 s warm-up, 5 s windows")
    parser.add_argument("--warmup", type=float, default=4.0)
    parser.add_argument("--window", type=float, default=10.0)
    parser.add_argument("--repeat", type=int, default=3, help="runs per case (median)")
    parser.add_argument("--only", action="append", help="WxH/codec, e.g. 1280x720/vp8")
    parser.add_argument(
        "--quiet", type=float, default=90.0, help="idle %% to wait for before each case"
    )
    parser.add_argument("--quiet-timeout", type=float, default=300.0)
    parser.add_argument(
        "--video-only", action="store_true", help="serve no audio track (lip-sync diagnosis)"
    )
    parser.add_argument("--no-sdk", action="store_true", help="skip the official-SDK receiver")
    parser.add_argument("--sdk-only", action="store_true")
    parser.add_argument(
        "--playout-delay",
        choices=("on", "off"),
        default="on",
        help="off: the runtime answers no playout-delay to the SDK (A/B; ours never offers it)",
    )
    parser.add_argument("--out", default=str(BENCH / "results" / "serve.json"))
    parser.add_argument(
        "--sdk-receive", nargs=3, metavar=("URL", "PID", "DIR"), help=argparse.SUPPRESS
    )
    opts = parser.parse_args()
    if opts.quick:
        opts.warmup, opts.window = 2.0, 5.0
    if opts.sdk_receive:
        url, pid, model_dir = opts.sdk_receive
        print(json.dumps(sdk_receive(url, int(pid), Path(model_dir), opts)), flush=True)
        return 0
    cases = [(w, h, c) for w, h in SIZES for c in CODECS]
    if opts.only:
        cases = [(w, h, c) for w, h, c in cases if f"{w}x{h}/{c}" in opts.only]
    plan = [] if opts.sdk_only else [(*case, False) for case in cases]
    if not opts.no_sdk:
        reason = sdk_unavailable()
        if reason:
            print(f"official SDK receiver skipped: {reason}", file=sys.stderr)
        else:
            # The official Python SDK offers no H.264 (WIRE.md §3.6): VP8 only.
            plan += [(*case, True) for case in cases if case[2] == "vp8"]
    runs: list[dict[str, Any]] = []
    summaries = []
    for width, height, codec, sdk in plan:
        case_runs = []
        for n in range(opts.repeat):
            who = "sdk" if sdk else "ours"
            print(f"{who}: {width}x{height} {codec} run {n + 1}", file=sys.stderr, flush=True)
            case_runs.append(run_case(width, height, codec, opts, sdk=sdk))
        runs += case_runs
        summaries.append(summarise_runs(case_runs))
    print(table(summaries))
    document = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": machine(),
        "warmup_s": opts.warmup,
        "window_s": opts.window,
        "repeat": opts.repeat,
        "summary": summaries,
        "runs": runs,
    }
    Path(opts.out).parent.mkdir(parents=True, exist_ok=True)
    Path(opts.out).write_text(json.dumps(document, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
