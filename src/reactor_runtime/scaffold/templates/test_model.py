"""This model, rendered for a moment by `reactor render` with the scripted commands."""

import json
import subprocess
import sys
from pathlib import Path

import av
import yaml

HERE = Path(__file__).resolve().parent
SECONDS = 1.5


def test_the_model_renders_frames_and_answers_every_scripted_command(tmp_path):
    """`reactor render` runs the model offline, like a viewer would see it."""
    out = tmp_path / "out.mp4"
    command = [sys.executable, "-m", "reactor_runtime.cli", "render", str(HERE), "-q"]
    command += ["-o", str(out), "--seconds", str(SECONDS), "--commands", "commands.yaml"]
    done = subprocess.run(
        command, cwd=HERE, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    answered = [e for e in events if "command" in e]
    scripted = yaml.safe_load((HERE / "commands.yaml").read_text())
    assert [e["command"] for e in answered] == [c["event"] for c in scripted], events
    assert not [e for e in answered if "error" in e], answered
    with av.open(str(out)) as container:
        frames = sum(1 for _ in container.decode(video=0))
    assert frames >= 15 * SECONDS
