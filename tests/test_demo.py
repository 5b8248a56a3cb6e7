"""The built-in demo model: cheap, colourful, audible, and steered by its commands."""

import itertools
import time
from pathlib import Path

import av
import numpy as np
import pytest

from reactor_runtime.config import load_project
from reactor_runtime.demo import COLORS, DemoModel, project
from reactor_runtime.render import render
from reactor_runtime.session import Session

RATE = 48_000
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "demo"


def pictures_at(path: Path) -> list[tuple[float, np.ndarray]]:
    with av.open(str(path)) as container:
        return [(f.time, f.to_ndarray(format="rgb24")) for f in container.decode(video=0)]


def audio_of(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(audio=0)])


def between(frames, start, end):
    return [p.astype(np.int16) for t, p in frames if start <= t < end]


def test_a_demo_frame_costs_well_under_5_ms():
    model = DemoModel()
    model.load({})
    model.next_picture(), model.next_tone()

    started = time.perf_counter()
    for _ in range(60):
        model.next_picture()
        model.next_tone()
    per_frame = (time.perf_counter() - started) / 60

    assert per_frame < 0.005


def test_the_demo_directory_and_the_builtin_project_load_the_demo_model():
    assert load_project(EXAMPLE).model_class is DemoModel
    assert project().model_class is DemoModel
    commands = Session(DemoModel).commands.commands
    assert set(commands) == {"set_color", "set_speed", "set_tone"}
    schema = commands["set_color"].capability()["schema"]["color"]
    assert schema["enum"] == list(COLORS) and schema["default"] == "orange"


async def test_the_demo_renders_a_moving_picture_and_a_tone_that_commands_change(tmp_path):
    out = tmp_path / "demo.mp4"
    script = [
        {"at": 0.5, "event": "set_speed", "args": {"speed": 0}},
        {"at": 1.0, "event": "set_color", "args": {"color": "blue"}},
        {"at": 1.5, "event": "set_tone", "args": {"frequency": 440, "mute": True}},
        {"at": 1.6, "event": "set_speed", "args": {"speed": 9}},
    ]

    result = await render(EXAMPLE, 2.0, script, out)

    statuses = [e["data"] for e in result.events if e.get("type") == "demo_status"]
    assert len(statuses) == 4
    assert statuses[-1] == {"color": "blue", "speed": 0, "frequency": 440, "mute": True}
    refused = [e for e in result.events if e.get("command") == "set_speed" and "error" in e]
    assert len(refused) == 1 and refused[0]["error"]["code"] == "invalid_command"

    frames = pictures_at(out)
    assert len(frames) == 60
    first = frames[0][1]
    assert first.mean() > 40 and first.std() > 30, "the picture is blank"
    moving = between(frames, 0.0, 0.4)
    assert all(np.abs(a - b).mean() > 2 for a, b in itertools.pairwise(moving))
    stopped = between(frames, 0.7, 0.95)
    assert all(np.abs(a - stopped[0]).mean() < 1 for a in stopped)
    recoloured = between(frames, 1.3, 2.0)
    assert all(np.abs(a - recoloured[0]).mean() < 1 for a in recoloured)
    changed = np.abs(recoloured[0] - stopped[0]).sum(axis=-1) > 60
    assert changed.sum() > 2000, "set_color did not change the disc"
    red, green, blue = recoloured[0][changed].mean(axis=0)
    assert blue > red + 100 and blue > green + 60

    audio = audio_of(out)
    tone = audio[int(0.1 * RATE) : int(1.4 * RATE)]
    assert np.sqrt(np.mean(tone**2)) > 0.1, "the tone is silent"
    spectrum = np.abs(np.fft.rfft(tone))
    assert np.fft.rfftfreq(tone.size, 1 / RATE)[spectrum.argmax()] == pytest.approx(440, abs=2)
    assert np.abs(audio[int(1.75 * RATE) : int(2.0 * RATE)]).max() < 0.01, "mute did not mute"
