"""Per-frame metadata with the official Python SDK, both ways, in a private network.

`tests/e2e/models/frame_metadata` tags every frame it emits (`{"n": N}`) and reports
each tagged webcam frame it reads; `clients/py_sdk_metadata.py` pushes webcam frames
with `user_data` and `capture_time_us` and keeps what `on_frame` reports.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from client.served import reactor_run
from e2e.sdk_clients import CLIENTS_DIR, py_client_missing

from reactor_runtime.client import connect

MODEL = Path(__file__).resolve().parent / "models" / "frame_metadata"


def shade(n: int) -> int:
    """The gray level the model paints frame `n` (its `shade`)."""
    return 40 + n * 4 % 160


def run_metadata_client(netns, url: str) -> dict:
    argv = [sys.executable, str(CLIENTS_DIR / "py_sdk_metadata.py"), "--url", url]
    done = netns.run(argv, timeout=90, capture_output=True, text=True)
    lines = done.stdout.strip().splitlines()
    assert lines, f"no result line; stderr:\n{done.stderr[-3000:]}"
    result = json.loads(lines[-1])
    assert result["ok"], f"{result['error']}\n{done.stderr[-3000:]}"
    return result


def test_the_sdk_s_frame_tags_reach_the_model_and_the_model_s_reach_the_sdk(netns) -> None:
    if reason := py_client_missing():
        pytest.skip(reason)
    with reactor_run(MODEL, host=netns.address, prefix=netns.exec_prefix) as served:
        result = run_metadata_client(netns, served.url)
    tagged = [frame for frame in result["frames"] if frame[2]]
    assert len(tagged) >= 30, result["frames"][:5]
    numbers = [json.loads(text)["n"] for _, _, text, _ in tagged]
    # The model paints frame N gray at shade(N): each tag arrives on its own frame.
    levels = [frame[3] for frame in tagged]
    assert all(abs(level - shade(n)) <= 3 for n, level in zip(numbers, levels, strict=True)), tagged
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers), numbers
    ids, stamps = [f[0] for f in tagged], [f[1] for f in tagged]
    assert ids == sorted(ids) and ids[0] >= 1, ids
    # The capture time is the frame's presentation time: 1/30 s apart at 30 fps.
    spacing = (stamps[-1] - stamps[0]) / (numbers[-1] - numbers[0])
    assert 30_000 <= spacing <= 36_700, stamps
    seen = [m["data"] for m in result["messages"] if m.get("type") == "input_tagged"]
    assert len(seen) >= 30, (result["messages"][:5], result["frames"][:5])
    for message in seen:
        n = int(message["metadata"].removeprefix("tag-"))
        assert message["capture_time_us"] == 1_000_000 + n * 33_333


async def test_our_client_reads_each_frame_s_metadata_with_the_frame() -> None:
    with reactor_run(MODEL) as served:
        async with connect(served.url) as session:
            frames = []
            async for frame in session.video():
                if frame.metadata is not None:
                    frames.append(frame)
                if len(frames) == 15:
                    break
    for frame in frames:
        n = json.loads(frame.metadata)["n"]
        assert abs(round(float(frame.array.mean())) - shade(n)) <= 3, (n, frame.array.mean())
        assert frame.capture_time_us is not None
