"""The seed's playback model, rendered by `reactor render`: A/V sync, pause and play."""

import json
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from reactor_runtime.config import load_project
from reactor_runtime.render import render

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "playback"
RATE, FPS, WIDTH, HEIGHT = 48_000, 30, 320, 180
EVENTS = (0.4, 1.4, 2.4, 3.4)
ONE_FRAME = 1 / FPS


def make_flash_click_mp4(path: Path, seconds: float, events: tuple[float, ...]) -> None:
    """A grey picture with a white frame at each event, a 2 kHz burst at the same times."""
    flashes = {round(t * FPS) for t in events}
    audio = np.zeros(round(seconds * RATE), np.int16)
    burst = (0.8 * 32767 * np.sin(2 * np.pi * 2000 * np.arange(480) / RATE)).astype(np.int16)
    for t in events:
        audio[round(t * RATE) : round(t * RATE) + burst.size] = burst
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=FPS, options={"preset": "ultrafast"})
        video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        sound = out.add_stream("aac", rate=RATE, layout="mono")
        for i in range(round(seconds * FPS)):
            level = 255 if i in flashes else 40 + (i * 3) % 60
            image = np.full((HEIGHT, WIDTH, 3), level, np.uint8)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, FPS)
            out.mux(video.encode(frame))
        for start in range(0, audio.size, 1024):
            chunk = av.AudioFrame.from_ndarray(
                audio[np.newaxis, start : start + 1024], format="s16", layout="mono"
            )
            chunk.sample_rate, chunk.pts, chunk.time_base = RATE, start, Fraction(1, RATE)
            out.mux(sound.encode(chunk))
        out.mux(video.encode(None))
        out.mux(sound.encode(None))


def flash_onsets(path: Path) -> list[float]:
    with av.open(str(path)) as container:
        levels = [(f.time, f.to_ndarray(format="gray").mean()) for f in container.decode(video=0)]
    return [t for (t, m), (_, before) in zip(levels[1:], levels, strict=False) if m > 200 >= before]


def click_onsets(path: Path) -> list[float]:
    with av.open(str(path)) as container:
        start = container.streams.audio[0].start_time or 0
        samples = np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(audio=0)])
    loud = np.flatnonzero(np.abs(samples) > 0.4)
    onsets = [i for k, i in enumerate(loud) if k == 0 or i - loud[k - 1] > RATE // 10]
    return [start / RATE + i / RATE for i in onsets]


def static_spans(path: Path) -> list[float]:
    """Times of frames identical (up to coding noise) to the frame before."""
    with av.open(str(path)) as container:
        frames = [
            (f.time, f.to_ndarray(format="gray").astype(np.int16))
            for f in container.decode(video=0)
        ]
    return [
        t for (t, a), (_, b) in zip(frames[1:], frames, strict=False) if np.abs(a - b).mean() < 1
    ]


@pytest.fixture(scope="module")
def project_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The seed's model class, its config, and our own flash/click MP4."""
    root = tmp_path_factory.mktemp("playback")
    shutil.copy(EXAMPLE / "model.py", root / "model.py")
    (root / "reactor.yaml").write_text(
        "model: model:PlaybackModel\nname: sync\nconfig: config.yml\n"
    )
    (root / "config.yml").write_text("fps: 30\nframes_per_block: 3\nvideo_path: flashes.mp4\n")
    make_flash_click_mp4(root / "flashes.mp4", 4.0, EVENTS)
    return root


def reactor_render(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["reactor", "render", *args, "-q"], capture_output=True, text=True, timeout=60
    )


def test_rendered_playback_keeps_flashes_and_clicks_within_one_frame(project_dir, tmp_path):
    out = tmp_path / "out.mp4"

    done = reactor_render(str(project_dir), "-o", str(out), "--seconds", "3")

    assert done.returncode == 0, done.stderr
    flashes, clicks = flash_onsets(out), click_onsets(out)
    assert len(flashes) == len(clicks) == 3, (flashes, clicks)
    for flash, click in zip(flashes, clicks, strict=True):
        assert abs(flash - click) <= ONE_FRAME, (flashes, clicks)
    # The model starts on the first frame, so content time is output time.
    assert flashes == pytest.approx(EVENTS[:3], abs=ONE_FRAME)


def test_scripted_pause_and_play_reach_stdout_at_their_times(project_dir, tmp_path):
    out, script = tmp_path / "out.mp4", tmp_path / "script.yaml"
    script.write_text(
        "- {at: 1.0, event: pause, args: {}}\n- {at: 2.0, event: play, args: {}}\n"
        "- {at: 2.2, event: rewind}\n"
    )

    done = reactor_render(
        str(project_dir), "-o", str(out), "--seconds", "3", "--commands", str(script)
    )

    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    messages = [(line["type"], line["t"]) for line in lines if "type" in line]
    assert [kind for kind, _ in messages] == [
        "playback_started",
        "playback_paused",
        "playback_started",
    ]
    assert messages[0][1] == pytest.approx(0.0, abs=0.1)
    assert messages[1][1] == pytest.approx(1.0, abs=0.15)
    assert messages[2][1] == pytest.approx(2.0, abs=0.15)
    replies = {line["command"]: line for line in lines if "command" in line}
    assert replies["pause"]["reply"] is None and replies["play"]["reply"] is None
    assert replies["rewind"]["error"]["code"] == "invalid_command"
    # The picture holds while paused, and audio and video resume together.
    held = static_spans(out)
    assert len(held) >= 20 and 1.0 < held[0] < 1.6 and 2.0 < held[-1] < 2.6, held
    flashes, clicks = flash_onsets(out), click_onsets(out)
    assert len(flashes) == len(clicks) >= 2
    assert all(abs(f - c) <= ONE_FRAME for f, c in zip(flashes, clicks, strict=True))


async def test_shipped_example_plays_its_sample_from_the_start(tmp_path):
    out = tmp_path / "sample.mp4"

    result = await render(load_project(EXAMPLE), 1.0, output_path=out)

    assert result.video_frames == 30 and result.audio_samples == RATE
    assert [e["type"] for e in result.events] == ["playback_started"]
    assert flash_onsets(out) == pytest.approx([0.5], abs=ONE_FRAME)
    assert click_onsets(out) == pytest.approx([0.5], abs=ONE_FRAME)
