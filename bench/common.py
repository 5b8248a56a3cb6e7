"""Helpers shared by latency/overhead/command_rtt/fanout/soak (on top of bench/serve.py).

serve.py owns the test pattern (textured, frame id stamped in row 0), `BenchModel`
(emits it at 30 fps in real time and logs `id emit_time depth`), CPU and /health
readers. This module adds what the other benchmarks need besides:

- `LiveModel`: `BenchModel` paced like a camera: it keeps its 30 fps grid and skips
  the slots it missed instead of catching up (see its docstring), so emit -> decoded
  measures the runtime's path, not frames the model chose to queue;
- `CommandModel`: `LiveModel` plus a `mark(level)` command that paints a flat grey
  patch (`PATCH`) into every following picture, for command -> frame round trips;
- `serve()`: a fresh `reactor run` of one of these models at a size and codec;
- process probes (RSS, open fds), percentiles, result files and tables.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
RESULTS = BENCH / "results"
for _path in (BENCH, REPO / "tests"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from client.served import Served, reactor_run  # noqa: E402
from serve import (  # noqa: E402
    FPS,
    BenchModel,
    VideoOnlyOutput,
    Window,
    cpu_seconds,
    get_health,
    machine,
    read_emits,
    read_stamp,
    wait_quiet,
    write_model_dir,
)

from reactor_runtime import event  # noqa: E402

__all__ = [
    "PATCH",
    "BenchModel",
    "CommandModel",
    "LiveModel",
    "LiveVideoOnlyModel",
    "Window",
    "cpu_seconds",
    "get_health",
    "machine",
    "read_emits",
    "read_stamp",
    "wait_quiet",
]

PATCH = (slice(32, 96), slice(0, 64))
"""Rows and columns of the patch `CommandModel.mark` paints (below the id stamp)."""


class LiveModel(BenchModel):
    """`BenchModel` paced like a camera: a 30 fps grid, missed slots skipped.

    `BenchModel` catches up after any delay by emitting back to back; once it is more
    than `buffer_size` frames behind, it waits in `emit` like a model faster than
    `fps`, and from outside that backlog is indistinguishable from backpressure doing
    its job, so it stays (100 ms at 30 fps): the model's queue, not the runtime's
    latency. A camera does not catch up: it skips the frames it missed. The pacer
    meets such a model's phase (its frames wait ~3 ms for their slot).
    """

    async def run(self) -> None:
        samples = 48_000 // FPS
        while True:
            await self.connected.wait()
            start = time.monotonic()
            slot = 0
            while self.connected.is_set():
                slot = max(slot, math.ceil((time.monotonic() - start) * FPS - 1e-6))
                delay = start + slot / FPS - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                await self.emit_next(samples)
                slot += 1


class LiveVideoOnlyModel(LiveModel):
    """`LiveModel` without an audio track."""

    output_type = VideoOnlyOutput

    def output(self, picture: np.ndarray, samples: int) -> Any:
        return VideoOnlyOutput(main_video=picture)


class CommandModel(LiveModel):
    """`LiveModel` whose `mark(level)` command paints `PATCH` flat grey `level`."""

    def load(self, config: dict) -> None:
        super().load(config)
        self.level: int | None = None

    @event(description="Paint the marker patch flat grey `level` from the next frame on")
    def mark(self, level: int) -> None:
        self.level = level

    def output(self, picture: np.ndarray, samples: int) -> Any:
        if self.level is not None:
            picture[PATCH] = self.level
        return super().output(picture, samples)


def patch_level(luma: np.ndarray) -> float:
    """Mean luma of the centre of `PATCH` in a received picture (edges blur in coding)."""
    rows, cols = PATCH
    return float(luma[rows.start + 8 : rows.stop - 8, cols.start + 8 : cols.stop - 8].mean())


class Server:
    """A running `reactor run` of a bench model: URL, pid, emit log."""

    def __init__(self, served: Served, model_dir: Path, emit_log: Path) -> None:
        self.served = served
        self.url = served.url
        self.pid = served.process.pid
        self.model_dir = model_dir
        self.emit_log = emit_log

    def health(self) -> dict[str, Any]:
        return get_health(self.url)

    def emits(self) -> dict[int, float]:
        return read_emits(self.emit_log)[0]


@contextlib.contextmanager
def serve(
    width: int,
    height: int,
    codec: str = "vp8",
    model: str = "BenchModel",
    args: Sequence[str] = (),
    host: str = "127.0.0.1",
    prefix: Sequence[str] = (),
    video_only: bool = False,
) -> Iterator[Server]:
    """Serve `model` (a class of serve.py or this module) at `width` x `height` in `codec`."""
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        model_dir, emit_log = write_model_dir(Path(tmp) / "model", width, height, video_only)
        # serve.py's model file imports from serve; ours must also see this module.
        (model_dir / "bench_model.py").write_text(
            f"import sys\nsys.path.insert(0, {str(BENCH)!r})\n"
            f"from common import {model}  # noqa: F401\n"
        )
        (model_dir / "reactor.yaml").write_text(
            f"model: bench_model:{model}\nname: bench\nconfig: config.yml\n"
        )
        argv = ("--video-codec", codec, *args)
        with reactor_run(model_dir, *argv, host=host, prefix=prefix) as served:
            yield Server(served, model_dir, emit_log)


def rss_mb(pid: int) -> float:
    """Resident set size of `pid` in MB (VmRSS, all threads)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def open_fds(pid: int) -> int:
    """Open file descriptors of `pid`."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def threads(pid: int) -> int:
    """Threads of `pid`."""
    return len(os.listdir(f"/proc/{pid}/task"))


def pct(values: Sequence[float], q: float) -> float | None:
    """The `q`-th percentile of `values`, rounded to 0.01 (None if empty)."""
    return round(float(np.percentile(values, q)), 2) if len(values) else None


def video_stats(health: dict[str, Any], track: str = "main_video") -> dict[str, Any]:
    """The hub's counters of one video track from a /health report."""
    return ((health.get("media") or {}).get("video") or {}).get(track) or {}


def write_result(name: str, document: dict[str, Any]) -> Path:
    """Write `bench/results/<name>.json` with the date and machine added."""
    document = {"date": time.strftime("%Y-%m-%d"), "machine": machine(), **document}
    path = RESULTS / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path


def table(rows: list[dict[str, Any]], columns: Sequence[str]) -> str:
    """A plain-text table of `rows` (dicts) with `columns` as the header."""
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.rjust(w) for c, w in zip(columns, widths, strict=True))]
    lines.append("-" * len(lines[0]))
    lines += ["  ".join(v.rjust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)
