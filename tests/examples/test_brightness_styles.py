"""The brightness example in both styles: one script rendered, the same pictures out."""

import json
from pathlib import Path

import av
import numpy as np
import pytest

from reactor_runtime.cli import main as reactor

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SCRIPT = "- at: 1.0\n  event: set_brightness\n  args: {brightness: 2}\n"
BANDS = np.array([40, 80, 120, 160])


def decoded_means(path: Path) -> list[tuple[float, float]]:
    """(media seconds, mean luma) of every video frame of an MP4."""
    with av.open(str(path)) as container:
        return [
            (float(frame.time), float(frame.to_ndarray(format="gray").mean()))
            for frame in container.decode(video=0)
        ]


@pytest.mark.parametrize("style", ["brightness", "brightness_3x"])
def test_both_styles_render_the_scripted_brightness_change(style, tmp_path, capsys):
    script = tmp_path / "script.yaml"
    script.write_text(SCRIPT)
    out = tmp_path / "out.mp4"
    argv = ["render", str(EXAMPLES / style), "-o", str(out), "--seconds", "2", "-q"]
    assert reactor([*argv, "--commands", str(script)]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    answered = [e for e in events if e.get("command") == "set_brightness"]
    assert len(answered) == 1 and "error" not in answered[0], events
    means = decoded_means(out)
    assert len(means) >= 45
    before = [m for t, m in means if t < 0.9]
    after = [m for t, m in means if t > 1.3]
    # The test picture's bands, then the same bands doubled and clipped at white.
    assert abs(np.median(before) - BANDS.mean()) < 6, before
    assert abs(np.median(after) - np.clip(BANDS * 2, 0, 255).mean()) < 6, after
